import { readFileSync } from "node:fs";
import { join } from "node:path";
import { createCertificateAuthority, issueDeviceCertificate } from "@outpost/server";

/** A device certificate for `deviceId` issued by a freshly made CA the server does not trust. */
export function otherCaDeviceCert(deviceId: string): { cert: string; key: string } {
  const ca = createCertificateAuthority({ commonName: "Some Other CA" });
  const issued = issueDeviceCertificate(ca, { deviceId });
  return { cert: issued.certPem, key: issued.keyPem };
}

/** A device certificate from the server's own CA whose validity ended yesterday. */
export function expiredDeviceCert(dataDir: string, deviceId: string): { cert: string; key: string } {
  const ca = {
    certPem: readFileSync(join(dataDir, "ca", "ca.pem"), "utf8"),
    keyPem: readFileSync(join(dataDir, "ca", "ca.key"), "utf8"),
  };
  const day = 24 * 60 * 60 * 1000;
  const issued = issueDeviceCertificate(ca, {
    deviceId,
    notBefore: new Date(Date.now() - 30 * day),
    notAfter: new Date(Date.now() - day),
  });
  return { cert: issued.certPem, key: issued.keyPem };
}
