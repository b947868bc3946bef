import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";

/** Writes a file readable only by its owner (0600), creating parent directories (0700). */
export function writeSecretFile(path: string, data: string): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  writeFileSync(path, data, { mode: 0o600 });
  // writeFileSync keeps the mode of an existing file; make sure it is private.
  chmodSync(path, 0o600);
}

/** Writes a file that is not secret (0644), creating parent directories (0700). */
export function writePublicFile(path: string, data: string): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  writeFileSync(path, data, { mode: 0o644 });
}
