import { existsSync } from "node:fs";
import { ErrorCode, OutpostError } from "@outpost/protocol";
import { Command } from "commander";
import { verifyDeviceAudit } from "../audit/device-audit.js";
import { EmsConfig } from "../config/ems-config.js";
import { emsPaths } from "../config/paths.js";
import { EmsDaemon } from "../daemon/daemon.js";
import { jsonLogger } from "../daemon/json-logger.js";
import { localRequest } from "./local-client.js";
import { dirOf, examples, EXIT_FAILURE, EXIT_USAGE, ExitError, withDir } from "./util.js";

type DirOpts = { dir?: string };

/** `start` and `status`. */
export function daemonCommands(): Command[] {
  const start = examples(
    withDir(new Command("start"))
      .description("run the daemon in the foreground until SIGINT/SIGTERM; JSON logs on stdout")
      .option("--log-level <level>", "debug, info, warn or error", "info"),
    ["outpost-ems start --dir /etc/outpost-ems", "OUTPOST_EMS_DATA_KEY=$(cat /run/keys/ems) outpost-ems start"],
  ).action(async (o: DirOpts & { logLevel: string }) => {
    const level = o.logLevel as "debug" | "info" | "warn" | "error";
    if (!["debug", "info", "warn", "error"].includes(level))
      throw new ExitError(`unknown --log-level ${o.logLevel}`, 2);
    const logger = jsonLogger((line) => process.stdout.write(line), level);
    const config = EmsConfig.open(dirOf(o));
    config.checkKey();
    const fixed = config.encryptPlaintextSecrets();
    if (fixed.length > 0) logger.warn("plaintext secrets found in the configuration were encrypted", { fields: fixed });
    const daemon = new EmsDaemon({ config, logger });
    try {
      await daemon.start();
    } catch (err) {
      await daemon.stop().catch(() => {});
      throw err;
    }
    logger.info("outpost-ems started", {
      dir: config.paths.dir,
      deviceId: config.data.device.id,
      identities: daemon.identities.map((i) => i.name),
      pid: process.pid,
    });
    await new Promise<void>((resolve) => {
      const stop = (signal: string): void => {
        logger.info("stopping", { signal });
        daemon.stop().then(resolve, (err: unknown) => {
          logger.error("stop failed", { error: err as Error });
          resolve();
        });
      };
      process.once("SIGINT", () => stop("SIGINT"));
      process.once("SIGTERM", () => stop("SIGTERM"));
    });
    logger.info("stopped");
  });

  const status = examples(
    withDir(new Command("status"))
      .description("ask the running daemon: connection, queue depth and bytes, overflows, service calls")
      .option("--json", "the whole status as JSON"),
    ["outpost-ems status", "outpost-ems status --json | jq .queue"],
  ).action(async (o: DirOpts & { json?: boolean }) => {
    const config = EmsConfig.open(dirOf(o));
    const socket = config.data.local.socket ?? config.paths.socket;
    let r: { status: number; text: string };
    try {
      r = await localRequest(socket, "GET", "/status");
    } catch (err) {
      throw new ExitError(
        `the daemon is not running (no answer on ${socket}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`,
        EXIT_FAILURE,
      );
    }
    if (r.status !== 200) throw new ExitError(`the daemon answered ${r.status}: ${r.text}`, EXIT_FAILURE);
    if (o.json) {
      console.log(r.text);
      return;
    }
    type IdentityStatus = {
      name?: string;
      deviceId?: string;
      connection: { state: string; url?: string; error?: { message: string } };
      queue: { items: number; bytes: number; maxBytes: number; overflows: number; fsync: string };
    };
    const s = JSON.parse(r.text) as IdentityStatus & {
      identities?: IdentityStatus[];
      services: { waiting: number };
    };
    const all = s.identities ?? [s];
    for (const i of all) {
      if (all.length > 1) console.log(`identity    ${i.name}`);
      console.log(`device      ${i.deviceId ?? "?"}`);
      console.log(
        `connection  ${i.connection.state}${i.connection.url ? ` ${i.connection.url}` : ""}${i.connection.error ? ` (${i.connection.error.message})` : ""}`,
      );
      console.log(
        `queue       ${i.queue.items} items, ${i.queue.bytes} of ${i.queue.maxBytes} bytes, ${i.queue.overflows} overflows, fsync ${i.queue.fsync}`,
      );
    }
    console.log(`services    ${s.services.waiting} calls waiting`);
  });
  return [start, status, csrCommand(), auditCommand()];
}

/** `csr --cn ID`. */
export function csrCommand(): Command {
  return examples(
    withDir(new Command("csr"))
      .description(
        "make the device key here (kept encrypted in config.json) and print a CSR for outpost-server device add --csr",
      )
      .requiredOption("--cn <id>", "the device id")
      .option("--key-type <type>", "rsa (RSA-2048) or p256 (EC P-256)", "rsa")
      .option("--force", "replace a key already in the configuration")
      .option("--identity <name>", "keep the key for this further identity (then init --identity NAME)"),
    [
      "outpost-ems csr --cn pump-1 > pump-1.csr",
      "# on the server: outpost-server device add pump-1 --csr pump-1.csr --out bundle",
      "outpost-ems init --bundle bundle     # takes device.pem from the bundle, the key from here",
    ],
  ).action(async (o: DirOpts & { cn: string; force?: boolean; keyType: string; identity?: string }) => {
    if (o.keyType !== "rsa" && o.keyType !== "p256") {
      throw new OutpostError(ErrorCode.BadRequest, `--key-type ${JSON.stringify(o.keyType)}: use rsa or p256`);
    }
    // node-forge (the CSR encoder) is loaded on first use: evaluating it costs the daemon memory it never needs.
    const { createDeviceCsr } = await import("../config/csr.js");
    process.stdout.write(
      createDeviceCsr({
        dir: dirOf(o),
        cn: o.cn,
        force: o.force === true,
        keyType: o.keyType,
        ...(o.identity !== undefined && { identity: o.identity }),
      }),
    );
  });
}

/** `audit verify`. */
export function auditCommand(): Command {
  const audit = new Command("audit").description(
    "the device's hash-chained audit logs (DIR/audit.log, and DIR/identities/NAME/audit.log for further identities)",
  );
  examples(
    withDir(audit.command("verify"))
      .description("check the chain of each identity's audit log (same verifier as outpost-server audit verify)")
      .option("--identity <name>", "only this identity's log"),
    ["outpost-ems audit verify --dir /etc/outpost-ems", "outpost-ems audit verify --identity metering"],
  ).action((o: DirOpts & { identity?: string }) => {
    const dir = dirOf(o);
    const paths = emsPaths(dir);
    const logs = existsSync(paths.config)
      ? EmsConfig.open(dir)
          .identities()
          .filter((i) => o.identity === undefined || i.name === o.identity)
          .map((i) => i.audit)
      : o.identity === undefined
        ? [paths.audit]
        : [];
    if (logs.length === 0) throw new ExitError(`no identity ${JSON.stringify(o.identity)}`, EXIT_USAGE);
    let broken: string | undefined;
    for (const path of logs) {
      const r = verifyDeviceAudit(path);
      if (r.ok) console.log(`${path}: ok, ${r.records} records, chain intact`);
      else {
        broken ??= `${path}: broken at record ${r.brokenAtSeq}: ${r.reason}`;
        if (logs.length > 1) console.log(`${path}: broken at record ${r.brokenAtSeq}: ${r.reason}`);
      }
    }
    if (broken) throw new ExitError(broken, EXIT_FAILURE);
  });
  return audit;
}
