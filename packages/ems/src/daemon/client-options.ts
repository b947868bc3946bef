import { ErrorCode, OutpostError } from "@outpost/protocol";
import type { EdgeClientOptions, TlsOptions } from "@outpost/sdk";
import type { EmsConfig } from "../config/ems-config.js";
import type { IdentityView } from "../config/identity.js";

/**
 * The SDK client options of one identity (default: the default identity), secrets decrypted in
 * memory only.
 */
export function clientOptionsFrom(
  config: EmsConfig,
  identity: IdentityView = config.identities()[0]!,
): Pick<EdgeClientOptions, "url" | "fallbackUrls" | "appKey" | "tls" | "proxy"> {
  const d = identity.data;
  const key = (field: string): string => `${identity.prefix}${field}`;
  const secret = (field: string): string | undefined => config.secret(key(field));
  const need = (v: string | undefined, field: string): string => {
    if (v === undefined || v === "") {
      throw new OutpostError(
        ErrorCode.InvalidConfig,
        `${key(field)} is not set: run "outpost-ems config set ${key(field)} ..."`,
      );
    }
    return v;
  };
  const tls: TlsOptions = {
    ca: need(d.tls.ca, "tls.ca"),
    ...(d.tls.cert !== undefined && { cert: d.tls.cert }),
    ...(d.tls.key !== undefined && { key: secret("tls.key")! }),
    ...(d.tls.passphrase !== undefined && { passphrase: secret("tls.passphrase")! }),
    ...(d.server.servername !== undefined && { servername: d.server.servername }),
    ...(d.server.insecureSkipVerify === true && { insecureSkipVerify: true }),
  };
  return {
    url: need(d.server.url, "server.url"),
    ...(d.server.fallbackUrls && { fallbackUrls: d.server.fallbackUrls }),
    appKey: need(secret("appKey"), "appKey"),
    tls,
    ...(d.proxy.url !== undefined && {
      proxy: {
        url: d.proxy.url,
        ...(d.proxy.username !== undefined && { username: d.proxy.username }),
        ...(d.proxy.password !== undefined && { password: secret("proxy.password")! }),
      },
    }),
  };
}
