import { ErrorCode, listFiles, OutpostError } from "@outpost/protocol";
import type { FastifyInstance, FastifyRequest } from "fastify";
import type { AuditSink } from "../audit/types.js";
import type { TransferManager } from "../files/transfers.js";
import type { AsyncRegistry } from "../registry/async-types.js";
import type { FileTransferRecord, Permission } from "../registry/types.js";
import type { DeviceLinks } from "../things/device-links.js";
import {
  cancelTransferSchema,
  downloadSchema,
  getTransferSchema,
  listDeviceFilesSchema,
  listRepositorySchema,
  listTransfersSchema,
  startTransferSchema,
  uploadSchema,
} from "./file-schemas.js";
import type { Caller } from "./routes.js";

/** What the file routes use; undefined parts answer 503 (file transfer not configured). */
export interface FileRouteDeps {
  manager: TransferManager;
  registry: Pick<AsyncRegistry, "getDevice" | "visible" | "can">;
  links: DeviceLinks;
  audit: AuditSink;
}

/** Every path of the file routes (for the 405 check). */
export const FILE_ROUTE_PATHS: ReadonlyArray<{ method: string; url: string }> = [
  { method: "PUT", url: "/api/devices/:device/repository/*" },
  { method: "GET", url: "/api/devices/:device/repository/*" },
  { method: "GET", url: "/api/devices/:device/repository" },
  { method: "GET", url: "/api/devices/:device/files" },
  { method: "POST", url: "/api/devices/:device/transfers" },
  { method: "GET", url: "/api/transfers" },
  { method: "GET", url: "/api/transfers/:id" },
  { method: "POST", url: "/api/transfers/:id/cancel" },
];

type Deny = (req: FastifyRequest, message: string, details: Record<string, unknown>) => OutpostError;

interface DeviceParams {
  device: string;
  "*"?: string;
}

