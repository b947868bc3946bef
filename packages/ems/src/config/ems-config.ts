import { chmodSync, existsSync, mkdirSync } from "node:fs";
import { ErrorCode, OutpostError } from "@outpost/protocol";
import { type DataKey, loadDataKey } from "./data-key.js";
import {
  checkIdentities,
  DEFAULT_IDENTITY,
  fieldOf,
  identitiesOf,
  identityKey,
  type IdentityView,
} from "./identity.js";
import { emsPaths, type EmsPaths } from "./paths.js";
import { PrecompiledConf } from "./precompiled-conf.js";
import { type EmsConfigData, INTERNAL_FIELDS, SECRET_FIELDS } from "./schema.js";
import { isEncrypted, openSecret, sealSecret } from "./secret-box.js";

/** What `config list` shows instead of an encrypted value. */
export const ENCRYPTED_PLACEHOLDER = "<encrypted>";

const KEY_CHECK_FIELD = "keyCheck";
const KEY_CHECK_VALUE = "outpost-ems data key check";

/** Options of {@link EmsConfig.open}. */
export interface OpenConfigOptions {
  /** Create the directory and file when missing. Default false (a missing file is OUTPOST_INVALID_CONFIG). */
  create?: boolean;
  /** The data key; default: found by {@link loadDataKey} when first needed. */
  dataKey?: DataKey;
  env?: NodeJS.ProcessEnv;
}

/**
 * The EMS configuration: `DIR/config.json` through `conf` (schema-checked, atomic writes, mode
 * 0600). Every secret field is AES-256-GCM ciphertext under the data key; secrets are decrypted
 * only on demand and never cached in a form that would print.
 */
export class EmsConfig {
  readonly paths: EmsPaths;
  private readonly conf: PrecompiledConf;
  #dataKey: DataKey | undefined;
  readonly #env: NodeJS.ProcessEnv;

  private constructor(paths: EmsPaths, conf: PrecompiledConf, options: OpenConfigOptions) {
    this.paths = paths;
    this.conf = conf;
    this.#dataKey = options.dataKey;
    this.#env = options.env ?? process.env;
  }

  /** Opens `DIR/config.json`. A schema violation or unreadable JSON is OUTPOST_INVALID_CONFIG. */
  static open(dir: string, options: OpenConfigOptions = {}): EmsConfig {
    const paths = emsPaths(dir);
    if (!options.create && !existsSync(paths.config)) {
      throw new OutpostError(
        ErrorCode.InvalidConfig,
        `no configuration at ${paths.config}: run "outpost-ems init --dir ${paths.dir} --bundle <bundle>" first`,
      );
    }
    if (options.create) mkdirSync(paths.dir, { recursive: true, mode: 0o700 });
    let conf: PrecompiledConf;
    try {
      // Checked against CONFIG_SCHEMA by the validator generated at build time (no ajv at start).
      conf = new PrecompiledConf({
        cwd: paths.dir,
        configName: "config",
        configFileMode: 0o600,
        watch: false,
        accessPropertiesByDotNotation: true,
      });
    } catch (cause) {
      throw new OutpostError(ErrorCode.InvalidConfig, `${paths.config}: ${(cause as Error).message}`, { cause });
    }
    if (existsSync(paths.config)) chmodSync(paths.config, 0o600);
    return new EmsConfig(paths, conf, options);
  }

  /** The whole file as stored (secrets as ciphertext). */
  get data(): EmsConfigData {
    return this.conf.store;
  }

  /** Where the data key came from. Loads it. */
  get dataKeySource(): DataKey["source"] {
    return this.dataKey().source;
  }

  /** Every device identity, the default first. */
  identities(): IdentityView[] {
    return identitiesOf(this.conf.store, this.paths);
  }

  /** Whether `key` is a secret field (always encrypted) or holds an encrypted value. */
  isSecret(key: string): boolean {
    return isSecretField(key) || isEncrypted(this.conf.get(key as never));
  }

  /** A stored value; secrets come back as {@link ENCRYPTED_PLACEHOLDER} unless `reveal`. */
  get(key: string, options: { reveal?: boolean } = {}): unknown {
    const v = this.conf.get(key as never) as unknown;
    if (isEncrypted(v)) return options.reveal ? this.secret(key) : ENCRYPTED_PLACEHOLDER;
    return v;
  }

  /** The plaintext of a secret field (decrypted now), or undefined when unset. */
  secret(key: string): string | undefined {
    const v = this.conf.get(key as never) as unknown;
    if (v === undefined) return undefined;
    if (typeof v !== "string") throw new OutpostError(ErrorCode.InvalidConfig, `config field ${key} is not a string`);
    if (!isEncrypted(v)) return v;
    this.checkKey();
    return openSecret(this.dataKey().key, key, v);
  }

  /**
   * Sets a field. Secret fields (and any field with `secret`) are stored encrypted. The value is
   * checked against the schema first: a wrong type or unknown field is OUTPOST_INVALID_CONFIG.
   */
  set(key: string, value: unknown, options: { secret?: boolean } = {}): void {
    if (INTERNAL_FIELDS.includes(key)) throw new OutpostError(ErrorCode.InvalidConfig, `${key} is set by outpost-ems`);
    const secret = options.secret === true || isSecretField(key);
    if (secret && typeof value !== "string") {
      throw new OutpostError(ErrorCode.InvalidConfig, `config field ${key}: a secret must be a string`);
    }
    const stored = secret ? this.seal(key, value as string) : value;
    this.checkNext((next) => setPath(next, key, stored));
    this.write(() => this.conf.set(key as never, stored as never), key);
  }

