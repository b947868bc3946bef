import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { ErrorCode } from "../src/errors.js";
import { statusForCode } from "../src/status.js";

const doc = readFileSync(join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..", "docs", "errors.md"), "utf8");

describe("errors doc", () => {
  it("errors - every code is documented with the status it travels with", () => {
    for (const code of Object.values(ErrorCode)) {
      const row = doc.split("\n").find((line) => new RegExp(`^\\| \`${code}\` +\\|`).test(line));
      expect(row, `${code} missing from docs/errors.md`).toBeDefined();
      expect(row?.split("|")[2]?.trim(), code).toBe(String(statusForCode(code)));
    }
  });
});
