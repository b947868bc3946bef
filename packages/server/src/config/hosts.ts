import { isIP } from "node:net";
import { ErrorCode, OutpostError } from "@outpost/protocol";

// RFC 1123 labels; a leading "*." is allowed for wildcard certificates.
const LABEL = /^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$/;

/** Whether `host` is an IP address or a DNS name a certificate can name (subjectAltName). */
export function isHostName(host: string): boolean {
  if (isIP(host) !== 0) return true;
  if (host.length === 0 || host.length > 253) return false;
  const labels = host.replace(/^\*\./, "").replace(/\.$/, "").split(".");
  return labels.every((l) => LABEL.test(l));
}

/** Throws OUTPOST_BAD_REQUEST naming `flag` and the first entry that is not a DNS name or IP address. */
export function assertHosts(hosts: string[], flag = "--host"): void {
  if (hosts.length === 0) throw new OutpostError(ErrorCode.BadRequest, `${flag}: at least one host is needed`);
  const bad = hosts.find((h) => typeof h !== "string" || !isHostName(h));
  if (bad !== undefined) {
    throw new OutpostError(
      ErrorCode.BadRequest,
      `${flag} ${JSON.stringify(bad)} is not a DNS name or an IP address (e.g. gw.example.com, 192.0.2.10, ::1)`,
    );
  }
}
