import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  generateAppKey,
  generateOperatorToken,
  hashSecret,
  parseAppKey,
  parseOperatorToken,
  verifySecret,
} from "../src/auth/app-keys.js";

describe("keys", () => {
  it("keys - generated app key has the documented shape and parses back", () => {
    const g = generateAppKey();
    expect(g.token).toMatch(/^opk_[A-Za-z0-9_-]{16}_[A-Za-z0-9_-]{43}$/);
    const p = parseAppKey(g.token);
    expect(p.ok).toBe(true);
    if (!p.ok) return;
    expect(p.id).toBe(g.id);
    expect(hashSecret(p.secret)).toBe(g.secretHash);
    expect(g.token).not.toContain(g.secretHash);
  });

  it("keys - ids never start with a character a command line reads as an option", () => {
    for (let i = 0; i < 2000; i++) {
      expect(generateAppKey().id).toMatch(/^[A-Za-z0-9]/);
      expect(generateOperatorToken().id).toMatch(/^[A-Za-z0-9]/);
    }
  });

  it("keys - secret carries 256 bits: 32 bytes decoded", () => {
    const p = parseAppKey(generateAppKey().token);
    if (!p.ok) throw new Error("parse failed");
    expect(Buffer.from(p.secret, "base64url")).toHaveLength(32);
    expect(Buffer.from(p.id, "base64url")).toHaveLength(12);
  });

  it("keys - two generated keys differ", () => {
    const a = generateAppKey();
    const b = generateAppKey();
    expect(a.id).not.toBe(b.id);
    expect(a.token).not.toBe(b.token);
  });

  it("keys - ids containing underscores still parse by length", () => {
    const token = `opk_${"a_b_".repeat(4)}_${"_".repeat(43)}`;
    const p = parseAppKey(token);
    expect(p).toEqual({ ok: true, id: "a_b_".repeat(4), secret: "_".repeat(43) });
  });

  it("keys - malformed input is a typed failure, never a throw", () => {
    const good = generateAppKey().token;
    const bad: unknown[] = [
      undefined,
      null,
      42,
      {},
      "",
      "opk_",
      good.slice(0, -1),
      `${good}x`,
      good.replace("opk_", "opt_"),
      good.replace(/.$/, "="),
      good.replace(/.$/, "é"),
      `opk_${"a".repeat(16)}-${"b".repeat(43)}`,
    ];
    for (const b of bad) expect(parseAppKey(b)).toEqual({ ok: false, reason: "malformed" });
  });

  it("keys - operator token uses its own prefix", () => {
    const t = generateOperatorToken();
    expect(t.token.startsWith("opt_")).toBe(true);
    expect(parseOperatorToken(t.token).ok).toBe(true);
    expect(parseAppKey(t.token).ok).toBe(false);
    expect(parseOperatorToken(generateAppKey().token).ok).toBe(false);
  });

  it("keys - verifySecret accepts the right secret and refuses others", () => {
    const g = generateAppKey();
    const p = parseAppKey(g.token);
    if (!p.ok) throw new Error("parse failed");
    expect(verifySecret(p.secret, g.secretHash)).toBe(true);
    expect(verifySecret(`${p.secret.slice(0, -1)}A`, g.secretHash)).toBe(p.secret.endsWith("A"));
    expect(verifySecret(p.secret, undefined)).toBe(false);
    expect(verifySecret(p.secret, "abc")).toBe(false);
    expect(verifySecret(p.secret, hashSecret("other"))).toBe(false);
  });

  it("keys - hashSecret is SHA-256 hex", () => {
    expect(hashSecret("abc")).toBe("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  });

  it("keys - random and mutated input only ever parses to a typed result", () => {
    const good = generateAppKey().token;
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.anything(), mutate(good)), (input) => {
        const p = parseAppKey(input);
        if (p.ok) {
          expect(typeof input).toBe("string");
          expect(input).toBe(`opk_${p.id}_${p.secret}`);
        } else {
          expect(p).toEqual({ ok: false, reason: "malformed" });
        }
      }),
      { numRuns: 500 },
    );
  });
});

function mutate(token: string): fc.Arbitrary<string> {
  return fc
    .tuple(fc.nat({ max: token.length - 1 }), fc.string({ minLength: 0, maxLength: 2 }))
    .map(([i, s]) => token.slice(0, i) + s + token.slice(i + 1));
}
