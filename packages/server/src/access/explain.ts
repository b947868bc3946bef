/**
 * What `access explain` (CLI and operator API) asks about, and how it is decided: a Thing (or for
 * the device permissions a device), a template itself, or the template-instance level of a
 * template (docs/access.md, Explain).
 */
import { ErrorCode, OutpostError } from "@outpost/protocol";
import {
  type AccessPermission,
  type AccessPrincipal,
  type AccessRequest,
  type Decision,
  type EntityKind,
  isDesignPermission,
  isDevicePermission,
} from "./model.js";

/**
 * The target of an explain: `thing` (a Thing by name, or a device id for the device
 * permissions), `template` (the template itself; a run-time permission there means its
 * template-instance level, as a template holds none itself) or `instances` (the template-instance
 * level: what every Thing made from the template inherits).
 */
export interface ExplainTarget {
  kind: "thing" | "template" | "instances";
  name: string;
}

/**
 * What explain decides with: the registry's access model, answering a {@link Decision} (`R`) or,
 * through the asynchronous registry, a Promise of one.
 */
export interface ExplainDecider<R = Decision> {
  decide(request: AccessRequest, entity?: EntityKind): R;
  decideInstances(request: AccessRequest): R;
}

/** Parses the CLI form: `template:NAME`, `instances:NAME`, else a Thing (or device id). */
export function parseExplainTarget(text: string): ExplainTarget {
  if (text.startsWith("instances:") && text.length > 10) return { kind: "instances", name: text.slice(10) };
  if (text.startsWith("template:") && text.length > 9) return { kind: "template", name: text.slice(9) };
  return { kind: "thing", name: text };
}

/**
 * The decision for `principal` holding `permission` at `target` (one `member` of a Thing when
 * given) with every entry that produced it. Throws OUTPOST_BAD_REQUEST for a device permission or
 * a member on a template: device permissions are decided on devices, member entries belong to one
 * Thing (`thing:N#M`); it throws before asking `access`.
 */
export function explainAccess<R = Decision>(
  access: ExplainDecider<R>,
  principal: AccessPrincipal,
  permission: AccessPermission,
  target: ExplainTarget,
  member?: string,
): R {
  if (target.kind === "thing") {
    return access.decide({ principal, permission, target: target.name, ...(member !== undefined ? { member } : {}) });
  }
  if (isDevicePermission(permission)) {
    throw new OutpostError(ErrorCode.BadRequest, `${permission} is decided on a device, not on a template`);
  }
  if (member !== undefined) {
    throw new OutpostError(
      ErrorCode.BadRequest,
      "a member is explained on one Thing (its entries are thing:NAME#MEMBER); a template has no member level",
    );
  }
  const request = { principal, permission, target: target.name };
  if (target.kind === "template" && isDesignPermission(permission)) return access.decide(request, "template");
  return access.decideInstances(request);
}
