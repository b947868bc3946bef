import { createPrivateKey } from "node:crypto";
import { readFileSync } from "node:fs";
import { ErrorCode, OutpostError } from "@outpost/protocol";

/**
 * Reads a CA key file and checks that it can be used with `passphrase`, so that a missing or wrong
 * passphrase or a damaged file is reported with the file's name and the flag that fixes it
 * (OUTPOST_TLS; an unreadable file is OUTPOST_INVALID_CONFIG) before anything is signed or written.
 */
export function readCaKeyFile(path: string, passphrase: string | undefined): string {
  let pem: string;
  try {
    pem = readFileSync(path, "utf8");
  } catch (err) {
    throw new OutpostError(ErrorCode.InvalidConfig, `cannot read CA key ${path}: ${(err as Error).message}`, {
      cause: err,
    });
  }
  const encrypted = pem.includes("ENCRYPTED");
  if (encrypted && passphrase === undefined) {
    throw new OutpostError(
      ErrorCode.Tls,
      `CA key ${path} is encrypted: give its passphrase with --ca-passphrase-file <file>`,
    );
  }
  try {
    createPrivateKey(passphrase === undefined ? pem : { key: pem, passphrase });
  } catch (err) {
    throw new OutpostError(
      ErrorCode.Tls,
      encrypted
        ? `CA key ${path}: the passphrase from --ca-passphrase-file does not decrypt it`
        : `CA key ${path} is not a valid PEM private key`,
      { cause: err },
    );
  }
  return pem;
}
