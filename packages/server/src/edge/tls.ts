import type { TlsOptions } from "node:tls";

/**
 * Cipher suites the edge endpoint accepts. TLS 1.3 suites are all AEAD and forward secret; for
 * TLS 1.2 only ECDHE key exchange with AES-GCM or ChaCha20-Poly1305 is allowed.
 */
export const EDGE_CIPHERS = [
  "TLS_AES_256_GCM_SHA384",
  "TLS_CHACHA20_POLY1305_SHA256",
  "TLS_AES_128_GCM_SHA256",
  "ECDHE-ECDSA-AES256-GCM-SHA384",
  "ECDHE-RSA-AES256-GCM-SHA384",
  "ECDHE-ECDSA-CHACHA20-POLY1305",
  "ECDHE-RSA-CHACHA20-POLY1305",
  "ECDHE-ECDSA-AES128-GCM-SHA256",
  "ECDHE-RSA-AES128-GCM-SHA256",
].join(":");

/** Inputs for {@link edgeTlsOptions}. */
export interface EdgeTlsInput {
  certPem: string;
  keyPem: string;
  /** CA that signs device certificates; omitted for server-only TLS (the operator API). */
  clientCaPem?: string;
  /** Whether a valid client certificate is mandatory. Default "required". */
  clientCert?: "required" | "optional";
}

/** TLS server options: TLS 1.2 minimum, forward-secret ciphers, client certificates checked against the CA. */
export function edgeTlsOptions(input: EdgeTlsInput): TlsOptions {
  const base: TlsOptions = {
    cert: input.certPem,
    key: input.keyPem,
    minVersion: "TLSv1.2",
    ciphers: EDGE_CIPHERS,
    honorCipherOrder: true,
  };
  if (input.clientCaPem === undefined) return base;
  return {
    ...base,
    ca: input.clientCaPem,
    requestCert: true,
    rejectUnauthorized: (input.clientCert ?? "required") === "required",
  };
}
