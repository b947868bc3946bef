import { describe, expect, it } from "vitest";
import { checkCallback } from "../src/daemon/service-callback.js";

describe("ems - callback service configuration", () => {
  it("accepts loopback http URLs, and any http URL path with a Unix socket", () => {
    for (const callback of [
      "http://127.0.0.1:8080/reset",
      "http://localhost/x",
      "http://[::1]:9/x",
      "http://127.8.0.1/",
    ]) {
      expect(checkCallback("t", { name: "s", callback }).protocol).toBe("http:");
    }
    expect(checkCallback("t", { name: "s", callback: "http://app/reset", socket: "/run/app.sock" }).pathname).toBe(
      "/reset",
    );
  });

  it("refuses other hosts, other schemes, credentials and non-URLs, naming the Thing and service", () => {
    for (const [callback, want] of [
      ["http://192.0.2.10/reset", "192.0.2.10 is not a loopback address"],
      ["http://127.0.0.1.example.com/", "is not a loopback address"],
      ["http://0.0.0.0:80/", "is not a loopback address"],
      ["https://127.0.0.1/reset", "must be an http: URL"],
      ["file:///etc/passwd", "must be an http: URL"],
      ["http://user:pw@127.0.0.1/reset", "must not carry credentials"],
      ["not a url", "is not a URL"],
    ] as const) {
      expect(() => checkCallback("pump-1", { name: "reset", callback })).toThrow(want);
      expect(() => checkCallback("pump-1", { name: "reset", callback })).toThrow("things pump-1: service reset:");
    }
  });
});
