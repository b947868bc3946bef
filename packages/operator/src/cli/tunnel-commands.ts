import { Duplex } from "node:stream";
import { Command } from "commander";
import { clientFor, deviceCaFor, type GlobalOptions, usageError } from "./context.js";
import { table, useColor } from "./format.js";

interface TunnelOpts extends GlobalOptions {
  local?: string;
  stdio?: boolean;
  deviceCa?: string;
  device?: string;
}

/** `[HOST:]PORT` → host and port; the host defaults to 127.0.0.1. */
export function parseLocal(spec: string): { host: string; port: number } {
  const m = /^(?:(\[[^\]]+\]|[^:]+):)?(\d{1,5})$/.exec(spec);
  const port = Number(m?.[2]);
  if (!m || port > 65535) throw usageError(`--local ${JSON.stringify(spec)} is not [HOST:]PORT`);
  return { host: m[1]?.replace(/^\[|\]$/g, "") ?? "127.0.0.1", port };
}

/** `tunnel <device> <target> --local [HOST:]PORT | --stdio`, `tunnel close <id>`, `tunnels`. */
export function tunnelCommands(): Command[] {
  const tunnel = new Command("tunnel")
    .description("forward local connections to a target on a device, end-to-end encrypted (docs/tunnels.md)")
    .argument("<device>", "device id")
    .argument("<target>", "target name allow-listed on the device, e.g. ssh")
    .option("--local <[host:]port>", "listen here (host default 127.0.0.1) and forward every connection")
    .option("--stdio", "forward one connection over standard input and output (for ssh ProxyCommand)")
    .option("--device-ca <file>", "CA that issues device certificates (default: OUTPOST_DEVICE_CA, then the profile's)")
    .addHelpText(
      "after",
      [
        "",
        "Examples:",
        "  $ outpost tunnel dev-1 ssh --local 2222",
        '  $ ssh -o ProxyCommand="outpost tunnel %h ssh --stdio" user@dev-1',
        "  $ outpost tunnel close 7d9c…",
      ].join("\n"),
    )
    .action(async (device: string, target: string, _o: unknown, cmd: Command) => {
      const o = cmd.optsWithGlobals() as TunnelOpts;
      if (!o.local === !o.stdio) throw usageError("give exactly one of --local [HOST:]PORT and --stdio");
      const local = o.local !== undefined ? parseLocal(o.local) : undefined;
      const deviceCa = deviceCaFor(o);
      const stop = new AbortController();
      const onSignal = () => stop.abort();
      process.once("SIGINT", onSignal);
      process.once("SIGTERM", onSignal);
      try {
        const t = await clientFor(o).openTunnel({ device, target, deviceCa, signal: stop.signal });
        stop.signal.addEventListener("abort", () => void t.close(), { once: true });
        if (local) {
          const server = await t.listen(local.port, local.host);
          const a = server.address();
          const where =
            typeof a === "object" && a ? `${a.family === "IPv6" ? `[${a.address}]` : a.address}:${a.port}` : "";
          if (o.json) process.stdout.write(`${JSON.stringify({ id: t.id, device, target, local: where })}\n`);
          else process.stdout.write(`forwarding ${where} to ${target} on ${device} (tunnel ${t.id}); Ctrl-C to stop\n`);
          const err = await t.closed();
          if (err && !stop.signal.aborted) throw err;
        } else {
          const io = Duplex.from({ readable: process.stdin, writable: process.stdout });
          const r = await t.forward(io);
          await t.close();
          if (r.error && !stop.signal.aborted) throw r.error;
        }
      } finally {
        process.off("SIGINT", onSignal);
        process.off("SIGTERM", onSignal);
      }
    });

  tunnel
    .command("close")
    .description("close an open tunnel session (admin, or the operator who opened it)")
    .argument("<id>", "tunnel id, as outpost tunnels lists it")
    .action(async (id: string, _o: unknown, cmd: Command) => {
      const o = cmd.optsWithGlobals() as TunnelOpts;
      await clientFor(o).closeTunnel(id);
      process.stdout.write(o.json ? `${JSON.stringify({ closed: id })}\n` : `closed tunnel ${id}\n`);
    });

  const tunnels = new Command("tunnels")
    .description("list open tunnel sessions")
    .option("--device <id>", "only this device's")
    .action(async (_o: unknown, cmd: Command) => {
      const o = cmd.optsWithGlobals() as TunnelOpts;
      const { tunnels: list } = await clientFor(o).listTunnels(o.device !== undefined ? { device: o.device } : {});
      process.stdout.write(
        o.json
          ? `${JSON.stringify(list, null, 2)}\n`
          : `${table(
              ["ID", "DEVICE", "TARGET", "INITIATOR", "STARTED", "CONNS", "TO DEVICE", "FROM DEVICE"],
              list.map((t) => [
                t.id,
                t.deviceId,
                t.target,
                t.initiator,
                t.startedAt,
                t.connections,
                t.bytesToDevice,
                t.bytesFromDevice,
              ]),
              useColor(process.stdout),
            )}\n`,
      );
    });
  return [tunnel, tunnels];
}
