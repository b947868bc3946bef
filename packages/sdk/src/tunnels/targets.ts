import { ErrorCode, OutpostError } from "@outpost/protocol";

/** Where an allow-listed target is. */
export interface TargetAddress {
  host: string;
  port: number;
}

/** Parses `host:port` (or `[v6]:port`) of target `name`; OUTPOST_INVALID_CONFIG when it is not one. */
export function parseTarget(name: string, address: string): TargetAddress {
  if (!/^[A-Za-z0-9][\w.-]{0,63}$/.test(name))
    throw new OutpostError(
      ErrorCode.InvalidConfig,
      `tunnel target name ${JSON.stringify(name)} must be 1-64 of A-Z a-z 0-9 . _ -`,
    );
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(address);
  const port = Number(m?.[3]);
  if (!m || port < 1 || port > 65535)
    throw new OutpostError(
      ErrorCode.InvalidConfig,
      `tunnel target ${name}: ${JSON.stringify(address)} is not host:port`,
    );
  return { host: m[1] ?? m[2]!, port };
}
