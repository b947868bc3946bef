import { basename } from "node:path";
import { Command } from "commander";
import { ErrorCode, OutpostError } from "@outpost/protocol";
import type { OperatorClient } from "../client.js";
import { fileChecksums } from "../files.js";
import type { FileTransfer } from "../generated/api.js";
import { clientFor, type GlobalOptions, usageError } from "./context.js";
import { table, time, useColor } from "./format.js";
import { bytes, Progress } from "./progress.js";

interface FileOpts extends GlobalOptions {
  wait?: boolean;
  rate?: string;
  device?: string;
  active?: boolean;
}

const POLL_MS = 200;

function opts(cmd: Command): FileOpts {
  return cmd.optsWithGlobals() as FileOpts;
}

function print(o: GlobalOptions, json: unknown, text: () => string): void {
  process.stdout.write(o.json ? `${JSON.stringify(json, null, 2)}\n` : `${text()}\n`);
}

function devicePathOf(arg: string): string {
  if (!/^[^/]+\/.+/.test(arg)) throw usageError(`${arg} is not <vdir>/<path>`);
  return arg;
}

function rateOf(o: FileOpts): number | undefined {
  if (o.rate === undefined) return undefined;
  const n = Number(o.rate);
  if (!Number.isSafeInteger(n) || n <= 0) throw usageError("--rate must be a positive number of bytes per second");
  return n;
}

/** Polls a transfer until it finishes, showing its progress; throws its error when it failed. */
async function waitFor(client: OperatorClient, t: FileTransfer, o: FileOpts, label: string): Promise<FileTransfer> {
  const progress = o.json ? undefined : new Progress(label);
  let current = t;
  try {
    for (;;) {
      if (current.state === "completed") {
        progress?.update(current.size, current.size);
        return current;
      }
      if (current.state === "failed" || current.state === "cancelled") {
        const code = (current.errorCode ?? ErrorCode.Internal) as ErrorCode;
        const why = typeof current.error === "string" ? current.error : "no reason given";
        throw new OutpostError(code, `transfer ${current.id} ${current.state}: ${why}`);
      }
      if (current.state === "running" && current.size > 0) progress?.update(current.bytesDone, current.size);
      await new Promise((r) => setTimeout(r, POLL_MS));
      current = await client.getTransfer(current.id);
    }
  } finally {
    progress?.finish();
  }
}

function checkSums(t: FileTransfer, local: { md5: string; sha256: string }, what: string): void {
  if (t.md5 !== local.md5 || t.sha256 !== local.sha256)
    throw new OutpostError(
      ErrorCode.Integrity,
      `checksums of ${what} differ: local md5 ${local.md5}, transfer md5 ${t.md5}`,
    );
}

function example(cmd: Command, ...lines: string[]): Command {
  return cmd.addHelpText("after", `\nExample:\n${lines.map((l) => `  $ ${l}`).join("\n")}`);
}

