/** Whether to colour output: a terminal, and NO_COLOR unset (https://no-color.org). */
export function useColor(stream: NodeJS.WriteStream, env: NodeJS.ProcessEnv = process.env): boolean {
  return stream.isTTY === true && !env.NO_COLOR;
}

/** Renders rows as an aligned text table with a header. */
export function table(
  headers: string[],
  rows: Array<Array<string | number | boolean | undefined>>,
  color = false,
): string {
  const cells = rows.map((r) => r.map((c) => (c === undefined ? "" : String(c))));
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((r) => (r[i] ?? "").length)));
  const line = (r: string[]) =>
    r
      .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!)))
      .join("  ")
      .trimEnd();
  const head = line(headers);
  return [color ? `\u001b[1m${head}\u001b[0m` : head, ...cells.map(line)].join("\n");
}

/** A JSON value as one short line for a table cell. */
export function cell(value: unknown): string {
  return typeof value === "string" ? value : JSON.stringify(value);
}

/** Milliseconds since epoch as ISO time, or "" for 0. */
export function time(ms: number | undefined): string {
  return ms ? new Date(ms).toISOString() : "";
}
