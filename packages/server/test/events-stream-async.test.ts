import { createServer, get, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import type { EventLog, LoggedChange } from "../src/operator-api/event-log.js";
import { openEventStream } from "../src/operator-api/events-stream.js";

/** A log to publish into by hand (unit test: the stream is what is under test). */
function fakeLog() {
  const listeners = new Set<(c: LoggedChange) => void>();
  const log = {
    subscribe: (l: (c: LoggedChange) => void) => (listeners.add(l), () => listeners.delete(l)),
    since: () => ({ gap: false, changes: [] }),
  } as unknown as EventLog;
  let id = 0;
  const publish = (name: string) => {
    const c = { id: String(++id), thing: "pump", type: "property", name, data: JSON.stringify({ name }) };
    for (const l of listeners) l(c as unknown as LoggedChange);
  };
  return { log, publish };
}

let server: Server | undefined;
afterEach(
  () =>
    new Promise<void>((resolve) => {
      if (!server) return resolve();
      server.closeAllConnections();
      server.close(() => resolve());
    }),
);

async function stream(accept: (c: { name: string }) => boolean | Promise<boolean>) {
  const { log, publish } = fakeLog();
  server = createServer((_req, res) => openEventStream(res, { log, accept }));
  await new Promise<void>((resolve) => server!.listen(0, "127.0.0.1", resolve));
  const res = await new Promise<IncomingMessage>((resolve) =>
    get(`http://127.0.0.1:${(server!.address() as AddressInfo).port}/`, resolve),
  );
  let text = "";
  res.setEncoding("utf8");
  res.on("data", (d: string) => (text += d));
  const ended = new Promise<void>((resolve) => res.on("close", resolve));
  const names = () => [...text.matchAll(/"name":"([^"]+)"/g)].map((m) => m[1]);
  const until = async (what: () => boolean) => {
    for (let i = 0; i < 400 && !what(); i++) await new Promise((resolve) => setTimeout(resolve, 5));
  };
  await until(() => text.includes(": connected"));
  return { publish, names, until, ended, res };
}

describe("event stream with decisions that answer later", () => {
  it("event stream - changes decided late, early or at once are sent in publication order, denied ones never", async () => {
    const delays: Record<string, number> = { a: 30, b: 0, c: 10, secret: 5, d: -1 };
    const s = await stream((c) => {
      const ms = delays[c.name]!;
      if (ms < 0) return true;
      return new Promise((resolve) => setTimeout(() => resolve(c.name !== "secret"), ms));
    });
    for (const n of ["a", "b", "c", "secret", "d"]) s.publish(n);
    await s.until(() => s.names().includes("d"));
    expect(s.names()).toEqual(["a", "b", "c", "d"]);
    s.res.destroy();
  });

  it("event stream - a decision that fails ends the stream instead of dropping the change silently", async () => {
    const s = await stream((c) => (c.name === "bad" ? Promise.reject(new Error("registry unreachable")) : true));
    s.publish("ok");
    s.publish("bad");
    s.publish("after");
    await s.ended;
    expect(s.names()).toEqual(["ok"]);
  });
});
