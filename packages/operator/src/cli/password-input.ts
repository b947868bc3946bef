import { readFileSync } from "node:fs";
import { usageError } from "./context.js";

/**
 * The password for `outpost login`: the first line of `--password-file` ("-": standard input);
 * without it, a prompt that does not echo when standard input is a terminal, else the first line
 * of standard input. The password is never taken on the command line (ps, shell history).
 */
export async function readPassword(file: string | undefined, prompt: string): Promise<string> {
  if (file !== undefined) return firstLine(readSource(file), file);
  if (process.stdin.isTTY) return promptHidden(prompt);
  return firstLine(readSource("-"), "standard input");
}

function readSource(file: string): string {
  try {
    return readFileSync(file === "-" ? 0 : file, "utf8");
  } catch (err) {
    throw usageError(`cannot read the password file ${file}: ${(err as Error).message}`, err);
  }
}

function firstLine(text: string, where: string): string {
  const line = text.split(/\r?\n/)[0] ?? "";
  if (line.length === 0) throw usageError(`no password in ${where}`);
  return line;
}

/** Reads one line from the terminal in raw mode, echoing nothing. Ctrl-C or Ctrl-D cancels. */
function promptHidden(prompt: string): Promise<string> {
  const stdin = process.stdin;
  // Echo goes off before the prompt shows: a password typed ahead or pasted the moment the prompt
  // appears would otherwise be echoed by the terminal.
  stdin.setRawMode(true);
  process.stderr.write(prompt);
  return new Promise((resolve, reject) => {
    let value = "";
    const finish = (err?: Error) => {
      stdin.off("data", onData);
      stdin.setRawMode(false);
      stdin.pause();
      process.stderr.write("\n");
      if (err) reject(err);
      else resolve(value);
    };
    const onData = (chunk: Buffer) => {
      for (const ch of chunk.toString("utf8")) {
        if (ch === "\r" || ch === "\n") {
          return finish(value.length > 0 ? undefined : usageError("no password given"));
        }
        if (ch === "\u0003" || ch === "\u0004") return finish(usageError("login cancelled"));
        if (ch === "\u007f" || ch === "\b") value = [...value].slice(0, -1).join("");
        else if (ch >= " ") value += ch;
      }
    };
    stdin.resume();
    stdin.on("data", onData);
  });
}
