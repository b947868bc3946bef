/**
 * The logging seam. Any object with these four methods works (console, pino, winston). The SDK
 * never passes secrets (application keys, private keys, passphrases) to the logger.
 */
export interface Logger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

const noop = (): void => {};

/** Discards everything. Pass it as `logger` to silence the client entirely. */
export const silentLogger: Logger = Object.freeze({ debug: noop, info: noop, warn: noop, error: noop });

const toStderr =
  (level: string) =>
  (message: string, fields?: Record<string, unknown>): void => {
    console.error(`outpost-sdk ${level}: ${message}${fields ? ` ${JSON.stringify(fields, jsonSafe)}` : ""}`);
  };

function jsonSafe(_key: string, value: unknown): unknown {
  return typeof value === "bigint" ? value.toString() : value;
}

/**
 * The default logger: warnings and errors (a service handler that threw, TLS verification turned
 * off, a sender that stopped) go to stderr as one line each; debug and info are dropped.
 */
export const warnLogger: Logger = Object.freeze({
  debug: noop,
  info: noop,
  warn: toStderr("warn"),
  error: toStderr("error"),
});
