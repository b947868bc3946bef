/** JSON schemas of the file routes of the operator API (docs/operator-api.md, Files). */

import { bearer, errorResponses, ref } from "./schema-parts.js";

const errors = errorResponses([400, 401, 403, 404, 409, 413, 429, 500, 503]);
const deviceParam = { type: "string", minLength: 1, description: "Device id." } as const;
const pathParam = { type: "string", minLength: 1, description: "Path in the device's repository area." } as const;

export const transferSchema = {
  $id: "FileTransfer",
  type: "object",
  description: "A file transfer between the repository and a device.",
  required: [
    "id",
    "deviceId",
    "direction",
    "initiator",
    "repositoryPath",
    "devicePath",
    "size",
    "state",
    "bytesDone",
    "bytesMoved",
    "attempts",
    "createdAt",
    "updatedAt",
  ],
  properties: {
    id: { type: "string" },
    deviceId: { type: "string" },
    direction: {
      type: "string",
      enum: ["push", "pull"],
      description: "push: repository to device; pull: device to repository.",
    },
    initiator: { type: "string", description: '"operator:<name>" or "device:<id>".' },
    repositoryPath: { type: "string" },
    devicePath: { type: "string", description: "<vdir>/<path> on the device." },
    size: { type: "integer", description: "File size in bytes (a pull: 0 until the device told it)." },
    state: { type: "string", enum: ["queued", "running", "interrupted", "completed", "failed", "cancelled"] },
    bytesDone: { type: "integer", description: "Bytes verified at the receiver." },
    bytesMoved: { type: "integer", description: "Chunk bytes moved over all attempts (re-sent chunks count twice)." },
    attempts: { type: "integer" },
    md5: { type: ["string", "null"], description: "Hex MD5 of the committed file (both ends agreed)." },
    sha256: { type: ["string", "null"], description: "Hex SHA-256 of the committed file (both ends agreed)." },
    errorCode: { type: ["string", "null"], description: "Stable code of the last failure (docs/errors.md)." },
    error: { type: ["string", "null"] },
    maxBytesPerSecond: { type: "integer", description: "Bandwidth cap of this transfer (0: none)." },
    createdAt: { type: "integer" },
    updatedAt: { type: "integer" },
    startedAt: { type: ["integer", "null"] },
    finishedAt: { type: ["integer", "null"] },
    expiresAt: { type: "integer", description: "An interrupted transfer not resumed by then fails." },
  },
} as const;

export const repositoryEntrySchema = {
  $id: "RepositoryFile",
  type: "object",
  required: ["path", "size", "mtimeMs"],
  properties: {
    path: { type: "string" },
    size: { type: "integer" },
    mtimeMs: { type: "integer" },
    md5: { type: "string" },
    sha256: { type: "string" },
  },
} as const;

export const uploadSchema = {
  operationId: "uploadRepositoryFile",
  summary:
    "Stores the request body (any content type, streamed) in the device's repository area. Needs file.write on the device.",
  security: bearer,
  params: { type: "object", required: ["device", "*"], properties: { device: deviceParam, "*": pathParam } },
  response: { 201: ref("RepositoryFile"), ...errors },
} as const;

export const downloadSchema = {
  operationId: "downloadRepositoryFile",
  summary:
    "The file's bytes (application/octet-stream, streamed), with its checksums in X-Outpost-MD5 and X-Outpost-SHA256. Needs file.read on the device.",
  security: bearer,
  params: { type: "object", required: ["device", "*"], properties: { device: deviceParam, "*": pathParam } },
  response: { 200: { description: "The file's bytes.", type: "string", format: "binary" }, ...errors },
} as const;

export const listRepositorySchema = {
  operationId: "listRepository",
  summary: "Files of the device's repository area. Needs file.read on the device.",
  security: bearer,
  params: { type: "object", required: ["device"], properties: { device: deviceParam } },
  response: {
    200: {
      type: "object",
      required: ["files"],
      properties: { files: { type: "array", items: ref("RepositoryFile") } },
    },
    ...errors,
  },
} as const;

export const startTransferSchema = {
  operationId: "startTransfer",
  summary:
    "Queues a push (repository to device; needs file.write) or a pull (device to repository; needs file.read). It runs when the device is connected and resumes after disconnects.",
  security: bearer,
  params: { type: "object", required: ["device"], properties: { device: deviceParam } },
  body: {
    type: "object",
    required: ["direction", "repositoryPath", "devicePath"],
    additionalProperties: false,
    properties: {
      direction: { type: "string", enum: ["push", "pull"] },
      repositoryPath: { type: "string", minLength: 1 },
      devicePath: { type: "string", minLength: 1, description: "<vdir>/<path> on the device." },
      maxBytesPerSecond: {
        type: "integer",
        minimum: 0,
        description: "Bandwidth cap of this transfer. Default 0: none.",
      },
    },
  },
  response: { 202: ref("FileTransfer"), ...errors },
} as const;

export const listDeviceFilesSchema = {
  operationId: "listDeviceFiles",
  summary: "Lists a directory of one of the device's virtual directories, live from the device. Needs file.read.",
  security: bearer,
  params: { type: "object", required: ["device"], properties: { device: deviceParam } },
  querystring: {
    type: "object",
    required: ["path"],
    properties: { path: { type: "string", minLength: 1, description: "<vdir> or <vdir>/<path>." } },
  },
  response: {
    200: {
      type: "object",
      required: ["path", "entries"],
      properties: {
        path: { type: "string" },
        entries: {
          type: "array",
          items: {
            type: "object",
            required: ["name", "type", "size", "mtimeMs"],
            properties: {
              name: { type: "string" },
              type: { type: "string", enum: ["file", "directory", "other"] },
              size: { type: "integer" },
              mtimeMs: { type: "integer" },
              md5: { type: "string", description: "Hex MD5 of a file's content." },
            },
          },
        },
      },
    },
    ...errors,
  },
} as const;

export const listTransfersSchema = {
  operationId: "listTransfers",
  summary: "File transfers with state and progress, oldest first (those of devices the caller holds file.read on).",
  security: bearer,
  querystring: {
    type: "object",
    properties: {
      device: { type: "string", description: "Only this device's transfers." },
      active: { type: "boolean", description: "Only queued, running and interrupted ones." },
    },
  },
  response: {
    200: {
      type: "object",
      required: ["transfers"],
      properties: { transfers: { type: "array", items: ref("FileTransfer") } },
    },
    ...errors,
  },
} as const;

export const getTransferSchema = {
  operationId: "getTransfer",
  summary: "One file transfer. Needs file.read on its device.",
  security: bearer,
  params: { type: "object", required: ["id"], properties: { id: { type: "string" } } },
  response: { 200: ref("FileTransfer"), ...errors },
} as const;

export const cancelTransferSchema = {
  operationId: "cancelTransfer",
  summary:
    "Cancels a transfer that has not finished; nothing is left at its target. Needs the permission that started it (push: file.write, pull: file.read).",
  security: bearer,
  params: { type: "object", required: ["id"], properties: { id: { type: "string" } } },
  response: { 200: ref("FileTransfer"), ...errors },
} as const;
