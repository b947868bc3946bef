import type { KeyObject } from "node:crypto";
import { createPublicKey } from "node:crypto";
import { existsSync } from "node:fs";
import { ErrorCode, OutpostError } from "@outpost/protocol";
import { Command } from "commander";
import { type AuditAnchor, readAnchor, readAuditPublicKey } from "../audit/checkpoint.js";
import { openDataAuditLog } from "../audit/open.js";
import { verifyAuditLog } from "../audit/verify.js";
import { dataPaths } from "../config/layout.js";
import { withData } from "./util.js";

type Opts = Record<string, string | boolean | undefined> & { data: string };

/**
 * `audit verify`: the chain, every signed checkpoint and an anchor. The public key is taken from
 * `--public-key`, else from `--anchor` (a copy kept elsewhere vouches for its key), else from the
 * data directory's signing key. The anchor is `--anchor`, else `<data>/audit/anchor.json` if any.
 */
function verifyCommand(): Command {
  return withData(new Command("verify"))
    .description("check the audit log: hash chain, signed checkpoints, and that it reaches its anchor")
    .option("--file <file>", "audit log to check (default <data>/audit.log)")
    .option("--anchor <file>", "anchor kept outside the data directory (default <data>/audit/anchor.json)")
    .option(
      "--public-key <file>",
      "public key that signs checkpoints (default: the anchor's, else the data directory's)",
    )
    .action((o: Opts) => {
      const paths = dataPaths(o.data);
      const file = (o.file as string | undefined) ?? paths.audit;
      if (!existsSync(file)) {
        const how = o.file === undefined ? "check --data, or name the log with --file" : "check --file";
        throw new OutpostError(ErrorCode.NotFound, `audit log ${file} not found: ${how}`);
      }
      const anchorFile =
        (o.anchor as string | undefined) ?? (existsSync(paths.auditAnchor) ? paths.auditAnchor : undefined);
      const anchor: AuditAnchor | undefined = anchorFile === undefined ? undefined : readAnchor(anchorFile);
      let publicKey: KeyObject | undefined;
      if (o.publicKey !== undefined) publicKey = readAuditPublicKey(o.publicKey as string);
      else if (o.anchor !== undefined && anchor) publicKey = createPublicKey(anchor.publicKey);
      else if (existsSync(paths.auditKey)) publicKey = readAuditPublicKey(paths.auditKey);
      else if (anchor) publicKey = createPublicKey(anchor.publicKey);
      const r = verifyAuditLog(file, { ...(publicKey && { publicKey }), ...(anchor && { anchor }) });
      if (!r.ok) {
        console.log(`BROKEN at seq ${r.brokenAtSeq}: ${r.reason} (${file})`);
        process.exitCode = 2;
        return;
      }
      const signed = r.signaturesChecked
        ? `${r.checkpoints} signed checkpoints valid, signed through seq ${r.signedThrough}`
        : "checkpoint signatures not checked (no public key)";
      const anchored = anchor ? `, reaches its anchor (seq ${anchor.seq}, ${anchorFile})` : ", no anchor";
      console.log(`ok: ${r.records} records, chain intact, ${signed}${anchored} (${file})`);
      const unsigned = r.records - r.signedThrough;
      if (r.signaturesChecked && unsigned > 0) {
        process.stderr.write(
          `note: the last ${unsigned} records are not covered by a checkpoint yet ("audit anchor" signs them)\n`,
        );
      }
    });
}

/** `audit anchor`: signs everything so far with a fresh checkpoint and prints the anchor. */
function anchorCommand(): Command {
  return withData(new Command("anchor"))
    .description("sign the audit log so far with a new checkpoint and print the anchor (JSON) to keep elsewhere")
    .action(async (o: Opts) => {
      const paths = dataPaths(o.data);
      if (!existsSync(paths.audit)) {
        throw new OutpostError(ErrorCode.NotFound, `audit log ${paths.audit} not found: check --data`);
      }
      const log = openDataAuditLog(paths);
      try {
        const anchor = log.checkpoint();
        process.stderr.write(`checkpoint signed through seq ${anchor.seq}; anchor written to ${paths.auditAnchor}\n`);
        console.log(JSON.stringify(anchor, null, 2));
      } finally {
        await log.close();
      }
    });
}

/** The `audit` command group. */
export function auditCommand(): Command {
  return new Command("audit").description("audit log tools").addCommand(verifyCommand()).addCommand(anchorCommand());
}
