import { Command } from "commander";
import { EmsConfig } from "../config/ems-config.js";
import { examples, dirOf, withDir } from "./util.js";

type DirOpts = { dir?: string };

/** `identities list|remove NAME`. */
export function identitiesCommand(): Command {
  const identities = examples(
    new Command("identities").description(
      "the device identities of this daemon (add one with outpost-ems init --bundle B --identity NAME)",
    ),
    [
      "outpost-ems init --bundle ./bundle-meter-2 --identity metering",
      "outpost-ems identities list",
      'outpost-ems config set things \'[{"name":"meter-2"}]\' --identity metering',
      "outpost-ems identities remove metering",
    ],
  );
  withDir(identities.command("list"))
    .description("every identity: name, device, server, Things (the first is the default)")
    .option("--json", "as JSON")
    .action((o: DirOpts & { json?: boolean }) => {
      const rows = EmsConfig.open(dirOf(o))
        .identities()
        .map((i) => ({
          name: i.name,
          deviceId: i.data.device.id ?? null,
          url: i.data.server.url ?? null,
          things: i.data.things.map((t) => t.name),
          queueDir: i.queueDir,
        }));
      if (o.json) {
        console.log(JSON.stringify(rows, null, 2));
        return;
      }
      for (const r of rows) {
        console.log(
          `${r.name}  device ${r.deviceId ?? "?"}  ${r.url ?? "(no server.url)"}  Things: ${r.things.join(", ") || "none"}`,
        );
      }
    });
  withDir(identities.command("remove"))
    .description("remove a further identity from config.json (takes effect at the next start)")
    .argument("<name>", "the identity")
    .action((name: string, o: DirOpts) => {
      const config = EmsConfig.open(dirOf(o));
      const identity = config.identities().find((i) => i.name === name);
      config.removeIdentity(name);
      process.stderr.write(
        `removed identity ${name}; its queue (${identity?.queueDir}) and audit log stay on disk: values still queued there are sent only if an identity of that name is added again\n`,
      );
    });
  return identities;
}
