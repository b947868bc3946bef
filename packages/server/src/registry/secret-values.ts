import { ErrorCode, OutpostError } from "@outpost/protocol";
import type Database from "better-sqlite3";
import { isSealed, keyId, open, SecretValueError, seal } from "../secrets/secret-box.js";
import type { ThingTemplate } from "../templates/model.js";

/**
 * Gives the registry its data key. `storedKeyId` is the id of the key the registry's secret values
 * are encrypted with (undefined before the first one), so that a loader can finish or undo a key
 * rotation that was interrupted (secrets/rotate.ts).
 */
export type DataKeyLoader = (storedKeyId: string | undefined) => Buffer;

/** Which stored copy of a value: the kept value, or a desired value held for an offline device. */
export type ValueKind = "property" | "desired";

/** How often the secret-property map is checked for changes made by another process, in ms. */
const RECHECK_MS = 250;

const KEY_ID = "data_key_id";

/**
 * The secret property values of the registry (docs/security.md, Secret properties): a value of a
 * property its Thing's template marks `secret` is stored AES-256-GCM encrypted under the server's
 * data key, with `kind:thing/name` as associated data (a ciphertext moved to another property or
 * table does not decrypt). Which properties are secret is read from the templates and kept in
 * memory until a change (local, or by another process: SQLite's data_version, checked at most
 * every {@link RECHECK_MS}); on reload, any value of a secret property still stored in plaintext
 * (written in that window) is encrypted. Every method throws {@link SecretValueError}
 * (OUTPOST_INTEGRITY, naming the value) for a value that does not decrypt or a secret property
 * stored in plaintext, and OUTPOST_INVALID_CONFIG when there is no data key or it is not the key
 * the registry was encrypted with.
 */
export class SecretValues {
  readonly #db: Database.Database;
  readonly #loader: DataKeyLoader | undefined;
  readonly #dataVersion: Database.Statement;
  #key: Buffer | undefined;
  #keyId: string | undefined;
  #secrets: Map<string, Set<string>> | undefined;
  #seenVersion = -1;
  #checkedAt = 0;

  constructor(db: Database.Database, loader: DataKeyLoader | undefined) {
    this.#db = db;
    this.#loader = loader;
    this.#dataVersion = db.prepare("PRAGMA data_version").pluck();
  }

  /** Forgets which properties are secret (after a change of templates or Things). */
  changed(): void {
    this.#secrets = undefined;
  }

  /** The secret property names of `thing` (empty for a Thing made from no template). */
  secretsOf(thing: string): ReadonlySet<string> {
    return this.#map().get(thing) ?? EMPTY;
  }

  /** The text to store for a value given as JSON text: encrypted when the property is secret. */
  toStored(kind: ValueKind, thing: string, name: string, json: string): string {
    const secrets = this.#map().get(thing);
    if (secrets === undefined || !secrets.has(name)) return json;
    return seal(this.key(), `${kind}:${thing}/${name}`, json);
  }

  /** The JSON text of a stored value (decrypted when encrypted). */
  fromStored(kind: ValueKind, thing: string, name: string, stored: string): string {
    const field = `${kind}:${thing}/${name}`;
    if (isSealed(stored)) return open(this.key(), field, stored);
    if (this.#map().get(thing)?.has(name)) {
      throw new SecretValueError(field, `secret value ${field} is stored in plaintext: the registry was changed`);
    }
    return stored;
  }

