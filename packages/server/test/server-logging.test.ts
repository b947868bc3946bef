import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { createLogger } from "../src/logging/logger.js";

function capture(): { lines: string[]; stream: Writable } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(chunk.toString("utf8"));
      cb();
    },
  });
  return { lines, stream };
}

describe("server logging", () => {
  it("logging - application keys, tokens, authorization headers, keys and passphrases are redacted", () => {
    const { lines, stream } = capture();
    const logger = createLogger({ destination: stream });
    logger.info(
      {
        appKey: "opk_a_SECRET1",
        token: "opt_b_SECRET2",
        req: { headers: { authorization: "Bearer SECRET3" } },
        tls: { key: "SECRET4", passphrase: "SECRET5" },
        keyId: "visible-key-id",
      },
      "hello",
    );
    const text = lines.join("");
    for (const secret of ["SECRET1", "SECRET2", "SECRET3", "SECRET4", "SECRET5"]) expect(text).not.toContain(secret);
    expect(text).toContain("visible-key-id");
    expect(text).toContain("[redacted]");
  });

  it("logging - level option filters lower levels", () => {
    const { lines, stream } = capture();
    const logger = createLogger({ destination: stream, level: "warn" });
    logger.info("not written");
    logger.warn("written");
    expect(lines.length).toBe(1);
    expect(lines[0]).toContain("written");
  });
});
