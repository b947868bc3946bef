import { Command } from "commander";
import type { JsonValue } from "../generated/api.js";
import { clientFor, type GlobalOptions, usageError } from "./context.js";
import { cell, table, time, useColor } from "./format.js";

function opts(cmd: Command): GlobalOptions {
  return cmd.optsWithGlobals() as GlobalOptions;
}

function out(o: GlobalOptions, json: unknown, render: (color: boolean) => string): void {
  process.stdout.write(o.json ? `${JSON.stringify(json, null, 2)}\n` : `${render(useColor(process.stdout))}\n`);
}

function parseJson(text: string, what: string): JsonValue {
  try {
    return JSON.parse(text) as JsonValue;
  } catch {
    throw usageError(`${what} is not JSON: ${text} (quote strings, e.g. '"on"')`);
  }
}

/** `30s`, `15m`, `2h`, `7d` or plain milliseconds, as milliseconds. */
function parseDuration(text: string): number {
  const m = /^(\d+)(ms|s|m|h|d)?$/.exec(text.trim());
  const unit = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m?.[2] ?? "ms"];
  const ms = m && unit ? Number(m[1]) * unit : NaN;
  if (!Number.isSafeInteger(ms) || ms < 1)
    throw usageError(`--expires ${text} is not a duration (e.g. 30s, 15m, 2h, 7d)`);
  return ms;
}

function example(cmd: Command, ...lines: string[]): Command {
  return cmd.addHelpText("after", `\nExample:\n${lines.map((l) => `  $ ${l}`).join("\n")}`);
}

