import { createHash } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { rename, rm, stat } from "node:fs/promises";
import { request as httpsRequest } from "node:https";
import { Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { ErrorCode, OutpostError } from "@outpost/protocol";
import { connectionError, type Endpoint, errorFromAnswer, readText, send } from "./http.js";

/** A file in a device's repository area, as the server answers. */
export interface RepositoryFile {
  path: string;
  size: number;
  mtimeMs: number;
  md5?: string;
  sha256?: string;
}

/** Options of an upload or a download. */
export interface FileCopyOptions {
  /** Called with the bytes moved so far and the total. */
  onProgress?: (done: number, total: number) => void;
  signal?: AbortSignal;
}

/** What a download wrote. */
export interface DownloadResult {
  size: number;
  md5: string;
  sha256: string;
  /** The server's checksums from its headers (when it recorded them). */
  serverMd5?: string;
  serverSha256?: string;
}

function repositoryUrl(device: string, path: string): string {
  return `/api/devices/${encodeURIComponent(device)}/repository/${path.split("/").map(encodeURIComponent).join("/")}`;
}

/** PUT of a local file into a device's repository area, streamed from disk. */
export async function uploadFile(
  endpoint: Endpoint,
  device: string,
  path: string,
  localFile: string,
  options: FileCopyOptions = {},
): Promise<RepositoryFile> {
  const st = await stat(localFile).catch((cause: unknown) => {
    throw new OutpostError(ErrorCode.NotFound, `cannot read ${localFile}`, { cause });
  });
  const headers: Record<string, string> = {
    accept: "application/json",
    "content-type": "application/octet-stream",
    "content-length": String(st.size),
  };
  if (endpoint.token) headers.authorization = `Bearer ${endpoint.token}`;
  const res = await new Promise<import("node:http").IncomingMessage>((resolve, reject) => {
    const req = httpsRequest(new URL(repositoryUrl(device, path), endpoint.url), {
      method: "PUT",
      headers,
      ...(endpoint.ca !== undefined ? { ca: endpoint.ca } : {}),
      ...(options.signal && { signal: options.signal }),
    });
    req.on("error", (err) => reject(connectionError(endpoint, err)));
    req.on("response", resolve);
    let done = 0;
    const counter = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        done += chunk.byteLength;
        options.onProgress?.(done, st.size);
        cb(null, chunk);
      },
    });
    pipeline(createReadStream(localFile), counter, req).catch((err: unknown) => reject(connectionError(endpoint, err)));
  });
  const text = await readText(res);
  const status = res.statusCode ?? 0;
  if (status < 200 || status >= 300) throw errorFromAnswer(status, text);
  return JSON.parse(text) as RepositoryFile;
}

/** GET of a repository file into `localFile` (written to `<localFile>.part`, renamed when whole). */
export async function downloadFile(
  endpoint: Endpoint,
  device: string,
  path: string,
  localFile: string,
  options: FileCopyOptions = {},
): Promise<DownloadResult> {
  const res = await send(endpoint, "GET", repositoryUrl(device, path), {
    stream: true,
    headers: { accept: "application/octet-stream" },
    ...(options.signal && { signal: options.signal }),
  });
  const status = res.statusCode ?? 0;
  if (status < 200 || status >= 300) throw errorFromAnswer(status, await readText(res));
  const total = Number(res.headers["content-length"] ?? 0);
  const md5 = createHash("md5");
  const sha = createHash("sha256");
  let done = 0;
  const tap = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      md5.update(chunk);
      sha.update(chunk);
      done += chunk.byteLength;
      options.onProgress?.(done, total);
      cb(null, chunk);
    },
  });
  const part = `${localFile}.part`;
  try {
    await pipeline(res, tap, createWriteStream(part, { mode: 0o644 }));
    if (total && done !== total)
      throw new OutpostError(ErrorCode.ConnectionClosed, `download ended after ${done} of ${total} bytes`);
    await rename(part, localFile);
  } catch (err) {
    await rm(part, { force: true });
    throw err instanceof OutpostError ? err : connectionError(endpoint, err);
  }
  const serverMd5 = res.headers["x-outpost-md5"];
  const serverSha = res.headers["x-outpost-sha256"];
  return {
    size: done,
    md5: md5.digest("hex"),
    sha256: sha.digest("hex"),
    ...(typeof serverMd5 === "string" && { serverMd5 }),
    ...(typeof serverSha === "string" && { serverSha256: serverSha }),
  };
}

/** MD5 and SHA-256 of a local file. */
export async function fileChecksums(file: string): Promise<{ md5: string; sha256: string; size: number }> {
  const md5 = createHash("md5");
  const sha = createHash("sha256");
  let size = 0;
  for await (const chunk of createReadStream(file) as AsyncIterable<Buffer>) {
    md5.update(chunk);
    sha.update(chunk);
    size += chunk.byteLength;
  }
  return { md5: md5.digest("hex"), sha256: sha.digest("hex"), size };
}
