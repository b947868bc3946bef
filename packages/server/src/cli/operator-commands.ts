import { readFileSync } from "node:fs";
import { ErrorCode, OutpostError } from "@outpost/protocol";
import { Command } from "commander";
import { hashPassword } from "../auth/passwords.js";
import { withData, withDataDir } from "./util.js";

type Opts = Record<string, string | boolean | undefined> & { data: string };

const iso = (ms: number | null) => (ms === null ? "-" : new Date(ms).toISOString());

/**
 * Reads a password from a file, or standard input for "-": the first line, its line ending
 * removed. The password never comes from the command line, where `ps` and shell history show it.
 */
export function readPasswordFile(path: string): string {
  let text: string;
  try {
    text = readFileSync(path === "-" ? 0 : path, "utf8");
  } catch (err) {
    throw new OutpostError(ErrorCode.InvalidConfig, `cannot read password file ${path}: ${(err as Error).message}`);
  }
  const first = text.split(/\r?\n/)[0] ?? "";
  if (first.length === 0) throw new OutpostError(ErrorCode.InvalidConfig, `password file ${path} is empty`);
  return first;
}

/** `operator add|passwd|token|revoke-token|sessions|logout|list`. */
export function operatorCommand(): Command {
  const op = new Command("operator").description("manage operators (the users of the HTTPS operator API)");
  withData(op.command("add <name>"))
    .description("create an operator and print its bearer token once")
    .option("--admin", "all permissions on every Thing")
    .option("--password-file <file>", 'also set a password for POST /api/login from this file ("-": standard input)')
    .action(async (name: string, o: Opts) => {
      const hash =
        o.passwordFile === undefined ? undefined : await hashPassword(readPasswordFile(o.passwordFile as string));
      await withDataDir(o.data, async (ctx) => {
        const { token } = await ctx.registry.transaction(async (tx) => {
          const created = await tx.createOperator(name, o.admin === true);
          if (hash !== undefined) await tx.credentials.setPassword(name, hash);
          return created;
        });
        ctx.record(`operator:${name}`, "operator.add", { admin: o.admin === true, password: hash !== undefined });
        console.log(token);
        process.stderr.write(`operator ${name} created; the token above is shown only once\n`);
      });
    });
  withData(op.command("passwd <name>"))
    .description("set (or with --clear, remove) an operator's password; its login sessions and tokens are revoked")
    .option("--password-file <file>", 'the new password, first line of this file ("-": standard input)')
    .option("--clear", "remove the password (the operator can then log in only with a directory or a bearer token)")
    .action(async (name: string, o: Opts) => {
      if ((o.passwordFile === undefined) === (o.clear === undefined)) {
        throw new OutpostError(ErrorCode.BadRequest, "give exactly one of --password-file and --clear");
      }
      const hash = o.clear ? undefined : await hashPassword(readPasswordFile(o.passwordFile as string));
      await withDataDir(o.data, async (ctx) => {
        if (!(await ctx.registry.credentials.operator(name))) {
          throw new OutpostError(ErrorCode.NotFound, `operator ${name} not found`);
        }
        const revoked = await ctx.registry.transaction(async (tx) => {
          if (hash === undefined) await tx.credentials.clearPassword(name);
          else await tx.credentials.setPassword(name, hash);
          return tx.credentials.revokeAll(name);
        });
        ctx.record(`operator:${name}`, hash === undefined ? "operator.password.clear" : "operator.password.set", {
          loginTokensRevoked: revoked,
        });
        console.log(`password of ${name} ${hash === undefined ? "removed" : "set"}; ${revoked} login token(s) revoked`);
      });
    });
  withData(op.command("token <name>"))
    .description("issue another token for an operator (for rotation) and print it once")
    .action(async (name: string, o: Opts) => {
      await withDataDir(o.data, async (ctx) => {
        const { token, tokenId } = await ctx.registry.createOperatorToken(name);
        ctx.record(`operator:${name}`, "operator.token.add", { tokenId });
        console.log(token);
        process.stderr.write(`token ${tokenId} created for ${name}; shown only once\n`);
      });
    });
  withData(op.command("revoke-token <tokenId>"))
    .description("revoke an operator token or a login session/token by its id (the 16 characters after opt_)")
    .action(async (tokenId: string, o: Opts) => {
      await withDataDir(o.data, async (ctx) => {
        const login = await ctx.registry.credentials.revoke(tokenId);
        if (!login && !(await ctx.registry.revokeOperatorToken(tokenId))) {
          throw new OutpostError(ErrorCode.NotFound, `no active operator token ${tokenId}`);
        }
        ctx.record(`operator-token:${tokenId}`, "operator.token.revoke", { login });
        console.log(`operator token ${tokenId} revoked`);
      });
    });
  withData(op.command("sessions [name]"))
    .description("list the live login sessions and tokens (of one operator, or all)")
    .action(async (name: string | undefined, o: Opts) => {
      await withDataDir(o.data, async ({ registry }) => {
        for (const t of await registry.credentials.listActive(name)) {
          const scope = t.scope === null ? "full" : JSON.stringify(t.scope);
          console.log(
            `${t.tokenId}\t${t.operator}\t${t.kind}\t${t.authenticator}\tfrom ${t.source}\texpires ${iso(t.expiresAt)}\tscope ${scope}`,
          );
        }
      });
    });
  withData(op.command("logout <name>"))
    .description("revoke every login session and token of an operator (its `operator add` tokens stay)")
    .action(async (name: string, o: Opts) => {
      await withDataDir(o.data, async (ctx) => {
        if (!(await ctx.registry.credentials.operator(name))) {
          throw new OutpostError(ErrorCode.NotFound, `operator ${name} not found`);
        }
        const n = await ctx.registry.credentials.revokeAll(name);
        ctx.record(`operator:${name}`, "operator.logout", { loginTokensRevoked: n });
        console.log(`${n} login session(s) and token(s) of ${name} revoked`);
      });
    });
  withData(op.command("list"))
    .description("list operators")
    .action(async (o: Opts) => {
      await withDataDir(o.data, async ({ registry }) => {
        for (const x of await registry.listOperators()) {
          const pw = (await registry.credentials.passwordHash(x.name)) === undefined ? "-" : "password";
          console.log(`${x.name}\t${x.admin ? "admin" : "-"}\t${pw}`);
        }
      });
    });
  return op;
}
