import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { TICKET_KEY_BYTES, TicketKeyFile } from "../src/config/ticket-keys.js";

const dirs: string[] = [];
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), "outpost-tickets-"));
  dirs.push(d);
  return join(d, "tls", "ticket-keys.json");
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe("TLS ticket keys", () => {
  it("ticket keys - kept in a private file and the same after a restart", () => {
    const path = tmp();
    const first = new TicketKeyFile(path, { maxAgeMs: 60_000 }).current();
    expect(first).toHaveLength(TICKET_KEY_BYTES);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(readFileSync(path, "utf8")).not.toContain(first.toString("hex"));
    expect(new TicketKeyFile(path, { maxAgeMs: 60_000 }).current().equals(first)).toBe(true);
  });

  it("ticket keys - replaced and stored again once older than their maximum age", () => {
    const path = tmp();
    let now = 1_000_000;
    const keys = new TicketKeyFile(path, { maxAgeMs: 60_000, now: () => now });
    const first = keys.current();
    now += 59_000;
    expect(keys.current().equals(first)).toBe(true);
    now += 2_000;
    const second = keys.current();
    expect(second.equals(first)).toBe(false);
    expect(new TicketKeyFile(path, { maxAgeMs: 60_000, now: () => now }).current().equals(second)).toBe(true);
  });

  it("ticket keys - a damaged file is a configuration error naming it", () => {
    const path = tmp();
    new TicketKeyFile(path, { maxAgeMs: 60_000 });
    writeFileSync(path, '{"version":1,"keys":"c2hvcnQ=","createdAt":"2026-01-01T00:00:00Z"}');
    expect(() => new TicketKeyFile(path, { maxAgeMs: 60_000 })).toThrow(/ticket-keys\.json/);
  });
});
