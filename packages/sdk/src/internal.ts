export { createBackoff, isFinalError } from "./connection/reconnect.js";
export { OfflineQueue } from "./queue/offline-queue.js";
export { Property } from "./things/property.js";
export { Thing } from "./things/thing.js";
