import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { ErrorCode, OutpostError } from "@outpost/protocol";

/** One saved server: its URL, the CA to trust and the operator token. */
export interface Profile {
  server: string;
  /** PEM of the CA that signed the server's certificate. */
  ca?: string;
  token: string;
  /** PEM of the CA that issues device certificates: tunnels verify the device against it. */
  deviceCa?: string;
  /** Set when the token came from a password login: `outpost logout` revokes it on the server. */
  login?: { user: string; tokenId: string; expiresAt: string };
}

interface ProfileFile {
  current?: string;
  profiles: Record<string, Profile>;
}

/**
 * The directory of the CLI's profiles: $OUTPOST_CONFIG_DIR, else $XDG_CONFIG_HOME/outpost, else
 * %APPDATA%\outpost on Windows, else ~/.config/outpost.
 */
export function configDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.OUTPOST_CONFIG_DIR) return env.OUTPOST_CONFIG_DIR;
  if (env.XDG_CONFIG_HOME) return join(env.XDG_CONFIG_HOME, "outpost");
  if (process.platform === "win32" && env.APPDATA) return join(env.APPDATA, "outpost");
  return join(homedir(), ".config", "outpost");
}

/** profiles.json in {@link configDir}; written with mode 0600 in a 0700 directory. */
export function profilePath(env: NodeJS.ProcessEnv = process.env): string {
  return join(configDir(env), "profiles.json");
}

function load(path: string): ProfileFile {
  if (!existsSync(path)) return { profiles: {} };
  try {
    const parsed = JSON.parse(readFileSync(path, "utf8")) as ProfileFile;
    if (typeof parsed.profiles !== "object" || parsed.profiles === null) throw new Error("no profiles");
    return parsed;
  } catch (err) {
    throw new OutpostError(ErrorCode.InvalidConfig, `profile file ${path} is not valid; remove it and log in again`, {
      cause: err,
    });
  }
}

function save(path: string, data: ProfileFile): void {
  const dir = join(path, "..");
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(data, null, 2)}\n`, { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, path);
}

/** Saves `profile` under `name` and makes it the current one. */
export function saveProfile(name: string, profile: Profile, path = profilePath()): void {
  const data = load(path);
  data.profiles[name] = profile;
  data.current = name;
  save(path, data);
}

/** Removes the profile; false when there was none. */
export function removeProfile(name: string, path = profilePath()): boolean {
  const data = load(path);
  if (!data.profiles[name]) return false;
  delete data.profiles[name];
  if (data.current === name) delete data.current;
  save(path, data);
  return true;
}

/** The named profile, or the current one when `name` is undefined. */
export function readProfile(
  name: string | undefined,
  path = profilePath(),
): { name: string; profile: Profile } | undefined {
  const data = load(path);
  const chosen = name ?? data.current ?? "default";
  const profile = data.profiles[chosen];
  return profile ? { name: chosen, profile } : undefined;
}