  /**
   * Brings the stored values of one Thing's properties in line with which are secret now:
   * encrypts the values of secret properties kept in plaintext, decrypts the values of
   * properties no longer secret. Call inside the transaction that changed the template.
   */
  reconcile(thing: string, secrets: ReadonlySet<string>): void {
    for (const [kind, table] of TABLES) {
      const rows = this.#db.prepare(`SELECT name, value_json FROM ${table} WHERE thing = ?`).all(thing) as {
        name: string;
        value_json: string;
      }[];
      const update = this.#db.prepare(`UPDATE ${table} SET value_json = ? WHERE thing = ? AND name = ?`);
      for (const r of rows) {
        const field = `${kind}:${thing}/${r.name}`;
        const sealed = isSealed(r.value_json);
        if (secrets.has(r.name) && !sealed) update.run(seal(this.key(), field, r.value_json), thing, r.name);
        else if (!secrets.has(r.name) && sealed) update.run(open(this.key(), field, r.value_json), thing, r.name);
      }
    }
  }

  /**
   * Re-encrypts every encrypted value under `next` and records `next` as the registry's key, in
   * one transaction: all values move to the new key, or (on any failure) none. Returns how many
   * values were re-encrypted. Afterwards this object uses `next`.
   */
  rotate(next: Buffer): number {
    if (next.length !== 32) throw new OutpostError(ErrorCode.InvalidConfig, "a data key is 32 bytes");
    const current = this.key();
    const count = this.#db.transaction(() => {
      let n = 0;
      for (const [kind, table] of TABLES) {
        const rows = this.#db.prepare(`SELECT thing, name, value_json FROM ${table}`).all() as {
          thing: string;
          name: string;
          value_json: string;
        }[];
        const update = this.#db.prepare(`UPDATE ${table} SET value_json = ? WHERE thing = ? AND name = ?`);
        for (const r of rows) {
          if (!isSealed(r.value_json)) continue;
          const field = `${kind}:${r.thing}/${r.name}`;
          update.run(seal(next, field, open(current, field, r.value_json)), r.thing, r.name);
          n++;
        }
      }
      this.#db.prepare("INSERT OR REPLACE INTO registry_meta (key, value) VALUES (?, ?)").run(KEY_ID, keyId(next));
      return n;
    })();
    this.#key = next;
    this.#keyId = keyId(next);
    return count;
  }

  /** The id of the key the registry's values are encrypted with; undefined before the first. */
  storedKeyId(): string | undefined {
    const row = this.#db.prepare("SELECT value FROM registry_meta WHERE key = ?").get(KEY_ID) as
      { value: string } | undefined;
    return row?.value;
  }

  /**
   * The id of the data key in use (never the key): loaded, checked and recorded as
   * {@link SecretValues.key} does, so that it is loaded before anything beside it changes.
   */
  keyId(): string {
    this.key();
    return this.#keyId!;
  }

  /**
   * The data key, checked against the registry's key id at every use (one indexed read): a key
   * rotated by another process is loaded again rather than used stale.
   */
  key(): Buffer {
    const stored = this.storedKeyId();
    if (this.#key && (stored === undefined || stored === this.#keyId)) return this.#key;
    if (!this.#loader) {
      throw new OutpostError(
        ErrorCode.InvalidConfig,
        "the registry has no data key: secret property values cannot be stored or read (docs/security.md)",
      );
    }
    const key = this.#loader(stored);
    const id = keyId(key);
    if (stored === undefined) {
      this.#db.prepare("INSERT OR IGNORE INTO registry_meta (key, value) VALUES (?, ?)").run(KEY_ID, id);
    } else if (stored !== id) {
      throw new OutpostError(
        ErrorCode.InvalidConfig,
        `the data key (id ${id}) is not the key the registry's secret values are encrypted with (id ${stored})`,
      );
    }
    this.#key = key;
    this.#keyId = id;
    return key;
  }

  #map(): Map<string, Set<string>> {
    const now = Date.now();
    if (now - this.#checkedAt >= RECHECK_MS || now < this.#checkedAt) {
      this.#checkedAt = now;
      const v = this.#dataVersion.get() as number;
      if (v !== this.#seenVersion) {
        this.#seenVersion = v;
        this.#secrets = undefined;
      }
    }
    if (this.#secrets) return this.#secrets;
    const map = new Map<string, Set<string>>();
    const templates = new Map<string, Set<string>>();
    for (const t of this.#db.prepare("SELECT name, definition_json FROM thing_templates").all() as {
      name: string;
      definition_json: string;
    }[]) {
      const def = JSON.parse(t.definition_json) as Pick<ThingTemplate, "properties">;
      const names = new Set(def.properties.filter((p) => p.secret).map((p) => p.name));
      if (names.size > 0) templates.set(t.name, names);
    }
    for (const r of this.#db.prepare("SELECT name, template FROM things WHERE template IS NOT NULL").all() as {
      name: string;
      template: string;
    }[]) {
      const names = templates.get(r.template);
      if (names) map.set(r.name, names);
    }
    this.#secrets = map;
    // A value written by this process before it saw a template change made elsewhere.
    if (map.size > 0) this.#db.transaction(() => this.#sealPlaintext(map))();
    return map;
  }

  #sealPlaintext(map: Map<string, Set<string>>): void {
    for (const [kind, table] of TABLES) {
      const get = this.#db.prepare(`SELECT value_json FROM ${table} WHERE thing = ? AND name = ?`).pluck();
      const update = this.#db.prepare(`UPDATE ${table} SET value_json = ? WHERE thing = ? AND name = ?`);
      for (const [thing, names] of map) {
        for (const name of names) {
          const stored = get.get(thing, name) as string | undefined;
          if (stored === undefined || isSealed(stored)) continue;
          update.run(seal(this.key(), `${kind}:${thing}/${name}`, stored), thing, name);
        }
      }
    }
  }
}

const EMPTY: ReadonlySet<string> = new Set();
const TABLES: readonly [ValueKind, string][] = [
  ["property", "properties"],
  ["desired", "desired_properties"],
];
