import { pino } from "pino";
import pretty from "pino-pretty";

/** Field names whose values are secrets: they are replaced by "[redacted]" wherever they appear. */
export const REDACTED_FIELDS: readonly string[] = [
  "appKey",
  "token",
  "authorization",
  "key",
  "keyPem",
  "passphrase",
  "secret",
  "password",
  "cookie",
  "csrfToken",
];

/** Redaction paths for pino: the secret fields at the top level and up to two levels deep. */
export const REDACT_PATHS: readonly string[] = REDACTED_FIELDS.flatMap((f) => [f, `*.${f}`, `*.*.${f}`]);

/** How log lines are written: one JSON object per line, or readable text for a terminal. */
export type LogFormat = "json" | "pretty";

/** The accepted log formats. */
export const LOG_FORMATS: readonly LogFormat[] = ["json", "pretty"];

/** The accepted log levels, most verbose first. */
export const LOG_LEVELS: readonly pino.LevelWithSilent[] = [
  "trace",
  "debug",
  "info",
  "warn",
  "error",
  "fatal",
  "silent",
];

/**
 * Fields of access-log lines. The pretty format leaves them out because its message already says
 * all of them; the JSON format keeps them for tools.
 */
export const ACCESS_LOG_FIELDS: readonly string[] = ["reqId", "method", "route", "status", "durationMs", "operator"];

/** Options for {@link createLogger}. */
export interface LoggerOptions {
  /** Minimum level written. Default "info". */
  level?: pino.LevelWithSilent;
  /** Logger name, written as `name` on every line. Default "outpost-server". */
  name?: string;
  /** Where lines go. Default: standard output. */
  destination?: pino.DestinationStream;
  /** "json" (default) or "pretty": `time level message` lines with the other fields indented below. */
  format?: LogFormat;
  /** Pretty format only: colour the level. Default: standard output is a terminal and NO_COLOR is unset. */
  color?: boolean;
}

/** "pretty" when `stream` is a terminal, "json" otherwise (a pipe, a file, a log collector). */
export function defaultLogFormat(stream: { isTTY?: boolean } = process.stdout): LogFormat {
  return stream.isTTY === true ? "pretty" : "json";
}

/** A pino logger that never writes application keys, tokens, authorization headers or passphrases. */
export function createLogger(options: LoggerOptions = {}): pino.Logger {
  const config: pino.LoggerOptions = {
    level: options.level ?? "info",
    name: options.name ?? "outpost-server",
    redact: { paths: [...REDACT_PATHS], censor: "[redacted]" },
  };
  if (options.format === "pretty") {
    const color = options.color ?? (process.stdout.isTTY === true && !process.env.NO_COLOR);
    const stream = pretty({
      colorize: color,
      sync: true,
      translateTime: "SYS:yyyy-mm-dd HH:MM:ss.l",
      ignore: ["pid", "hostname", "name", ...ACCESS_LOG_FIELDS].join(","),
      destination: options.destination ?? 1,
    });
    return pino(config, stream);
  }
  return options.destination ? pino(config, options.destination) : pino(config);
}

/** A logger that writes nothing, used when the caller passes none. */
export function silentLogger(): pino.Logger {
  return pino({ level: "silent" });
}
