import { resolve } from "node:path";
import type { LdapOptions } from "../auth/ldap.js";
import { readInputFile, readPassphraseFile } from "../cli/util.js";
import type { LdapConfig } from "./login-config.js";

/** The LdapOptions of config.json `login.ldap`, with its files read (paths relative to the data directory). */
export function ldapOptionsFromConfig(config: LdapConfig, dataDir: string): LdapOptions {
  const { caFile, bindPasswordFile, createOperators: _unused, ...rest } = config;
  const password = bindPasswordFile === undefined ? undefined : readPassphraseFile(resolve(dataDir, bindPasswordFile));
  return {
    ...rest,
    ...(caFile !== undefined ? { caPem: readInputFile(resolve(dataDir, caFile), "LDAP CA file") } : {}),
    ...(password !== undefined ? { bindPassword: password } : {}),
  };
}
