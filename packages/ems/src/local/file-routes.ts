import type { IncomingMessage, ServerResponse } from "node:http";
import { ErrorCode, OutpostError } from "@outpost/protocol";
import { asObject, readJson, sendJson } from "./http-util.js";
import { type LocalFilesApi, type LocalTransferRequest, statusOfTransferError } from "./local-files.js";

/**
 * `POST /files/uploads` and `POST /files/downloads` with `{"from", "to", "maxBytesPerSecond"?, "identity"?}`
 * (202 with the transfer, or with `?wait=true` its outcome once it ends), `GET /files/transfers`,
 * `GET /files/transfers/{id}`, `DELETE /files/transfers/{id}` (cancel).
 */
export async function fileRoute(
  ctx: { files: LocalFilesApi; maxBodyBytes: number },
  req: IncomingMessage,
  res: ServerResponse,
  method: string,
  parts: string[],
  url: URL,
): Promise<number> {
  const at = (m: string, ...shape: Array<string | null>): boolean =>
    method === m && parts.length === shape.length && shape.every((s, i) => s === null || s === parts[i]);
  if (at("POST", "files", "uploads") || at("POST", "files", "downloads")) {
    const body = asObject(await readJson(req, ctx.maxBodyBytes));
    const request = requestOf(parts[1] === "uploads" ? "upload" : "download", body);
    const { transfer, done } = ctx.files.start(request);
    if (url.searchParams.get("wait") !== "true") return json(res, 202, transfer);
    const gone = new Promise<undefined>((r) => res.once("close", () => r(undefined)));
    const final = await Promise.race([done, gone]);
    if (!final) return 499;
    return json(res, statusOfTransferError(final.error), final);
  }
  if (at("GET", "files", "transfers")) return json(res, 200, { transfers: ctx.files.list() });
  if (at("GET", "files", "transfers", null)) return json(res, 200, found(ctx, parts[2]!));
  if (at("DELETE", "files", "transfers", null)) {
    found(ctx, parts[2]!);
    if (!(await ctx.files.cancel(parts[2]!))) {
      throw new OutpostError(ErrorCode.Conflict, `transfer ${parts[2]} is not running`);
    }
    return json(res, 200, found(ctx, parts[2]!));
  }
  throw new OutpostError(ErrorCode.NotFound, `no route ${method} ${url.pathname}`);
}

function requestOf(direction: "upload" | "download", body: Record<string, unknown>): LocalTransferRequest {
  for (const k of ["from", "to"] as const) {
    if (typeof body[k] !== "string" || body[k] === "") {
      throw new OutpostError(ErrorCode.BadRequest, `"${k}" must be a non-empty string`);
    }
  }
  if (body.identity !== undefined && typeof body.identity !== "string") {
    throw new OutpostError(ErrorCode.BadRequest, '"identity" must be a string');
  }
  const rate = body.maxBytesPerSecond;
  if (rate !== undefined && !(Number.isSafeInteger(rate) && (rate as number) > 0)) {
    throw new OutpostError(ErrorCode.BadRequest, "maxBytesPerSecond must be a positive integer");
  }
  return {
    direction,
    from: body.from as string,
    to: body.to as string,
    ...(rate !== undefined && { maxBytesPerSecond: rate as number }),
    ...(body.identity !== undefined && { identity: body.identity as string }),
  };
}

function found(ctx: { files: LocalFilesApi }, id: string) {
  const t = ctx.files.get(id);
  if (!t) throw new OutpostError(ErrorCode.NotFound, `no transfer ${id}`);
  return t;
}

function json(res: ServerResponse, status: number, body: unknown): number {
  sendJson(res, status, body);
  return status;
}
