import { ErrorCode, OutpostError } from "@outpost/protocol";
import { DEVICE_PERMISSIONS, PERMISSIONS, type Permission, type Principal } from "./types.js";

// A device id is a certificate common name and a file name in onboarding bundles: keep it plain.
const DEVICE_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
// Thing names may carry a namespace ("site/pump-1", "acme:pump"); "*" is reserved for grants.
const THING_NAME = /^[A-Za-z0-9][A-Za-z0-9._:/-]{0,255}$/;
// Property and event names: the Thing name characters, shorter; they are keys in every batch.
const MEMBER_NAME = /^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$/;
const OPERATOR_NAME = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$/;

/** Throws OUTPOST_BAD_REQUEST unless `id` is a valid device id. */
export function assertDeviceId(id: unknown): asserts id is string {
  if (typeof id !== "string" || !DEVICE_ID.test(id)) {
    throw new OutpostError(
      ErrorCode.BadRequest,
      `invalid device id ${JSON.stringify(id)}: use 1-128 of A-Z a-z 0-9 . _ - starting with a letter or digit`,
    );
  }
}

/** Throws OUTPOST_BAD_REQUEST unless `name` is a valid Thing name. */
export function assertThingName(name: unknown): asserts name is string {
  if (typeof name !== "string" || !THING_NAME.test(name)) {
    throw new OutpostError(
      ErrorCode.BadRequest,
      `invalid Thing name ${JSON.stringify(name)}: use 1-256 of A-Z a-z 0-9 . _ : / - starting with a letter or digit`,
    );
  }
}

/** Longest property or event name accepted, in characters. */
export const MAX_MEMBER_NAME_LENGTH = 128;

/** Whether `name` is a valid property or event name: 1-128 of A-Z a-z 0-9 . _ : / - starting with a letter or digit. */
export function isMemberName(name: string): boolean {
  return MEMBER_NAME.test(name);
}

/** Throws OUTPOST_BAD_REQUEST unless `name` is a valid operator name. */
export function assertOperatorName(name: unknown): asserts name is string {
  if (typeof name !== "string" || !OPERATOR_NAME.test(name)) {
    throw new OutpostError(
      ErrorCode.BadRequest,
      `invalid operator name ${JSON.stringify(name)}: use 1-128 of A-Z a-z 0-9 . _ @ - starting with a letter or digit`,
    );
  }
}

/** Whether `p` is one of the defined permissions. */
export function isPermission(p: unknown): p is Permission {
  return typeof p === "string" && [...PERMISSIONS, "event.subscribe", ...DEVICE_PERMISSIONS].includes(p as Permission);
}

/** Throws OUTPOST_BAD_REQUEST unless `p` is a defined permission. */
export function assertPermission(p: unknown): asserts p is Permission {
  if (!isPermission(p)) {
    throw new OutpostError(
      ErrorCode.BadRequest,
      `invalid permission ${JSON.stringify(p)}: use one of ${[...PERMISSIONS, "event.subscribe", ...DEVICE_PERMISSIONS].join(", ")}`,
    );
  }
}

/** Throws OUTPOST_BAD_REQUEST unless `p` names a device or an operator by a valid id. */
export function assertPrincipal(p: Principal): void {
  if (p?.kind === "device") assertDeviceId(p.id);
  else if (p?.kind === "operator") assertOperatorName(p.id);
  else throw new OutpostError(ErrorCode.BadRequest, `invalid principal kind ${JSON.stringify(p?.kind)}`);
}
