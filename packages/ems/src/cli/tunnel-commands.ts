import { Command } from "commander";
import { EmsConfig } from "../config/ems-config.js";
import { localRequest } from "./local-client.js";
import { dirOf, examples, EXIT_FAILURE, ExitError, withDir } from "./util.js";

type DirOpts = { dir?: string };

/** `tunnels pending|approve ID|deny ID`, through the running daemon's local API. */
export function tunnelsCommand(): Command {
  const tunnels = examples(new Command("tunnels").description("tunnel requests waiting for approval on this device"), [
    "outpost-ems tunnels pending",
    "outpost-ems tunnels approve 4f0c...",
    "outpost-ems tunnels deny 4f0c...",
  ]);
  withDir(tunnels.command("pending"))
    .description("list requests waiting for a decision")
    .option("--json", "as JSON")
    .action(async (o: DirOpts & { json?: boolean }) => {
      const r = await ask(o, "GET", "/tunnels/pending");
      const { pending } = JSON.parse(r) as { pending: Array<Record<string, string>> };
      if (o.json) console.log(JSON.stringify(pending));
      else if (pending.length === 0) console.log("no tunnel requests waiting");
      else
        for (const p of pending)
          console.log(
            `${p.id}  ${p.target} (${p.address})  from ${p.initiator}  since ${p.since}${p.identity && p.identity !== "default" ? `  identity ${p.identity}` : ""}`,
          );
    });
  for (const verb of ["approve", "deny"] as const) {
    withDir(tunnels.command(verb))
      .description(`${verb} one waiting request`)
      .argument("<id>", "the request id from tunnels pending")
      .action(async (id: string, o: DirOpts) => {
        await ask(o, "POST", `/tunnels/pending/${encodeURIComponent(id)}/${verb}`);
        console.log(`${verb === "approve" ? "approved" : "denied"} ${id}`);
      });
  }
  return tunnels;
}

async function ask(o: DirOpts, method: string, path: string): Promise<string> {
  const config = EmsConfig.open(dirOf(o));
  const socket = config.data.local.socket ?? config.paths.socket;
  let r: { status: number; text: string };
  try {
    r = await localRequest(socket, method, path);
  } catch (err) {
    throw new ExitError(
      `the daemon is not running (no answer on ${socket}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`,
      EXIT_FAILURE,
    );
  }
  if (r.status >= 300) {
    const msg = (JSON.parse(r.text || "{}") as { error?: { message?: string } }).error?.message ?? r.text;
    throw new ExitError(msg, EXIT_FAILURE);
  }
  return r.text;
}
