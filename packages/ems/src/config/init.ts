import { randomBytes, createPrivateKey, X509Certificate } from "node:crypto";
import { existsSync, readFileSync, renameSync, unlinkSync } from "node:fs";
import { join, resolve } from "node:path";
import { ErrorCode, OutpostError } from "@outpost/protocol";
import { createDataKeyFile, DATA_KEY_FILE } from "./data-key.js";
import { EmsConfig } from "./ems-config.js";
import { checkIdentityName, DEFAULT_IDENTITY, identityKey } from "./identity.js";
import { emsPaths } from "./paths.js";

/** Options of {@link initEmsDir}: a bundle, or the same by separate files (given ones override the bundle's). */
export interface InitOptions {
  dir: string;
  /** The `--out` directory of `outpost-server device add`. */
  bundle?: string;
  /** Server endpoint (`wss://host:port/edge`). Default: the bundle's. */
  url?: string;
  appKeyFile?: string;
  ca?: string;
  cert?: string;
  key?: string;
  passphraseFile?: string;
  /** `http://[user:password@]host:port`; credentials are stored apart, the password encrypted. */
  proxy?: string;
  /** Move an existing configuration aside (config.json.bak-TIME) instead of refusing. Default false. */
  force?: boolean;
  /**
   * Add the bundle as a further device identity of this name in an initialised directory (its
   * own connection, key, application key and Things) instead of as the default one. With `force`,
   * an identity of that name is replaced.
   */
  identity?: string;
  env?: NodeJS.ProcessEnv;
}

/** Result of {@link initEmsDir}. */
export interface InitResult {
  dir: string;
  /** "default", or the name given as `identity`. */
  identity: string;
  deviceId: string;
  url: string;
  things: string[];
  /** Whether a new data key file was written (false when the key comes from the environment or a credential). */
  dataKeyCreated: boolean;
}

interface Manifest {
  deviceId?: string;
  url?: string;
  things?: string[];
  files?: { ca?: string; cert?: string; key?: string | null; appKey?: string };
}

/**
 * Creates an EMS directory from an onboarding bundle and/or separate files: data key (0600),
 * config.json (0600) with the key, passphrase, application key and a new local API token
 * encrypted. Checks that the key opens and belongs to the certificate before writing anything.
 */
export function initEmsDir(o: InitOptions): InitResult {
  const env = o.env ?? process.env;
  const paths = emsPaths(o.dir);
  const identity = o.identity ?? DEFAULT_IDENTITY;
  if (identity !== DEFAULT_IDENTITY) checkIdentityName(identity);
  const bundle = o.bundle === undefined ? undefined : resolve(o.bundle);
  const manifest = bundle === undefined ? {} : readManifest(bundle);
  const inBundle = (name: string | null | undefined, fallback: string): string | undefined => {
    if (bundle === undefined || name === null) return undefined;
    const f = join(bundle, name ?? fallback);
    return existsSync(f) ? f : undefined;
  };
  const caFile = o.ca ?? inBundle(manifest.files?.ca, "ca.pem");
  const certFile = o.cert ?? inBundle(manifest.files?.cert, "device.pem");
  const keyFile = o.key ?? inBundle(manifest.files?.key, "device.key");
  const appKeyFile = o.appKeyFile ?? inBundle(manifest.files?.appKey, "app-key");
  const url = o.url ?? manifest.url;
  const need = (v: string | undefined, what: string): string => {
    if (v === undefined) throw new OutpostError(ErrorCode.InvalidConfig, `${what} is required (--bundle or ${what})`);
    return v;
  };
  const ca = readText(need(caFile, "--ca"), "CA certificate");
  const cert = readText(need(certFile, "--cert"), "device certificate");
  const pending = existsSync(paths.config) ? EmsConfig.open(paths.dir, { env }) : undefined;
  const field = (f: string): string => identityKey(identity, f);
  // A key made by `outpost-ems csr` waits in the configuration for its certificate.
  const key =
    keyFile === undefined && pending?.get(field("tls.key")) !== undefined
      ? pending.secret(field("tls.key"))!
      : readText(need(keyFile, "--key"), "device key");
  const appKey = readText(need(appKeyFile, "--app-key-file"), "application key").trim();
  const passphrase = o.passphraseFile === undefined ? undefined : readText(o.passphraseFile, "passphrase").trim();
  const deviceId = checkIdentity(cert, key, passphrase);
  if (manifest.deviceId !== undefined && manifest.deviceId !== deviceId) {
    throw new OutpostError(
      ErrorCode.InvalidConfig,
      `the certificate is for ${deviceId} but the bundle for ${manifest.deviceId}`,
    );
  }
  if (!/^opk_/.test(appKey))
    throw new OutpostError(ErrorCode.InvalidConfig, "the application key file holds no opk_ key");
  const serverUrl = need(url, "--url");
  try {
    new X509Certificate(ca);
  } catch (cause) {
    throw new OutpostError(ErrorCode.InvalidConfig, "the CA file is not a PEM certificate", { cause });
  }

  const proxy = o.proxy === undefined ? undefined : splitProxy(o.proxy);
  const things = manifest.things ?? [];
  if (identity !== DEFAULT_IDENTITY) {
    if (pending?.data.server.url === undefined) {
      throw new OutpostError(
        ErrorCode.InvalidConfig,
        `${paths.dir} has no default identity yet: run "outpost-ems init --dir ${paths.dir} --bundle <bundle>" first, then add identities with --identity`,
      );
    }
    if (pending.get(field("server.url")) !== undefined && !o.force) {
      throw new OutpostError(
        ErrorCode.Conflict,
        `identity ${identity} exists: use "outpost-ems config set --identity ${identity}" to change it, or --force to replace it`,
      );
    }
    const values: Record<string, unknown> = {
      [`identities.${identity}`]: {},
      [field("server.url")]: serverUrl,
      [field("device.id")]: deviceId,
      [field("tls.ca")]: ca,
      [field("tls.cert")]: cert,
      [field("tls.key")]: key,
      [field("tls.passphrase")]: passphrase,
      [field("appKey")]: appKey,
      [field("proxy.url")]: proxy?.url,
      [field("proxy.username")]: proxy?.username,
      [field("proxy.password")]: proxy?.password,
      [field("things")]: things.map((name) => ({ name })),
    };
    pending.setMany(values);
    return { dir: paths.dir, identity, deviceId, url: serverUrl, things, dataKeyCreated: false };
  }

  if (pending?.data.server.url !== undefined) {
    if (!o.force) {
      throw new OutpostError(
        ErrorCode.Conflict,
        `${paths.config} exists: use "outpost-ems config set" to change it, or --force to start over`,
      );
    }
    renameSync(paths.config, `${paths.config}.bak-${Date.now()}`);
  } else if (pending) {
    // Its one secret, the key, moves into the new file below.
    unlinkSync(paths.config);
  }
  const externalKey =
    Boolean(env.OUTPOST_EMS_DATA_KEY) ||
    Boolean(env.CREDENTIALS_DIRECTORY && existsSync(join(env.CREDENTIALS_DIRECTORY, DATA_KEY_FILE)));
  const config = EmsConfig.open(paths.dir, { create: true, env });
  let dataKeyCreated = false;
  if (!externalKey && !existsSync(paths.dataKey)) {
    createDataKeyFile(paths.dir);
    dataKeyCreated = true;
  }
  config.setMany({
    "server.url": serverUrl,
    "device.id": deviceId,
    "tls.ca": ca,
    "tls.cert": cert,
    "tls.key": key,
    "tls.passphrase": passphrase,
    appKey,
    "proxy.url": proxy?.url,
    "proxy.username": proxy?.username,
    "proxy.password": proxy?.password,
    things: things.map((name) => ({ name })),
    "local.token": `oplt_${randomBytes(24).toString("base64url")}`,
  });
  return { dir: paths.dir, identity, deviceId, url: serverUrl, things, dataKeyCreated };
}

