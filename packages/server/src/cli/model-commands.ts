import { renameSync, writeFileSync } from "node:fs";
import { Command } from "commander";
import { exportModel, modelCounts, omittedFromModel } from "../model/export.js";
import { formatModel, ModelFormatError, parseModel } from "../model/format.js";
import { IMPORT_SECTIONS, importModel, ModelImportError } from "../model/import.js";
import { readInputFile, withData, withDataDir } from "./util.js";

type Opts = Record<string, string | boolean | undefined> & { data: string };

/** Writes `text` to `path` through a temporary file and a rename, so a reader never sees half a file. */
function writeAtomically(path: string, text: string): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, text, { mode: 0o600 });
  renameSync(tmp, path);
}

/** `export`: the model of the data directory as a model file (docs/model-export.md). */
export function exportCommand(): Command {
  return withData(new Command("export"))
    .description(
      "write the model (organizations, groups, users, devices, Things, entries, visibility; no secrets) as JSON",
    )
    .option("--out <file>", "write the model file here (default: standard output)")
    .option("--json", "with --out, print a JSON summary instead of a line")
    .addHelpText(
      "after",
      `
Examples:
  outpost-server export --data sandbox --out model.json
  outpost-server export --data /var/lib/outpost > backup-model.json

The file holds no password hash, token, application key or private key: users and devices
imported from it need new credentials (docs/model-export.md).`,
    )
    .action(async (o: Opts) => {
      await withDataDir(o.data, async (ctx) => {
        const doc = await ctx.registry.transaction((tx) => exportModel(tx));
        const counts = modelCounts(doc);
        const omitted = omittedFromModel();
        const left = Object.entries(omitted).filter(([, n]) => n > 0);
        if (left.length > 0) {
          process.stderr.write(
            `warning: not in ${doc.format}, left out: ${left.map(([k, n]) => `${n} ${k}`).join(", ")}\n`,
          );
        }
        if (typeof o.out !== "string") {
          process.stdout.write(formatModel(doc));
        } else {
          writeAtomically(o.out, formatModel(doc));
          if (o.json) console.log(JSON.stringify({ out: o.out, format: doc.format, counts, omitted }, null, 2));
          else
            console.log(
              `exported ${Object.entries(counts)
                .map(([k, n]) => `${n} ${k}`)
                .join(", ")} to ${o.out}`,
            );
        }
        ctx.record("model", "model.export", { counts, omitted, ...(typeof o.out === "string" ? { out: o.out } : {}) });
      });
    });
}

/** `import`: merges a model file into the data directory, all or nothing (docs/model-export.md). */
export function importCommand(): Command {
  return withData(new Command("import"))
    .description(
      "merge a model file into the registry in one transaction: missing items are added, identical ones skipped, any conflict changes nothing",
    )
    .requiredOption("--in <file>", "the model file (from outpost-server export)")
    .option("--dry-run", "check everything, including the registry's rules, and change nothing")
    .option("--replace", "take the file's content for an item that exists with other content (nothing is removed)")
    .option("--json", "print the report as JSON")
    .addHelpText(
      "after",
      `
Examples:
  outpost-server import --data production --in model.json --dry-run
  outpost-server import --data production --in model.json
  outpost-server import --data production --in model.json --replace --json

Exit status 1 when the file is invalid (each problem named by its JSON path, OUTPOST_BAD_REQUEST)
or the import has conflicts (OUTPOST_CONFLICT); the registry is then unchanged.`,
    )
    .action(async (o: Opts) => {
      const text = readInputFile(o.in as string, "model file");
      let doc;
      try {
        doc = parseModel(text);
      } catch (err) {
        if (o.json && err instanceof ModelFormatError) {
          console.log(
            JSON.stringify({ error: { code: err.code, message: err.message, problems: err.problems } }, null, 2),
          );
        }
        throw err;
      }
      await withDataDir(o.data, async (ctx) => {
        const report = await importModel(ctx.registry, doc, {
          replace: o.replace === true,
          dryRun: o.dryRun === true,
        });
        if (report.applied)
          ctx.record("model", "model.import", { in: o.in, replace: report.replace, counts: report.counts });
        if (o.json) console.log(JSON.stringify(report, null, 2));
        else {
          const verb = report.applied ? "imported" : report.conflicts.length > 0 ? "refused" : "dry run, would import";
          console.log(`${verb} ${o.in as string}`);
          for (const s of IMPORT_SECTIONS) {
            const c = report.counts[s];
            if (c.added + c.skipped + c.replaced > 0)
              console.log(`  ${s}: ${c.added} added, ${c.skipped} skipped, ${c.replaced} replaced`);
          }
          for (const c of report.conflicts) console.log(`  conflict ${c.path}: ${c.kind}: ${c.message}`);
        }
        if (report.conflicts.length > 0) throw new ModelImportError(report);
      });
    });
}
