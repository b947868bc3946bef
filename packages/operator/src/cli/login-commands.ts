import { readFileSync } from "node:fs";
import { Command } from "commander";
import { OperatorClient } from "../client.js";
import { clientFor, type GlobalOptions, readCa, timeoutOf, usageError } from "./context.js";
import { readPassword } from "./password-input.js";
import { profilePath, readProfile, removeProfile, saveProfile } from "./profiles.js";

function readToken(file: string): string {
  let text: string;
  try {
    text = readFileSync(file === "-" ? 0 : file, "utf8");
  } catch (err) {
    throw usageError(`cannot read the token file ${file}: ${(err as Error).message}`, err);
  }
  const token = text.trim();
  if (!/^opt_\S+$/.test(token)) throw usageError(`${file} does not hold an operator token (opt_...)`);
  return token;
}

function print(o: GlobalOptions, json: unknown, text: string): void {
  process.stdout.write(o.json ? `${JSON.stringify(json, null, 2)}\n` : `${text}\n`);
}

/** `login`, `logout`, `whoami`. */
export function loginCommands(): Command[] {
  const login = new Command("login")
    .description("log in with a token file, or with a username and password, and save it as a profile (file mode 0600)")
    .option("--token-file <file>", 'file holding an operator token ("-" reads standard input)')
    .option("--user <name>", "log in with this username and a password (POST /api/login)")
    .option(
      "--password-file <file>",
      'with --user: the password, first line of this file ("-": standard input); default: a prompt without echo',
    )
    .option("--ttl <seconds>", "with --user: lifetime of the token in seconds (default: the server's, 24 h)")
    .option(
      "--device-ca <file>",
      "CA that issues device certificates, pinned in the profile for tunnels (docs/tunnels.md)",
    )
    .addHelpText(
      "after",
      "\nNeeds --server (or OUTPOST_SERVER); --ca names the CA certificate that signed the server's." +
        " Neither token nor password is ever taken on the command line.\n\nExamples:\n" +
        "  $ outpost login --server https://127.0.0.1:8444 --ca ca.pem --token-file admin.token --profile lab\n" +
        "  $ outpost login --server https://127.0.0.1:8444 --ca ca.pem --user alice",
    )
    .action(async (_o: unknown, cmd: Command) => {
      const o = cmd.optsWithGlobals() as GlobalOptions & {
        tokenFile?: string;
        user?: string;
        passwordFile?: string;
        ttl?: string;
        deviceCa?: string;
      };
      const server = o.server ?? process.env.OUTPOST_SERVER;
      if (!server) throw usageError("login needs --server https://host:port");
      if ((o.tokenFile === undefined) === (o.user === undefined)) {
        throw usageError("login needs exactly one of --token-file and --user");
      }
      if (o.user === undefined && (o.passwordFile !== undefined || o.ttl !== undefined)) {
        throw usageError("--password-file and --ttl go with --user");
      }
      const ttl = o.ttl === undefined ? undefined : Number(o.ttl);
      if (ttl !== undefined && (!Number.isSafeInteger(ttl) || ttl <= 0)) {
        throw usageError("--ttl must be a positive number of seconds");
      }
      const caFile = o.ca ?? process.env.OUTPOST_CA;
      const ca = caFile !== undefined ? readCa(caFile) : undefined;
      const base = { url: server, timeoutMs: timeoutOf(o), ...(ca !== undefined ? { ca } : {}) };
      let token: string;
      let session: { user: string; tokenId: string; expiresAt: string } | undefined;
      if (o.user !== undefined) {
        const password = await readPassword(o.passwordFile, `password for ${o.user}: `);
        const granted = await new OperatorClient(base).login({
          username: o.user,
          password,
          kind: "token",
          ...(ttl !== undefined ? { ttlSeconds: ttl } : {}),
        });
        if (!granted.token) throw usageError("the server issued no token");
        token = granted.token;
        session = { user: o.user, tokenId: granted.tokenId, expiresAt: granted.expiresAt };
      } else {
        token = readToken(o.tokenFile!);
      }
      const client = new OperatorClient({ ...base, token });
      const me = await client.whoami();
      const name = o.profile ?? "default";
      const deviceCa = o.deviceCa !== undefined ? readCa(o.deviceCa) : undefined;
      saveProfile(name, {
        server: client.url,
        token,
        ...(ca !== undefined ? { ca } : {}),
        ...(deviceCa !== undefined ? { deviceCa } : {}),
        ...(session !== undefined ? { login: session } : {}),
      });
      const until = session ? ` until ${session.expiresAt}` : "";
      print(
        o,
        {
          profile: name,
          server: client.url,
          ...me,
          ...(session ? { expiresAt: session.expiresAt } : {}),
          file: profilePath(),
        },
        `logged in to ${client.url} as ${me.operator}${me.admin ? " (admin)" : ""}${until}; profile ${name} saved in ${profilePath()}`,
      );
    });

  const logout = new Command("logout")
    .description("forget a saved profile; a token from a password login is also revoked on the server")
    .addHelpText("after", "\nExample:\n  $ outpost logout --profile lab")
    .action(async (_o: unknown, cmd: Command) => {
      const o = cmd.optsWithGlobals() as GlobalOptions;
      const saved = readProfile(o.profile);
      const name = o.profile ?? saved?.name ?? "default";
      if (!saved) throw usageError(`no profile ${name}`);
      let revoked: boolean | undefined;
      if (saved.profile.login) {
        const client = new OperatorClient({
          url: saved.profile.server,
          token: saved.profile.token,
          timeoutMs: timeoutOf(o),
          ...(saved.profile.ca !== undefined ? { ca: saved.profile.ca } : {}),
        });
        try {
          revoked = (await client.logout()).revoked;
        } catch (err) {
          // An expired or already revoked token has nothing left to revoke; anything else is reported.
          if ((err as { code?: string }).code !== "OUTPOST_UNAUTHORIZED") throw err;
          revoked = false;
        }
      }
      removeProfile(name);
      const note = revoked === undefined ? "" : revoked ? "; its token was revoked" : "; its token had already ended";
      print(
        o,
        { profile: name, removed: true, ...(revoked !== undefined ? { revoked } : {}) },
        `logged out: profile ${name} removed${note}`,
      );
    });

  const whoami = new Command("whoami")
    .description("show the server and the operator the token belongs to")
    .addHelpText("after", "\nExample:\n  $ outpost whoami --json")
    .action(async (_o: unknown, cmd: Command) => {
      const o = cmd.optsWithGlobals() as GlobalOptions;
      const client = clientFor(o);
      const me = await client.whoami();
      const profile = process.env.OUTPOST_TOKEN ? undefined : readProfile(o.profile)?.name;
      print(
        o,
        { server: client.url, ...(profile ? { profile } : {}), ...me },
        `${me.operator}${me.admin ? " (admin)" : ""} on ${client.url}, token ${me.tokenId}${profile ? `, profile ${profile}` : ""}`,
      );
    });
  return [login, logout, whoami];
}
