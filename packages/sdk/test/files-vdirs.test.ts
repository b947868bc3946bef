import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PathRefusedError } from "../src/files/errors.js";
import { parseVdirPath } from "../src/files/paths.js";
import { VirtualDirs } from "../src/files/vdirs.js";

let base: string;
let vdirs: VirtualDirs;

beforeAll(() => {
  base = mkdtempSync(join(tmpdir(), "outpost-vdirs-"));
  mkdirSync(join(base, "logs", "sub"), { recursive: true });
  mkdirSync(join(base, "outside"));
  writeFileSync(join(base, "logs", "app.log"), "hello");
  writeFileSync(join(base, "logs", "sub", "x.txt"), "x");
  writeFileSync(join(base, "outside", "secret"), "secret");
  symlinkSync(join(base, "outside", "secret"), join(base, "logs", "link-out"));
  symlinkSync(join(base, "outside"), join(base, "logs", "dir-out"));
  symlinkSync("app.log", join(base, "logs", "link-in"));
  symlinkSync("/dev/zero", join(base, "logs", "zero"));
  execFileSync("mkfifo", [join(base, "logs", "fifo")]);
  vdirs = new VirtualDirs({ virtualDirs: { logs: join(base, "logs") }, maxFileBytes: 1000 });
});

afterAll(() => rmSync(base, { recursive: true, force: true }));

async function refusal(p: Promise<unknown>): Promise<string> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(Error);
  return `${(err as { code: string }).code}:${(err as PathRefusedError).reason ?? ""}`;
}

describe("files - path strings", () => {
  const cases: [string, string][] = [
    ["", "empty"],
    ["/etc/passwd", "absolute"],
    ["C:/x", "absolute"],
    ["logs/../etc", "parent"],
    ["../logs/x", "parent"],
    ["logs/./x", "parent"],
    ["logs/a\0b", "nul"],
    ["logs\\x", "backslash"],
    ["logs/a\\..\\..\\x", "backslash"],
    ["logs//x", "empty-segment"],
    ["logs/x/", "empty-segment"],
    ["logs", "empty-segment"],
    ["logs/CON", "device-name"],
    ["logs/nul.txt", "device-name"],
    ["logs/com1", "device-name"],
    ["logs/LPT9.log", "device-name"],
    ["logs/aux. ", "device-name"],
    ["logs/.outpost-staging/x", "reserved-name"],
    ["logs/a\nb", "nul"],
  ];
  for (const [path, reason] of cases) {
    it(`files - refuses ${JSON.stringify(path)} (${reason})`, () => {
      let err: unknown;
      try {
        parseVdirPath(path);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(PathRefusedError);
      expect((err as PathRefusedError).code).toBe("OUTPOST_PATH_REFUSED");
      expect((err as PathRefusedError).reason).toBe(reason);
    });
  }

  it("files - accepts plain relative paths", () => {
    expect(parseVdirPath("logs/sub/x.txt")).toEqual({ vdir: "logs", segments: ["sub", "x.txt"] });
    expect(parseVdirPath("logs", true)).toEqual({ vdir: "logs", segments: [] });
    expect(parseVdirPath("logs/..hidden")).toEqual({ vdir: "logs", segments: ["..hidden"] });
  });
});

describe("files - confinement on the opened file", () => {
  it("files - reads a file inside, and through a symlink that stays inside", async () => {
    const f = await vdirs.openRead("logs/app.log");
    expect(f.size).toBe(5);
    await f.handle.close();
    const g = await vdirs.openRead("logs/link-in");
    expect(g.realPath).toBe(join(base, "logs", "app.log"));
    await g.handle.close();
  });

  it("files - a symlink to a file outside is refused", async () => {
    expect(await refusal(vdirs.openRead("logs/link-out"))).toBe("OUTPOST_PATH_REFUSED:outside");
  });

  it("files - a file under a symlinked directory leading out is refused for read and write", async () => {
    expect(await refusal(vdirs.openRead("logs/dir-out/secret"))).toBe("OUTPOST_PATH_REFUSED:outside");
    expect(await refusal(vdirs.prepareWrite("logs/dir-out/new", 1))).toBe("OUTPOST_PATH_REFUSED:outside");
    expect(readdirSync(join(base, "outside"))).toEqual(["secret"]);
  });

  it("files - a device node and a FIFO are refused as not a regular file", async () => {
    expect(await refusal(vdirs.openRead("logs/zero"))).toBe("OUTPOST_PATH_REFUSED:not-a-file");
    expect(await refusal(vdirs.openRead("logs/fifo"))).toBe("OUTPOST_PATH_REFUSED:not-a-file");
    expect(await refusal(vdirs.openRead("logs/sub"))).toBe("OUTPOST_PATH_REFUSED:not-a-file");
  });

  it("files - an unknown vdir and a missing file are typed errors", async () => {
    expect(await refusal(vdirs.openRead("firmware/x"))).toBe("OUTPOST_PATH_REFUSED:unknown-vdir");
    expect(await refusal(vdirs.openRead("logs/missing"))).toBe("OUTPOST_NOT_FOUND:");
  });

  it("files - the size limit and free space are checked before anything is written", async () => {
    expect(await refusal(vdirs.prepareWrite("logs/new/big.bin", 1001))).toBe("OUTPOST_FILE_TOO_LARGE:");
    const roomy = new VirtualDirs({ virtualDirs: { logs: join(base, "logs") }, maxFileBytes: Number.MAX_SAFE_INTEGER });
    expect(await refusal(roomy.prepareWrite("logs/huge.bin", 2 ** 52))).toBe("OUTPOST_INSUFFICIENT_SPACE:");
    expect(readdirSync(join(base, "logs"))).not.toContain("new");
    expect(readdirSync(join(base, "logs"))).not.toContain("huge.bin");
  });

  it("files - a write target inside is prepared, with its directories created", async () => {
    const t = await vdirs.prepareWrite("logs/a/b/c.txt", 10);
    expect(t.target).toBe(join(base, "logs", "a", "b", "c.txt"));
    await t.recheck();
  });

  it("files - listing hides the staging directory and refuses escapes", async () => {
    await vdirs.stagingDirOf("logs");
    const names = (await vdirs.list("logs")).map((e) => e.name);
    expect(names).toContain("app.log");
    expect(names).not.toContain(".outpost-staging");
    expect(await refusal(vdirs.list("logs/dir-out"))).toBe("OUTPOST_PATH_REFUSED:outside");
    expect(await refusal(vdirs.list("logs/app.log"))).toBe("OUTPOST_PATH_REFUSED:not-a-directory");
  });
});
