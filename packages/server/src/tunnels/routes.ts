import { ErrorCode, OutpostError } from "@outpost/protocol";
import type { FastifyInstance, FastifyRequest } from "fastify";
import type { Caller } from "../operator-api/routes.js";
import type { TunnelRelay } from "./relay.js";

/** What the tunnel routes use. */
export interface TunnelRouteDeps {
  /** The relay, or undefined while the API only documents itself (openapi generation). */
  relay: TunnelRelay | undefined;
  /** Whether the caller holds tunnel.open on the device. */
  canOpen(caller: Caller, deviceId: string): boolean | Promise<boolean>;
  /** Refuses (403) and audits; returns the error to throw. */
  deny(req: FastifyRequest, message: string, details: Record<string, unknown>): OutpostError;
}

const errorRef = { $ref: "ErrorBody#" } as const;
const errors = Object.fromEntries([400, 401, 403, 404, 426, 429, 500].map((s) => [s, errorRef]));

const tunnelSchema = {
  type: "object",
  required: [
    "id",
    "deviceId",
    "target",
    "initiator",
    "startedAt",
    "bytesToDevice",
    "bytesFromDevice",
    "connections",
    "connectionsTotal",
    "bufferedBytes",
  ],
  properties: {
    id: { type: "string", description: "Session id." },
    deviceId: { type: "string" },
    target: { type: "string", description: "Target name on the device." },
    initiator: { type: "string", description: 'Who opened it, "operator:<name>".' },
    startedAt: { type: "string", description: "ISO 8601." },
    bytesToDevice: { type: "integer", description: "Bytes relayed towards the device (sealed records)." },
    bytesFromDevice: { type: "integer", description: "Bytes relayed from the device (sealed records)." },
    connections: { type: "integer", description: "TCP connections open now." },
    connectionsTotal: { type: "integer", description: "TCP connections carried in all." },
    bufferedBytes: { type: "integer", description: "Bytes the server holds for the session now." },
  },
} as const;

function caller(req: FastifyRequest): Caller {
  if (!req.caller) throw new OutpostError(ErrorCode.Internal, "route reached without authentication");
  return req.caller;
}

function relayOf(deps: TunnelRouteDeps): TunnelRelay {
  if (!deps.relay) throw new OutpostError(ErrorCode.NotImplemented, "tunnels are not enabled on this server");
  return deps.relay;
}

/** Registers GET /api/tunnels, DELETE /api/tunnels/{id} and the documentation of the tunnel WebSocket. */
export function registerTunnelRoutes(app: FastifyInstance, deps: TunnelRouteDeps): void {
  app.get<{ Querystring: { device?: string } }>(
    "/api/tunnels",
    {
      schema: {
        operationId: "listTunnels",
        summary: "Open tunnel sessions on the devices the caller holds tunnel.open on (admin: all).",
        security: [{ bearer: [] }],
        querystring: { type: "object", properties: { device: { type: "string", description: "Only this device's." } } },
        response: {
          200: {
            type: "object",
            required: ["tunnels"],
            properties: { tunnels: { type: "array", items: tunnelSchema } },
          },
          ...errors,
        },
      },
    },
    async (req) => {
      const c = caller(req);
      const all = relayOf(deps).list(req.query.device);
      const open = await Promise.all(all.map((t) => c.admin || deps.canOpen(c, t.deviceId)));
      return { tunnels: all.filter((_t, i) => open[i]) };
    },
  );

  app.delete<{ Params: { id: string } }>(
    "/api/tunnels/:id",
    {
      schema: {
        operationId: "closeTunnel",
        summary: "Closes a tunnel session on both hops (admin, or the operator who opened it).",
        security: [{ bearer: [] }],
        params: { type: "object", required: ["id"], properties: { id: { type: "string" } } },
        response: { 204: { type: "null", description: "Closed." }, ...errors },
      },
    },
    async (req, reply) => {
      const c = caller(req);
      const relay = relayOf(deps);
      const t = relay.get(req.params.id);
      if (!t) throw new OutpostError(ErrorCode.NotFound, `no open tunnel ${req.params.id}`, { status: 404 });
      if (!c.admin && t.initiator !== `operator:${c.principal.id}`) {
        throw deps.deny(req, "only an admin or the operator who opened a tunnel may close it", {
          action: "tunnel.close",
          tunnel: t.id,
        });
      }
      relay.close(t.id, `operator:${c.principal.id}`);
      return reply.code(204).send();
    },
  );

  app.get(
    "/api/devices/:id/tunnel",
    {
      schema: {
        operationId: "openTunnel",
        summary:
          "WebSocket upgrade only: one tunnel session to the device (docs/tunnels.md). Needs tunnel.open on the device. A plain GET answers 426.",
        security: [{ bearer: [] }],
        params: { type: "object", required: ["id"], properties: { id: { type: "string", description: "Device id." } } },
        response: { 101: { type: "null", description: "Switching to the tunnel WebSocket." }, ...errors },
      },
    },
    async () => {
      throw new OutpostError(ErrorCode.BadRequest, "this endpoint takes a WebSocket upgrade only", { status: 426 });
    },
  );
}
