import { pino } from "pino";

/** Field names whose values are secrets: they are replaced by "[redacted]" wherever they appear. */
export const REDACTED_FIELDS: readonly string[] = [
  "appKey",
  "token",
  "authorization",
  "key",
  "keyPem",
  "passphrase",
  "secret",
];

/** Redaction paths for pino: the secret fields at the top level and up to two levels deep. */
export const REDACT_PATHS: readonly string[] = REDACTED_FIELDS.flatMap((f) => [f, `*.${f}`, `*.*.${f}`]);

/** Options for {@link createLogger}. */
export interface LoggerOptions {
  /** Minimum level written. Default "info". */
  level?: pino.LevelWithSilent;
  /** Logger name, written as `name` on every line. Default "outpost-server". */
  name?: string;
  /** Where lines go. Default: standard output. */
  destination?: pino.DestinationStream;
}

/** A pino logger that never writes application keys, tokens, authorization headers or passphrases. */
export function createLogger(options: LoggerOptions = {}): pino.Logger {
  const config: pino.LoggerOptions = {
    level: options.level ?? "info",
    name: options.name ?? "outpost-server",
    redact: { paths: [...REDACT_PATHS], censor: "[redacted]" },
  };
  return options.destination ? pino(config, options.destination) : pino(config);
}

/** A logger that writes nothing, used when the caller passes none. */
export function silentLogger(): pino.Logger {
  return pino({ level: "silent" });
}
