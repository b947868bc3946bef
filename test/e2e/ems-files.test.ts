import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { request as httpsRequest } from "node:https";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ems, EmsProcess } from "../helpers/ems-process.js";
import { ServerProcess } from "../helpers/server-process.js";
import { waitUntil } from "../helpers/wait.js";

/** `md5sum FILE`: the checksum users compare. */
function md5sum(path: string): string {
  const r = spawnSync("md5sum", [path], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`md5sum ${path}: ${r.stderr}`);
  return r.stdout.split(" ")[0]!;
}

describe("ems - file transfers started by local processes", () => {
  let server: ServerProcess;
  let dir: string;
  let data: string;
  let daemon: EmsProcess | undefined;

  /** The operator API's view of this device's repository area. */
  const repository = (method: "PUT" | "GET", path: string, body?: Buffer) =>
    new Promise<{ status: number; body: Buffer }>((resolve, reject) => {
      const req = httpsRequest(
        `${server.operatorUrl}/api/devices/ems-files/repository/${path}`,
        {
          method,
          ca: server.caPem,
          headers: { authorization: `Bearer ${server.adminToken}`, "content-type": "application/octet-stream" },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
        },
      );
      req.on("error", reject);
      req.end(body);
    });

  beforeAll(async () => {
    server = ServerProcess.init();
    await server.start();
    const bundle = server.addDevice("ems-files", ["pump-1"]);
    dir = join(server.dataDir, "..", "ems-files");
    data = join(server.dataDir, "..", "device-data");
    mkdirSync(data, { recursive: true });
    ems(["init", "--dir", dir, "--bundle", bundle.dir, "--url", server.edgeUrl]);
    ems(["config", "set", "files.virtualDirs", JSON.stringify({ data }), "--dir", dir]);
    daemon = await EmsProcess.start(dir);
    await waitUntil(
      "connected",
      async () => (await daemon!.request("GET", "/status")).body?.connection?.state === "connected",
    );
  });

  afterAll(async () => {
    await daemon?.kill();
    await server?.dispose();
  });

  it("ems - an upload with ?wait=true answers once the server committed it, with the MD5 md5sum prints", async () => {
    const file = join(data, "report.bin");
    writeFileSync(file, randomBytes(3 * 1024 * 1024 + 17));
    const r = await daemon!.request("POST", "/files/uploads?wait=true", {
      from: "data/report.bin",
      to: "reports/report.bin",
    });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ direction: "upload", state: "completed", size: 3 * 1024 * 1024 + 17 });
    expect(r.body.md5).toBe(md5sum(file));
    const back = await repository("GET", "reports/report.bin");
    expect(back.status).toBe(200);
    expect(back.body.equals(readFileSync(file))).toBe(true);
  });

  it("ems - a download answers 202 at once, and the transfer can be followed until the file is there", async () => {
    const content = randomBytes(2 * 1024 * 1024 + 5);
    expect((await repository("PUT", "fw/v2.bin", content)).status).toBeLessThan(300);
    const r = await daemon!.request("POST", "/files/downloads", { from: "fw/v2.bin", to: "data/fw/v2.bin" });
    expect(r.status).toBe(202);
    expect(r.body.state).toBe("running");
    const done = await waitUntil("the download to finish", async () => {
      const t = await daemon!.request("GET", `/files/transfers/${r.body.id}`);
      return t.body.state !== "running" ? t.body : undefined;
    });
    expect(done).toMatchObject({ state: "completed", direction: "download" });
    expect(md5sum(join(data, "fw", "v2.bin"))).toBe(done.md5);
    expect(readFileSync(join(data, "fw", "v2.bin")).equals(content)).toBe(true);
    const list = await daemon!.request("GET", "/files/transfers");
    expect(list.body.transfers.map((t: { id: string }) => t.id)).toContain(r.body.id);
  });

  it("ems - a path out of its virtual directory is refused and creates nothing", async () => {
    for (const to of ["data/../../escape.bin", "/etc/escape.bin", "nodir/x.bin"]) {
      const r = await daemon!.request("POST", "/files/downloads?wait=true", { from: "fw/v2.bin", to });
      expect(r.status, to).toBe(400);
      expect(r.body.error?.code ?? r.body.code, to).toBe("OUTPOST_PATH_REFUSED");
    }
    expect(existsSync(join(data, "..", "escape.bin"))).toBe(false);
    const bad = await daemon!.request("POST", "/files/uploads", { from: "data/report.bin" });
    expect(bad.status).toBe(400);
  });

  it("ems - a cancelled download leaves no file at its target", async () => {
    expect((await repository("PUT", "fw/big.bin", randomBytes(4 * 1024 * 1024))).status).toBeLessThan(300);
    const r = await daemon!.request("POST", "/files/downloads", {
      from: "fw/big.bin",
      to: "data/fw/big.bin",
      maxBytesPerSecond: 256 * 1024,
    });
    expect(r.status).toBe(202);
    await waitUntil(
      "some progress",
      async () => (await daemon!.request("GET", `/files/transfers/${r.body.id}`)).body.bytesDone > 0,
    );
    const cancelled = await daemon!.request("DELETE", `/files/transfers/${r.body.id}`);
    expect(cancelled.status).toBe(200);
    expect(cancelled.body.state).toBe("cancelled");
    expect(existsSync(join(data, "fw", "big.bin"))).toBe(false);
    expect(readdirSync(join(data, "fw")).filter((n) => n.includes("big"))).toEqual([]);
    expect((await daemon!.request("DELETE", `/files/transfers/${r.body.id}`)).status).toBe(409);
  });
});
