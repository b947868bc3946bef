import { assertOperatorName } from "../registry/names.js";
import type { AsyncCredentialStore } from "../registry/async-types.js";
import { verifyNothing, verifyPassword } from "./passwords.js";

/** A username and password to check, and where they came from. */
export interface PasswordAttempt {
  username: string;
  password: string;
  /** Remote address of the login request. */
  source: string;
}

/** Why an authenticator refused; recorded in the audit log, never told to the client. */
export type AuthFailure =
  /** No such user here (the next authenticator is asked). */
  | "unknown-user"
  | "bad-password"
  /** The directory says the account is disabled (checked only after a good password). */
  | "disabled"
  /** The directory could not be reached or answered an error. */
  | "unavailable";

/** What an authenticator answers. It resolves, never rejects, for any attempt. */
export type AuthResult =
  | {
      ok: true;
      /** The Outpost operator name the user logs in as. */
      username: string;
      /** Outpost group names, from the directory's group mapping; empty for local users. */
      groups: string[];
    }
  | { ok: false; reason: AuthFailure; detail?: string };

/**
 * Checks a person's password. Implementations: {@link LocalAuthenticator} (scrypt hashes in the
 * registry) and `LdapAuthenticator` (auth/ldap.ts). Contract: `authenticate` resolves for every
 * input (a failure of the backing store is `unavailable`, never a rejection); an unknown user costs
 * about the same work as a wrong password; the password is never logged or kept.
 */
export interface Authenticator {
  /** Recorded in the audit log and on the issued token: "local", "ldap". */
  readonly name: string;
  authenticate(attempt: PasswordAttempt): Promise<AuthResult>;
  /** Releases connections; the authenticator is not used afterwards. */
  close?(): Promise<void>;
}

/** Operators with a password set by `outpost-server operator add --password-file` or `operator passwd`. */
export class LocalAuthenticator implements Authenticator {
  readonly name = "local";
  readonly #credentials: Pick<AsyncCredentialStore, "passwordHash">;

  constructor(credentials: Pick<AsyncCredentialStore, "passwordHash">) {
    this.#credentials = credentials;
  }

  async authenticate(attempt: PasswordAttempt): Promise<AuthResult> {
    let hash: string | undefined;
    try {
      assertOperatorName(attempt.username);
      hash = await this.#credentials.passwordHash(attempt.username);
    } catch (err) {
      if ((err as { code?: string }).code !== "OUTPOST_BAD_REQUEST") {
        await verifyNothing(attempt.password);
        return { ok: false, reason: "unavailable", detail: (err as Error).message };
      }
    }
    if (hash === undefined) {
      await verifyNothing(attempt.password);
      return { ok: false, reason: "unknown-user" };
    }
    if (!(await verifyPassword(attempt.password, hash))) return { ok: false, reason: "bad-password" };
    return { ok: true, username: attempt.username, groups: [] };
  }
}