/** Registers the file routes (docs/operator-api.md, Files). */
export function registerFileRoutes(app: FastifyInstance, getDeps: () => FileRouteDeps | undefined, deny: Deny): void {
  const deps = (): FileRouteDeps => {
    const d = getDeps();
    if (!d)
      throw new OutpostError(ErrorCode.Unavailable, "file transfer is not configured on this server", { status: 503 });
    return d;
  };
  const who = (req: FastifyRequest): Caller => {
    if (!req.caller) throw new OutpostError(ErrorCode.Internal, "route reached without authentication");
    return req.caller;
  };
  const allow = async (
    req: FastifyRequest,
    deviceId: string,
    permission: Permission,
    action: string,
  ): Promise<Caller> => {
    const d = deps();
    const caller = who(req);
    // An invisible device (and its repository area) is answered like one that does not exist.
    if (!(await d.registry.getDevice(deviceId)) || !(await d.registry.visible(caller.principal, "device", deviceId)))
      throw new OutpostError(ErrorCode.NotFound, `unknown device ${deviceId}`, { status: 404 });
    if (!(await d.registry.can(caller.principal, deviceId, permission))) {
      throw deny(req, `operator ${caller.principal.id} lacks ${permission} on device ${deviceId}`, {
        action,
        device: deviceId,
        permission,
      });
    }
    return caller;
  };
  const record = (caller: Caller, deviceId: string, event: string, details: Record<string, unknown>) =>
    deps().audit.append({
      type: "file.transfer",
      actor: `operator:${caller.principal.id}`,
      target: `device:${deviceId}`,
      outcome: "success",
      source: caller.source,
      details: { event, device: deviceId, ...details },
    });

  // Uploads are read as a stream, never buffered whole: this context takes any body as is.
  void app.register(async (raw) => {
    raw.removeAllContentTypeParsers();
    raw.addContentTypeParser("*", (_req, payload, done) => done(null, payload));
    raw.put<{ Params: DeviceParams }>(
      "/api/devices/:device/repository/*",
      { schema: uploadSchema },
      async (req, reply) => {
        const { device } = req.params;
        const path = req.params["*"] ?? "";
        const caller = await allow(req, device, "file.write", "repository.upload");
        const d = deps();
        const body = (req.body as AsyncIterable<Uint8Array> | undefined) ?? req.raw;
        const t0 = Date.now();
        const entry = await d.manager.repository.write(device, path, body, d.manager.maxFileBytes);
        record(caller, device, "upload", {
          repositoryPath: path,
          size: entry.size,
          md5: entry.md5,
          sha256: entry.sha256,
          durationMs: Date.now() - t0,
        });
        reply.code(201);
        return entry;
      },
    );
  });

  app.get<{ Params: DeviceParams }>(
    "/api/devices/:device/repository/*",
    { schema: downloadSchema },
    async (req, reply) => {
      const { device } = req.params;
      const path = req.params["*"] ?? "";
      const caller = await allow(req, device, "file.read", "repository.download");
      const { entry, body } = await deps().manager.repository.read(device, path);
      record(caller, device, "download", {
        repositoryPath: path,
        size: entry.size,
        ...(entry.md5 && { md5: entry.md5, sha256: entry.sha256 }),
      });
      reply.header("content-type", "application/octet-stream");
      reply.header("content-length", String(entry.size));
      if (entry.md5) reply.header("x-outpost-md5", entry.md5);
      if (entry.sha256) reply.header("x-outpost-sha256", entry.sha256);
      return reply.send(body);
    },
  );

  app.get<{ Params: DeviceParams }>(
    "/api/devices/:device/repository",
    { schema: listRepositorySchema },
    async (req) => {
      await allow(req, req.params.device, "file.read", "repository.list");
      return { files: await deps().manager.repository.list(req.params.device) };
    },
  );

  app.get<{ Params: DeviceParams; Querystring: { path: string } }>(
    "/api/devices/:device/files",
    { schema: listDeviceFilesSchema },
    async (req) => {
      const { device } = req.params;
      await allow(req, device, "file.read", "files.list");
      const link = deps().links.get(device);
      if (!link?.openStream)
        throw new OutpostError(ErrorCode.Unavailable, `device ${device} is not connected`, { status: 503 });
      const entries = await listFiles(link.openStream.bind(link), req.query.path, AbortSignal.timeout(30_000));
      return {
        path: req.query.path,
        entries: entries.map((e) => ({
          name: e.name ?? "",
          type: e.type ?? "other",
          size: Number(e.size ?? 0),
          mtimeMs: Number(e.mtimeMs ?? 0),
          ...(e.md5 ? { md5: e.md5 } : {}),
        })),
      };
    },
  );

  app.post<{
    Params: DeviceParams;
    Body: { direction: "push" | "pull"; repositoryPath: string; devicePath: string; maxBytesPerSecond?: number };
  }>("/api/devices/:device/transfers", { schema: startTransferSchema }, async (req, reply) => {
    const { device } = req.params;
    const b = req.body;
    const caller = await allow(
      req,
      device,
      b.direction === "push" ? "file.write" : "file.read",
      `transfer.${b.direction}`,
    );
    const t = await deps().manager.create({
      deviceId: device,
      direction: b.direction,
      repositoryPath: b.repositoryPath,
      devicePath: b.devicePath,
      initiator: `operator:${caller.principal.id}`,
      source: caller.source,
      ...(b.maxBytesPerSecond !== undefined && { maxBytesPerSecond: b.maxBytesPerSecond }),
    });
    reply.code(202);
    return t;
  });

  app.get<{ Querystring: { device?: string; active?: boolean } }>(
    "/api/transfers",
    { schema: listTransfersSchema },
    async (req) => {
      const caller = who(req);
      const d = deps();
      const all = await d.manager.list({
        ...(req.query.device !== undefined && { deviceId: req.query.device }),
        ...(req.query.active !== undefined && { active: req.query.active }),
      });
      const readable = await Promise.all(all.map((t) => d.registry.can(caller.principal, t.deviceId, "file.read")));
      return { transfers: all.filter((_t, i) => readable[i]) };
    },
  );

  const transferOf = async (
    req: FastifyRequest<{ Params: { id: string } }>,
    action: string,
    write: boolean,
  ): Promise<FileTransferRecord> => {
    const d = deps();
    const t = await d.manager.get(req.params.id);
    // A transfer of a device invisible to the caller is answered like a transfer that does not exist.
    if (
      !t ||
      ((await d.registry.getDevice(t.deviceId)) &&
        !(await d.registry.visible(who(req).principal, "device", t.deviceId)))
    )
      throw new OutpostError(ErrorCode.NotFound, `no transfer ${req.params.id}`, { status: 404 });
    await allow(req, t.deviceId, write && t.direction === "push" ? "file.write" : "file.read", action);
    return t;
  };

  app.get<{ Params: { id: string } }>("/api/transfers/:id", { schema: getTransferSchema }, async (req) =>
    transferOf(req, "transfer.get", false),
  );

  app.post<{ Params: { id: string } }>("/api/transfers/:id/cancel", { schema: cancelTransferSchema }, async (req) => {
    const t = await transferOf(req, "transfer.cancel", true);
    const caller = who(req);
    return deps().manager.cancel(t.id, caller.principal.id, caller.source);
  });
}