/** `files push|pull|ls|transfers|cancel`. */
export function filesCommand(): Command {
  const files = new Command("files").description("move files between this machine and a device's virtual directories");

  files.addCommand(
    example(
      new Command("push")
        .description(
          "upload a local file and push it to <vdir>/<path> on the device; exits 0 once committed with matching checksums",
        )
        .argument("<device>", "device id")
        .argument("<local-file>", "file to send")
        .argument("<target>", "<vdir>/<path> on the device")
        .option("--no-wait", "print the transfer id once it is queued, without waiting")
        .option("--rate <bytes/s>", "bandwidth cap of the transfer"),
      "outpost files push dev-1 ./firmware.bin firmware/v2.bin",
    ).action(async (device: string, localFile: string, target: string, _o: unknown, cmd: Command) => {
      const o = opts(cmd);
      const devicePath = devicePathOf(target);
      const client = clientFor(o);
      const local = await fileChecksums(localFile);
      const repositoryPath = `outpost-cli/push/${devicePath}`;
      const uploading = o.json ? undefined : new Progress("upload");
      const entry = await client.uploadFile(device, repositoryPath, localFile, {
        ...(uploading && { onProgress: (d, t) => uploading.update(d, t) }),
      });
      uploading?.finish();
      if (entry.md5 !== local.md5 || entry.sha256 !== local.sha256)
        throw new OutpostError(ErrorCode.Integrity, `the repository holds other checksums than ${localFile}`);
      const rate = rateOf(o);
      const t = await client.startTransfer(device, {
        direction: "push",
        repositoryPath,
        devicePath,
        ...(rate !== undefined && { maxBytesPerSecond: rate }),
      });
      if (o.wait === false) return print(o, t, () => t.id);
      const done = await waitFor(client, t, o, "push");
      checkSums(done, local, localFile);
      print(
        o,
        done,
        () =>
          `pushed ${basename(localFile)} to ${device}:${devicePath} (${bytes(done.size)}, md5 ${done.md5}, sha256 ${done.sha256})`,
      );
    }),
  );

  files.addCommand(
    example(
      new Command("pull")
        .description("pull <vdir>/<path> from the device and download it; exits 0 once written with matching checksums")
        .argument("<device>", "device id")
        .argument("<source>", "<vdir>/<path> on the device")
        .argument("<local-file>", "where to write it")
        .option("--no-wait", "print the transfer id once it is queued, without waiting (nothing is downloaded)")
        .option("--rate <bytes/s>", "bandwidth cap of the transfer"),
      "outpost files pull dev-1 logs/app.log ./app.log",
    ).action(async (device: string, source: string, localFile: string, _o: unknown, cmd: Command) => {
      const o = opts(cmd);
      const devicePath = devicePathOf(source);
      const client = clientFor(o);
      const repositoryPath = `outpost-cli/pull/${devicePath}`;
      const rate = rateOf(o);
      const t = await client.startTransfer(device, {
        direction: "pull",
        repositoryPath,
        devicePath,
        ...(rate !== undefined && { maxBytesPerSecond: rate }),
      });
      if (o.wait === false) return print(o, t, () => t.id);
      const done = await waitFor(client, t, o, "pull");
      const downloading = o.json ? undefined : new Progress("download");
      const got = await client.downloadFile(device, repositoryPath, localFile, {
        ...(downloading && { onProgress: (d, total) => downloading.update(d, total) }),
      });
      downloading?.finish();
      checkSums(done, got, localFile);
      print(
        o,
        done,
        () =>
          `pulled ${device}:${devicePath} to ${localFile} (${bytes(done.size)}, md5 ${done.md5}, sha256 ${done.sha256})`,
      );
    }),
  );

  files.addCommand(
    example(
      new Command("ls")
        .description("list a directory of the device's virtual directories (live from the device)")
        .argument("<device>", "device id")
        .argument("<path>", "<vdir> or <vdir>/<path>"),
      "outpost files ls dev-1 logs",
    ).action(async (device: string, path: string, _o: unknown, cmd: Command) => {
      const o = opts(cmd);
      const answer = await clientFor(o).listDeviceFiles(device, path);
      print(o, answer, () =>
        table(
          ["NAME", "TYPE", "SIZE", "MODIFIED", "MD5"],
          answer.entries.map((e) => [
            e.type === "directory" ? `${String(e.name)}/` : String(e.name),
            String(e.type),
            Number(e.size),
            time(Number(e.mtimeMs)),
            typeof e.md5 === "string" ? e.md5 : "",
          ]),
          useColor(process.stdout),
        ),
      );
    }),
  );

  files.addCommand(
    example(
      new Command("transfers")
        .description("list file transfers with their state and progress")
        .option("--device <id>", "only this device's")
        .option("--active", "only queued, running and interrupted ones"),
      "outpost files transfers --device dev-1",
    ).action(async (_o: unknown, cmd: Command) => {
      const o = opts(cmd);
      const { transfers } = await clientFor(o).listTransfers({
        ...(o.device !== undefined && { device: o.device }),
        ...(o.active && { active: true }),
      });
      print(o, transfers, () =>
        table(
          ["ID", "DEVICE", "DIRECTION", "STATE", "PROGRESS", "DEVICE PATH", "MD5", "ERROR"],
          transfers.map((t) => [
            t.id,
            t.deviceId,
            t.direction,
            t.state,
            `${bytes(t.bytesDone)}/${bytes(t.size)}`,
            t.devicePath,
            typeof t.md5 === "string" ? t.md5 : "",
            typeof t.errorCode === "string" ? t.errorCode : "",
          ]),
          useColor(process.stdout),
        ),
      );
    }),
  );

  files.addCommand(
    example(
      new Command("cancel").description("cancel a transfer; nothing is left at its target").argument("<transfer-id>"),
      "outpost files cancel 0b6c2f5e-...",
    ).action(async (id: string, _o: unknown, cmd: Command) => {
      const o = opts(cmd);
      const t = await clientFor(o).cancelTransfer(id);
      print(o, t, () => `cancelled ${t.id}`);
    }),
  );
  return files;
}