/** `devices`, `things`, `get`, `set`, `unset`, `call`, `watch`. */
export function dataCommands(): Command[] {
  const devices = example(
    new Command("devices").description("list devices and whether they are connected (admin)"),
    "outpost devices",
  ).action(async (_o: unknown, cmd: Command) => {
    const o = opts(cmd);
    const { devices } = await clientFor(o).listDevices();
    out(o, devices, (c) =>
      table(
        ["DEVICE", "CONNECTED", "SOURCE", "SINCE", "DISABLED", "DESCRIPTION"],
        devices.map((d) => [d.id, d.connected, d.source, time(d.connectedAt), d.disabled, d.description]),
        c,
      ),
    );
  });

  const things = example(
    new Command("things").description("list the Things you hold a permission on"),
    "outpost things --json",
  ).action(async (_o: unknown, cmd: Command) => {
    const o = opts(cmd);
    const { things: list } = await clientFor(o).listThings();
    out(o, list, (c) =>
      table(
        ["THING", "DEVICE", "ONLINE", "DESCRIPTION"],
        list.map((t) => [t.name, t.deviceId, t.online, t.description]),
        c,
      ),
    );
  });

  const get = example(
    new Command("get")
      .description("read properties of a Thing (live when its device is online, else the last kept values)")
      .argument("<thing>", "Thing name")
      .argument("[property...]", "only these properties (default: all)"),
    "outpost get pump-1 speed temp",
  ).action(async (thing: string, props: string[], _o: unknown, cmd: Command) => {
    const o = opts(cmd);
    const r = await clientFor(o).readProperties(thing, { names: props });
    out(o, r, (c) => {
      const t = table(
        ["PROPERTY", "VALUE", "QUALITY", "TIME"],
        r.properties.map((p) => [p.name, cell(p.value), p.quality, time(p.timestampMs)]),
        c,
      );
      const notes: string[] = [];
      if (!r.live) notes.push(`(${thing} is offline: last values kept by the server)`);
      if (r.desired.length > 0) {
        const d = table(
          ["DESIRED", "VALUE", "SET BY", "SET AT", "EXPIRES"],
          r.desired.map((p) => [p.name, cell(p.value), p.setBy, time(p.setAt), time(p.expiresAt)]),
          c,
        );
        notes.push(`\n${d}\n(desired: written while ${thing} was offline, applied when its device reconnects)`);
      }
      return [t, ...notes].join("\n");
    });
  });

  const set = example(
    new Command("set")
      .description(
        "write one property on a Thing's device; when the Thing is offline the server holds the value as desired state and applies it when the device reconnects",
      )
      .argument("<thing>", "Thing name")
      .argument("<property>", "property name")
      .argument("<json>", "the value as JSON (a string needs quotes: '\"on\"')")
      .option(
        "--expires <duration>",
        "when offline, drop the value if not applied within this time (e.g. 30s, 15m, 2h, 7d; default: the server's, 24h)",
      ),
    "outpost set pump-1 speed 7",
  ).action(async (thing: string, prop: string, value: string, local: { expires?: string }, cmd: Command) => {
    const o = opts(cmd);
    const expiresInMs = local.expires !== undefined ? parseDuration(local.expires) : undefined;
    const r = await clientFor(o).writeProperty(thing, prop, parseJson(value, "the value"), {
      ...(expiresInMs !== undefined ? { expiresInMs } : {}),
    });
    out(o, r, () =>
      r.state === "desired"
        ? `${r.thing} is offline: ${r.name} = ${cell(r.value)} is queued as desired state, applied when the device reconnects (expires ${time(r.expiresAt)}; clear with: outpost unset ${r.thing} ${r.name})`
        : `${r.thing} ${r.name} = ${cell(r.value)}`,
    );
  });

  const unset = example(
    new Command("unset")
      .description("remove the desired value the server holds for a property of an offline Thing")
      .argument("<thing>", "Thing name")
      .argument("<property>", "property name"),
    "outpost unset pump-1 speed",
  ).action(async (thing: string, prop: string, _o: unknown, cmd: Command) => {
    const o = opts(cmd);
    const r = await clientFor(o).clearDesired(thing, prop);
    out(o, r, () => `${r.thing} ${r.name}: desired value cleared`);
  });

  const call = example(
    new Command("call")
      .description("invoke a service on a Thing's device and print its result")
      .argument("<thing>", "Thing name")
      .argument("<service>", "service name")
      .option("--param <name=json>", "a parameter (repeatable)", (v: string, acc: string[]) => [...acc, v], []),
    "outpost call pump-1 add --param a=2 --param b=3",
  ).action(async (thing: string, service: string, local: { param: string[] }, cmd: Command) => {
    const o = opts(cmd);
    const params: Record<string, JsonValue> = {};
    for (const p of local.param) {
      const eq = p.indexOf("=");
      if (eq <= 0) throw usageError(`--param ${p} is not name=json`);
      params[p.slice(0, eq)] = parseJson(p.slice(eq + 1), `--param ${p.slice(0, eq)}`);
    }
    const r = await clientFor(o).invokeService(thing, service, params);
    out(o, r, () => (typeof r.result === "string" ? r.result : JSON.stringify(r.result, null, 2)));
  });

  const watch = example(
    new Command("watch")
      .description("follow property changes and events as they arrive (Ctrl-C ends); survives reconnects")
      .option("--thing <thing>", "only this Thing")
      .option("--events-only", "only events, no property changes"),
    "outpost watch --thing pump-1 --json",
  ).action(async (local: { thing?: string; eventsOnly?: boolean }, cmd: Command) => {
    const o = opts(cmd);
    const client = clientFor(o);
    const abort = new AbortController();
    const stop = () => abort.abort();
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
    const widths = [24, 16, 8, 16];
    const row = (cells: string[]) => cells.map((c, i) => (i < widths.length ? c.padEnd(widths[i]!) : c)).join("  ");
    if (!o.json) {
      const head = row(["TIME", "THING", "KIND", "NAME", "VALUE"]);
      process.stdout.write(`${useColor(process.stdout) ? `\u001b[1m${head}\u001b[0m` : head}\n`);
    }
    try {
      for await (const item of client.events({
        ...(local.thing ? { thing: local.thing } : {}),
        signal: abort.signal,
        reportReconnects: true,
      })) {
        if (item.type === "reconnecting") {
          process.stderr.write(`outpost: stream cut (${item.error.code}); reconnecting in ${item.delayMs} ms\n`);
          continue;
        }
        if (item.type === "gap") {
          process.stderr.write("outpost: the server could not replay every missed change (some may be lost)\n");
          continue;
        }
        if (local.eventsOnly && item.type !== "event") continue;
        if (o.json) {
          process.stdout.write(`${JSON.stringify(item)}\n`);
          continue;
        }
        const value = item.type === "event" ? cell(item.data) : cell(item.value);
        const kind = item.type === "desired" ? `desired ${item.outcome}` : item.type;
        process.stdout.write(`${row([time(item.timestampMs) || "-", item.thing, kind, item.name, value])}\n`);
      }
    } finally {
      process.off("SIGINT", stop);
      process.off("SIGTERM", stop);
    }
  });

  return [devices, things, get, set, unset, call, watch];
}
