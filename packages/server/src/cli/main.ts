#!/usr/bin/env node
import { readFileSync } from "node:fs";
import { Command } from "commander";
import { initDataDir } from "../config/init.js";
import { accessCommand } from "./access-commands.js";
import { auditCommand } from "./audit-commands.js";
import { deviceCommand, grantCommand, keyCommand, restrictCommand, thingCommand } from "./admin-commands.js";
import { exportCommand, importCommand } from "./model-commands.js";
import { operatorCommand } from "./operator-commands.js";
import { pkiCommand } from "./pki-commands.js";
import { serve } from "./serve.js";
import { addThingCommands, secretsCommand, templateCommand } from "./template-commands.js";
import { cliActor, parsePort, readPassphraseFile, reportError, withData } from "./util.js";

type Opts = Record<string, string | string[] | boolean | undefined> & { data: string };

function version(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
      version?: string;
    };
    return pkg.version ?? "0.0.0";
  } catch {
    return "0.0.0";
  }
}

/** The `outpost-server` command tree. */
function buildProgram(): Command {
  const program = new Command("outpost-server")
    .description("Outpost reference server: edge endpoint, registry, identity, audit, PKI tooling")
    .version(version())
    .showHelpAfterError();

  withData(program.command("init"))
    .description("create a data directory: CA, server certificate, registry, admin operator, audit log, config")
    .option("--host <host...>", "names and addresses devices use to reach the server", ["localhost", "127.0.0.1"])
    .option("--admin <name>", "name of the first admin operator", "admin")
    .option("--ca-passphrase-file <file>", "encrypt the CA key with the passphrase in this file")
    .option("--force", "move an existing server's files aside and start over")
    .action(async (o: Opts) => {
      const caPass = readPassphraseFile(o.caPassphraseFile as string | undefined);
      const r = await initDataDir(o.data, {
        hosts: o.host as string[],
        adminName: o.admin as string,
        force: o.force === true,
        actor: cliActor(),
        ...(caPass === undefined ? {} : { caPassphrase: caPass }),
      });
      process.stderr.write(`initialised ${r.paths.dir}\n`);
      process.stderr.write(
        `edge ${r.config.edge.publicUrl}, operator API https://${r.config.operator.host}:${r.config.operator.port}\n`,
      );
      process.stderr.write(`admin operator "${o.admin as string}" token (shown only once, keep it safe):\n`);
      console.log(r.adminToken);
    });

  withData(program.command("serve"))
    .description("run the server from a data directory until SIGINT/SIGTERM")
    .option("--edge-port <port>", "override the edge port from config.json (0 picks a free port)")
    .option("--operator-port <port>", "override the operator API port from config.json (0 picks a free port)")
    .option(
      "--log-format <format>",
      "pretty (readable) or json (one object per line); default: pretty on a terminal, json otherwise (env OUTPOST_LOG_FORMAT)",
    )
    .option(
      "--log-level <level>",
      "trace, debug, info, warn, error, fatal or silent; default: logLevel in config.json, info (env OUTPOST_LOG_LEVEL)",
    )
    .action(async (o: Opts) => {
      await serve({
        dataDir: o.data,
        ...(typeof o.logFormat === "string" && { logFormat: o.logFormat }),
        ...(typeof o.logLevel === "string" && { logLevel: o.logLevel }),
        ...(o.edgePort !== undefined && { edgePort: parsePort(o.edgePort, "--edge-port") }),
        ...(o.operatorPort !== undefined && { operatorPort: parsePort(o.operatorPort, "--operator-port") }),
      });
    });

  program.addCommand(accessCommand());
  program.addCommand(exportCommand());
  program.addCommand(importCommand());

  program.addCommand(deviceCommand());
  program.addCommand(keyCommand());
  program.addCommand(addThingCommands(thingCommand()));
  program.addCommand(templateCommand());
  program.addCommand(secretsCommand());
  program.addCommand(grantCommand());
  program.addCommand(restrictCommand());
  program.addCommand(operatorCommand());
  program.addCommand(pkiCommand());

  program.addCommand(auditCommand());
  return program;
}

buildProgram()
  .parseAsync(process.argv)
  .catch((err: unknown) => {
    reportError(err);
    process.exitCode = 1;
  });
