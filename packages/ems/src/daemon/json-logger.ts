import { isoTime } from "@outpost/protocol";
import type { Logger } from "@outpost/sdk";

type Level = "debug" | "info" | "warn" | "error";
const ORDER: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

/** One JSON object per line: `{"time","level","msg",...fields}`. Errors become `{code,message}`; never a stack of secrets. */
export function jsonLogger(write: (line: string) => void, minLevel: Level = "info"): Logger {
  const log =
    (level: Level) =>
    (msg: string, fields?: Record<string, unknown>): void => {
      if (ORDER[level] < ORDER[minLevel]) return;
      write(`${JSON.stringify({ time: isoTime(), level, msg, ...fields }, replacer)}\n`);
    };
  return { debug: log("debug"), info: log("info"), warn: log("warn"), error: log("error") };
}

function replacer(_key: string, value: unknown): unknown {
  if (typeof value === "bigint") return value.toString();
  if (value instanceof Error) {
    const code = (value as { code?: unknown }).code;
    return { ...(code !== undefined && { code }), message: value.message };
  }
  return value;
}
