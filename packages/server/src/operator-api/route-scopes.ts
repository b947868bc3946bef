import type { FastifyRequest } from "fastify";
import type { ScopeTarget } from "../auth/token-scope.js";

type Params = Record<string, string | undefined>;

/**
 * What each operator API route acts on, for the scope of a narrowed login token
 * (docs/authentication.md). A route missing here answers 403 to a scoped token.
 */
export function scopeTargetOf(req: FastifyRequest): ScopeTarget | undefined {
  const p = (req.params ?? {}) as Params;
  const q = (req.query ?? {}) as Params;
  const thing = p.thing ?? "";
  const device = p.device ?? "";
  switch (`${req.method} ${req.routeOptions.url ?? ""}`) {
    case "GET /api/whoami":
    case "POST /api/logout":
    case "GET /api/devices":
    case "GET /api/things":
    case "GET /api/tunnels":
    case "DELETE /api/tunnels/:id":
      return "free";
    case "GET /api/things/:thing/properties":
      return { permission: "property.read", name: thing };
    case "PUT /api/things/:thing/properties/:name":
    case "DELETE /api/things/:thing/properties/:name/desired":
      return { permission: "property.write", name: thing };
    case "POST /api/things/:thing/services/:service":
      return { permission: "service.execute", name: thing };
    case "GET /api/events":
      return q.thing === undefined ? { anyOf: ["property.read"] } : { permission: "property.read", name: q.thing };
    case "PUT /api/devices/:device/repository/*":
      return { permission: "file.write", name: device };
    case "GET /api/devices/:device/repository/*":
    case "GET /api/devices/:device/repository":
    case "GET /api/devices/:device/files":
      return { permission: "file.read", name: device };
    case "POST /api/devices/:device/transfers": {
      const direction = (req.body as { direction?: string } | undefined)?.direction;
      return { permission: direction === "push" ? "file.write" : "file.read", name: device };
    }
    case "GET /api/transfers":
    case "GET /api/transfers/:id":
    case "POST /api/transfers/:id/cancel":
      return { anyOf: ["file.read", "file.write"] };
    default:
      return undefined;
  }
}
