import type { ServerServices } from "./server-services.js";

/**
 * Diagnostic services every Thing can call on the reference server, so a device can check its
 * round trip without any server-side code: `outpost.echo` returns what it was sent and who sent
 * it; `outpost.time` returns the server's clock (ms since the epoch).
 */
export function registerBuiltinServices(services: ServerServices): void {
  services.register("*", "outpost.echo", (params, ctx) => ({
    params: params as Record<string, never>,
    deviceId: ctx.deviceId,
    thing: ctx.thing,
    serverTime: Date.now(),
  }));
  services.register("*", "outpost.time", () => Date.now());
}
