import type { TokenScope } from "../registry/credentials-sql.js";
import { DEVICE_PERMISSIONS, type Permission } from "../registry/types.js";

/** What a request acts on, for the scope check. */
export type ScopeTarget =
  /** One Thing or one device (a device permission targets a device id). */
  | { permission: Permission; name: string }
  /** No single target: the scope must allow one of these permissions somewhere (lists of transfers). */
  | { anyOf: Permission[] }
  /** Nothing a scope narrows (whoami, logout, lists the route filters itself). */
  | "free";

/**
 * Whether a token's scope allows `permission` on Thing (or device) `name`. No scope allows
 * everything: the operator's own permissions still decide. A scope never grants: the registry's
 * decision is asked as well.
 */
export function inScope(scope: TokenScope | null | undefined, permission: Permission, name: string): boolean {
  if (!scope) return true;
  if (scope.permissions && !scope.permissions.includes(permission)) return false;
  const names = DEVICE_PERMISSIONS.includes(permission) ? scope.devices : scope.things;
  return names === undefined || names.includes(name);
}

/** Whether the scope allows a request with this target. */
export function allows(scope: TokenScope | null | undefined, target: ScopeTarget | undefined): boolean {
  if (!scope) return true;
  // A route the scope table does not know is refused to a scoped token: a new route stays closed
  // to narrowed tokens until it says what it acts on.
  if (target === undefined) return false;
  if (target === "free") return true;
  if ("anyOf" in target) return target.anyOf.some((p) => !scope.permissions || scope.permissions.includes(p));
  return inScope(scope, target.permission, target.name);
}