  /** Sets several fields in one write. */
  setMany(values: Record<string, unknown>): void {
    const next = structuredClone(this.conf.store) as unknown as Record<string, unknown>;
    for (const [key, value] of Object.entries(values)) {
      if (value === undefined) continue;
      const stored = isSecretField(key) ? this.seal(key, String(value)) : value;
      setPath(next, key, stored);
    }
    checkIdentities(next as unknown as EmsConfigData);
    this.write(() => {
      this.conf.store = next as unknown as EmsConfigData;
    });
  }

  /** Removes a field. */
  unset(key: string): void {
    if (INTERNAL_FIELDS.includes(key)) throw new OutpostError(ErrorCode.InvalidConfig, `${key} is set by outpost-ems`);
    this.write(() => this.conf.delete(key as never), key);
  }

  /** Removes a further identity's fields (its queue and audit log stay on disk). */
  removeIdentity(name: string): void {
    if (name === DEFAULT_IDENTITY) {
      throw new OutpostError(ErrorCode.InvalidConfig, "the default identity cannot be removed");
    }
    if (this.conf.store.identities?.[name] === undefined) {
      throw new OutpostError(ErrorCode.InvalidConfig, `no identity ${JSON.stringify(name)}`);
    }
    this.write(() => this.conf.delete(`identities.${name}` as never));
  }

  /** Every leaf field as `key = value`, secrets as {@link ENCRYPTED_PLACEHOLDER}; internal fields left out. */
  list(): Array<[string, unknown]> {
    const out: Array<[string, unknown]> = [];
    const walk = (prefix: string, v: unknown): void => {
      if (v !== null && typeof v === "object" && !Array.isArray(v)) {
        for (const [k, child] of Object.entries(v)) walk(prefix ? `${prefix}.${k}` : k, child);
        return;
      }
      if (INTERNAL_FIELDS.includes(prefix)) return;
      out.push([prefix, isEncrypted(v) ? ENCRYPTED_PLACEHOLDER : v]);
    };
    walk("", this.conf.store);
    return out;
  }

  /** Encrypts every secret field still in plaintext (written by hand). Returns the fields it encrypted. */
  encryptPlaintextSecrets(): string[] {
    const fixed: string[] = [];
    const keys = this.identities().flatMap((i) =>
      SECRET_FIELDS.filter((f) => i.name === DEFAULT_IDENTITY || f !== "local.token").map((f) =>
        identityKey(i.name, f),
      ),
    );
    for (const key of keys) {
      const v = this.conf.get(key as never) as unknown;
      if (typeof v === "string" && !isEncrypted(v)) fixed.push(key);
    }
    if (fixed.length > 0) this.setMany(Object.fromEntries(fixed.map((k) => [k, this.conf.get(k as never)])));
    return fixed;
  }

  /**
   * Checks the data key against the stored key check, so a wrong key is reported as such rather
   * than as a changed field. Writes the check on first use.
   */
  checkKey(): void {
    const check = this.conf.get(KEY_CHECK_FIELD) as string | undefined;
    const key = this.dataKey();
    if (check === undefined) {
      this.conf.set(KEY_CHECK_FIELD, sealSecret(key.key, KEY_CHECK_FIELD, KEY_CHECK_VALUE));
      return;
    }
    let ok = false;
    try {
      ok = openSecret(key.key, KEY_CHECK_FIELD, check) === KEY_CHECK_VALUE;
    } catch {
      ok = false;
    }
    if (!ok) {
      throw new OutpostError(
        ErrorCode.InvalidConfig,
        `wrong data key (from ${describeSource(key.source)}): it does not decrypt ${this.paths.config}`,
      );
    }
  }

  /** Refuses a change that would leave a Thing claimed twice (see checkIdentities). */
  private checkNext(change: (next: Record<string, unknown>) => void): void {
    const next = structuredClone(this.conf.store) as unknown as Record<string, unknown>;
    change(next);
    checkIdentities(next as unknown as EmsConfigData);
  }

  private seal(key: string, value: string): string {
    this.checkKey();
    return sealSecret(this.dataKey().key, key, value);
  }

  private dataKey(): DataKey {
    this.#dataKey ??= loadDataKey(this.paths.dir, this.#env);
    return this.#dataKey;
  }

  private write(op: () => void, key?: string): void {
    try {
      op();
    } catch (cause) {
      if (cause instanceof OutpostError) throw cause;
      const where = key === undefined ? "" : ` (${key})`;
      throw new OutpostError(ErrorCode.InvalidConfig, `invalid configuration${where}: ${(cause as Error).message}`, {
        cause,
      });
    }
  }
}

/** Whether `key` is always stored encrypted: a secret field, of the default identity or of another. */
export function isSecretField(key: string): boolean {
  if (SECRET_FIELDS.includes(key)) return true;
  return key.startsWith("identities.") && fieldOf(key) !== "local.token" && SECRET_FIELDS.includes(fieldOf(key));
}

function describeSource(source: DataKey["source"]): string {
  if (source === "env") return "OUTPOST_EMS_DATA_KEY";
  if (source === "credentials") return "the systemd credential data.key";
  return "the data.key file";
}

function setPath(obj: Record<string, unknown>, key: string, value: unknown): void {
  const parts = key.split(".");
  let cur = obj;
  for (const p of parts.slice(0, -1)) {
    if (cur[p] === null || typeof cur[p] !== "object") cur[p] = {};
    cur = cur[p] as Record<string, unknown>;
  }
  cur[parts[parts.length - 1]!] = value;
}
