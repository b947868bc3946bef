import { readFileSync } from "node:fs";
import { Command } from "commander";
import { OperatorClient } from "../client.js";
import { clientFor, type GlobalOptions, readCa, timeoutOf, usageError } from "./context.js";
import { profilePath, readProfile, removeProfile, saveProfile } from "./profiles.js";

function readToken(file: string): string {
  let text: string;
  try {
    text = readFileSync(file === "-" ? 0 : file, "utf8");
  } catch (err) {
    throw usageError(`cannot read the token file ${file}: ${(err as Error).message}`, err);
  }
  const token = text.trim();
  if (!/^opt_\S+$/.test(token)) throw usageError(`${file} does not hold an operator token (opt_...)`);
  return token;
}

function print(o: GlobalOptions, json: unknown, text: string): void {
  process.stdout.write(o.json ? `${JSON.stringify(json, null, 2)}\n` : `${text}\n`);
}

/** `login`, `logout`, `whoami`. */
export function loginCommands(): Command[] {
  const login = new Command("login")
    .description("check a token against a server and save it as a profile (file mode 0600)")
    .requiredOption("--token-file <file>", 'file holding the operator token ("-" reads standard input)')
    .option(
      "--device-ca <file>",
      "CA that issues device certificates, pinned in the profile for tunnels (docs/tunnels.md)",
    )
    .addHelpText(
      "after",
      "\nNeeds --server (or OUTPOST_SERVER); --ca names the CA certificate that signed the server's." +
        " The token is never taken on the command line.\n\nExample:\n" +
        "  $ outpost login --server https://127.0.0.1:8444 --ca ca.pem --token-file admin.token --profile lab",
    )
    .action(async (_o: unknown, cmd: Command) => {
      const o = cmd.optsWithGlobals() as GlobalOptions & { tokenFile: string; deviceCa?: string };
      const server = o.server ?? process.env.OUTPOST_SERVER;
      if (!server) throw usageError("login needs --server https://host:port");
      const token = readToken(o.tokenFile);
      const caFile = o.ca ?? process.env.OUTPOST_CA;
      const ca = caFile !== undefined ? readCa(caFile) : undefined;
      const client = new OperatorClient({
        url: server,
        token,
        timeoutMs: timeoutOf(o),
        ...(ca !== undefined ? { ca } : {}),
      });
      const me = await client.whoami();
      const name = o.profile ?? "default";
      const deviceCa = o.deviceCa !== undefined ? readCa(o.deviceCa) : undefined;
      saveProfile(name, {
        server: client.url,
        token,
        ...(ca !== undefined ? { ca } : {}),
        ...(deviceCa !== undefined ? { deviceCa } : {}),
      });
      print(
        o,
        { profile: name, server: client.url, ...me, file: profilePath() },
        `logged in to ${client.url} as ${me.operator}${me.admin ? " (admin)" : ""}; profile ${name} saved in ${profilePath()}`,
      );
    });

  const logout = new Command("logout")
    .description("forget a saved profile and its token")
    .addHelpText("after", "\nExample:\n  $ outpost logout --profile lab")
    .action(async (_o: unknown, cmd: Command) => {
      const o = cmd.optsWithGlobals() as GlobalOptions;
      const name = o.profile ?? readProfile(undefined)?.name ?? "default";
      if (!removeProfile(name)) throw usageError(`no profile ${name}`);
      print(o, { profile: name, removed: true }, `logged out: profile ${name} removed`);
    });

  const whoami = new Command("whoami")
    .description("show the server and the operator the token belongs to")
    .addHelpText("after", "\nExample:\n  $ outpost whoami --json")
    .action(async (_o: unknown, cmd: Command) => {
      const o = cmd.optsWithGlobals() as GlobalOptions;
      const client = clientFor(o);
      const me = await client.whoami();
      const profile = process.env.OUTPOST_TOKEN ? undefined : readProfile(o.profile)?.name;
      print(
        o,
        { server: client.url, ...(profile ? { profile } : {}), ...me },
        `${me.operator}${me.admin ? " (admin)" : ""} on ${client.url}, token ${me.tokenId}${profile ? `, profile ${profile}` : ""}`,
      );
    });
  return [login, logout, whoami];
}
