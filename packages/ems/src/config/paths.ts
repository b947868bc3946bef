import { homedir } from "node:os";
import { join, resolve } from "node:path";

/** The files of an EMS directory. */
export interface EmsPaths {
  dir: string;
  config: string;
  dataKey: string;
  runDir: string;
  socket: string;
  queueDir: string;
  audit: string;
  state: string;
}

/**
 * The EMS directory: `dir` when given, else `$OUTPOST_EMS_DIR`, else `/etc/outpost-ems` for root,
 * else `$XDG_CONFIG_HOME/outpost-ems` (default `~/.config/outpost-ems`).
 */
export function resolveDir(dir?: string, env: NodeJS.ProcessEnv = process.env): string {
  if (dir) return resolve(dir);
  if (env.OUTPOST_EMS_DIR) return resolve(env.OUTPOST_EMS_DIR);
  if (process.getuid?.() === 0) return "/etc/outpost-ems";
  return join(env.XDG_CONFIG_HOME || join(homedir(), ".config"), "outpost-ems");
}

/** The layout of an EMS directory. */
export function emsPaths(dir: string): EmsPaths {
  const d = resolve(dir);
  return {
    dir: d,
    config: join(d, "config.json"),
    dataKey: join(d, "data.key"),
    runDir: join(d, "run"),
    socket: join(d, "run", "local.sock"),
    queueDir: join(d, "queue"),
    audit: join(d, "audit.log"),
    state: join(d, "run", "status.json"),
  };
}
