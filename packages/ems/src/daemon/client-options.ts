import { ErrorCode, OutpostError } from "@outpost/protocol";
import type { EdgeClientOptions, TlsOptions } from "@outpost/sdk";
import type { EmsConfig } from "../config/ems-config.js";

/** The SDK client options a configuration describes (secrets decrypted in memory only). */
export function clientOptionsFrom(
  config: EmsConfig,
): Pick<EdgeClientOptions, "url" | "fallbackUrls" | "appKey" | "tls" | "proxy"> {
  const d = config.data;
  const need = (v: string | undefined, key: string): string => {
    if (v === undefined || v === "") {
      throw new OutpostError(ErrorCode.InvalidConfig, `${key} is not set: run "outpost-ems config set ${key} ..."`);
    }
    return v;
  };
  const tls: TlsOptions = {
    ca: need(d.tls.ca, "tls.ca"),
    ...(d.tls.cert !== undefined && { cert: d.tls.cert }),
    ...(d.tls.key !== undefined && { key: config.secret("tls.key")! }),
    ...(d.tls.passphrase !== undefined && { passphrase: config.secret("tls.passphrase")! }),
    ...(d.server.servername !== undefined && { servername: d.server.servername }),
    ...(d.server.insecureSkipVerify === true && { insecureSkipVerify: true }),
  };
  return {
    url: need(d.server.url, "server.url"),
    ...(d.server.fallbackUrls && { fallbackUrls: d.server.fallbackUrls }),
    appKey: need(config.secret("appKey"), "appKey"),
    tls,
    ...(d.proxy.url !== undefined && {
      proxy: {
        url: d.proxy.url,
        ...(d.proxy.username !== undefined && { username: d.proxy.username }),
        ...(d.proxy.password !== undefined && { password: config.secret("proxy.password")! }),
      },
    }),
  };
}