function readManifest(bundle: string): Manifest {
  const f = join(bundle, "device.json");
  if (!existsSync(f)) {
    throw new OutpostError(
      ErrorCode.InvalidConfig,
      `${bundle} is not an onboarding bundle (no device.json): use the --out directory of "outpost-server device add"`,
    );
  }
  try {
    return JSON.parse(readFileSync(f, "utf8")) as Manifest;
  } catch (cause) {
    throw new OutpostError(ErrorCode.InvalidConfig, `${f} is not valid JSON`, { cause });
  }
}

function readText(file: string, what: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch (cause) {
    throw new OutpostError(
      ErrorCode.InvalidConfig,
      `cannot read the ${what} ${file}: ${(cause as NodeJS.ErrnoException).code}`,
      { cause },
    );
  }
}

/** The certificate's CN after checking that the key opens and belongs to it. */
function checkIdentity(certPem: string, keyPem: string, passphrase: string | undefined): string {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(certPem);
  } catch (cause) {
    throw new OutpostError(ErrorCode.InvalidConfig, "the device certificate is not a PEM certificate", { cause });
  }
  const encrypted = /ENCRYPTED/.test(keyPem);
  if (encrypted && passphrase === undefined) {
    throw new OutpostError(
      ErrorCode.InvalidConfig,
      "the device key is encrypted: give its passphrase with --passphrase-file",
    );
  }
  let key;
  try {
    key = createPrivateKey(passphrase === undefined ? { key: keyPem } : { key: keyPem, passphrase });
  } catch (cause) {
    throw new OutpostError(
      ErrorCode.InvalidConfig,
      encrypted ? "the device key cannot be decrypted: wrong passphrase" : "the device key is not a PEM private key",
      { cause },
    );
  }
  if (!cert.checkPrivateKey(key))
    throw new OutpostError(ErrorCode.InvalidConfig, "the device key does not belong to the certificate");
  const cn = /^CN=(.*)$/m.exec(cert.subject)?.[1];
  if (!cn) throw new OutpostError(ErrorCode.InvalidConfig, "the device certificate has no common name");
  return cn;
}

function splitProxy(raw: string): { url: string; username?: string; password?: string } {
  let u: URL;
  try {
    u = new URL(raw);
  } catch (cause) {
    throw new OutpostError(ErrorCode.InvalidConfig, `--proxy is not a URL: ${raw.replace(/\/\/[^@]*@/, "//***@")}`, {
      cause,
    });
  }
  const username = decodeURIComponent(u.username);
  const password = decodeURIComponent(u.password);
  u.username = "";
  u.password = "";
  return {
    url: u.toString().replace(/\/$/, ""),
    ...(username && { username }),
    ...(password && { password }),
  };
}
