import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import { Channel, ErrorCode, TUNNEL_HOP_LIMITS } from "@outpost/protocol";
import { WebSocketServer } from "ws";
import type { AuditSink } from "../audit/types.js";
import { checkOperatorBearer } from "../auth/operator-bearer.js";
import type { FailureLimiter } from "../auth/rate-limit.js";
import { inScope } from "../auth/token-scope.js";
import { WsTransport } from "../edge/ws-transport.js";
import type { AsyncCredentialStore, AsyncRegistry } from "../registry/async-types.js";
import type { TunnelRelay } from "./relay.js";

/** What the upgrade handler needs. */
export interface TunnelUpgradeDeps {
  /** The registry's asynchronous view (`asyncRegistryOf(registry)` for the embedded SQLite one). */
  registry: Pick<AsyncRegistry, "checkOperator" | "getDevice" | "visible" | "can">;
  audit: AuditSink;
  limiter: FailureLimiter;
  relay: TunnelRelay;
  /** Login tokens (a session, which lives in a cookie, is not accepted here). */
  credentials?: Pick<AsyncCredentialStore, "check"> | undefined;
}

/** The path of the operator tunnel WebSocket: /api/devices/{id}/tunnel. */
export const TUNNEL_PATH = /^\/api\/devices\/([^/?#]+)\/tunnel(?:\?.*)?$/;

/** Largest WebSocket message on the tunnel connection: one stream frame of at most 64 KiB plus framing. */
const MAX_MESSAGE_BYTES = 1024 * 1024 + 1024;

/**
 * Handles the HTTP upgrade of `GET /api/devices/{id}/tunnel` on the operator API's HTTPS server:
 * checks the bearer token (401), the device (404, also for a device invisible to the operator,
 * with the same body) and the operator's `tunnel.open` on it (403),
 * each refusal audited and answered before any WebSocket exists, then hands the WebSocket to the
 * relay as a protocol Channel. Any other upgrade path is answered 404.
 */
export function tunnelUpgradeHandler(deps: TunnelUpgradeDeps) {
  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_MESSAGE_BYTES, perMessageDeflate: false });
  return async (req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> => {
    socket.on("error", () => socket.destroy());
    const match = TUNNEL_PATH.exec(req.url ?? "");
    const source = req.socket.remoteAddress ?? "";
    if (!match) return refuse(socket, 404, ErrorCode.NotFound, "no WebSocket endpoint at this path");
    const deviceId = decodeURIComponent(match[1]!);
    if (deps.limiter.isBlocked(source))
      return refuse(socket, 429, ErrorCode.TooManyRequests, "too many failed attempts, try later");
    const { check } = await checkOperatorBearer(deps, req.headers.authorization, source);
    if (!check.ok) return refuse(socket, 401, ErrorCode.Unauthorized, "a valid bearer token is required");
    const operator = check.operator.name;
    const deny = (status: number, code: string, message: string, reason: string) => {
      deps.audit.append({
        type: "denied",
        actor: `operator:${operator}`,
        target: `device:${deviceId}`,
        outcome: "failure",
        source,
        code,
        details: { action: "tunnel.open", reason },
      });
      refuse(socket, status, code, message);
    };
    const groups = check.login?.groups ?? [];
    const principal = {
      kind: "operator",
      id: operator,
      ...(groups.length > 0 ? { groups: [...groups] } : {}),
    } as const;
    // One wait for the device, its visibility and the permission.
    const [device, visible, permitted] = await Promise.all([
      deps.registry.getDevice(deviceId),
      deps.registry.visible(principal, "device", deviceId),
      deps.registry.can(principal, deviceId, "tunnel.open"),
    ]);
    if (socket.destroyed) return;
    if (!device) return deny(404, ErrorCode.NotFound, `no device ${deviceId}`, "unknown device");
    // An invisible device does not exist for the caller: the same answer, before any permission.
    if (!visible) return deny(404, ErrorCode.NotFound, `no device ${deviceId}`, "invisible device");
    if (!inScope(check.login?.scope, "tunnel.open", deviceId) || !permitted)
      return deny(
        403,
        ErrorCode.Forbidden,
        `operator ${operator} lacks tunnel.open on device ${deviceId}`,
        "no permission",
      );
    wss.handleUpgrade(req, socket, head, (ws) => {
      const channel = new Channel(new WsTransport(ws, { pingIntervalMs: 30_000 }), {
        requestTimeoutMs: 0,
        limits: TUNNEL_HOP_LIMITS,
      });
      channel.setPeerLimits(TUNNEL_HOP_LIMITS);
      deps.relay.serve(channel, { operator, source }, deviceId);
    });
  };
}

function refuse(socket: Duplex, status: number, code: string, message: string): void {
  const body = JSON.stringify({ error: { code, message } });
  const reason =
    { 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 429: "Too Many Requests" }[status] ?? "Error";
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}
