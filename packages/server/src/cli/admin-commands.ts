import { resolve } from "node:path";
import { ErrorCode, OutpostError } from "@outpost/protocol";
import { Command } from "commander";
import { onboardDevice } from "../config/onboard.js";
import { parseKeyType } from "../pki/ec.js";
import { assertPermission } from "../registry/names.js";
import type { Permission } from "../registry/types.js";
import {
  cliActor,
  parseDuration,
  parseList,
  readInputFile,
  readPassphraseFile,
  withData,
  withDataDir,
} from "./util.js";

type Opts = Record<string, string | boolean | undefined> & { data: string };

const iso = (ms: number | null) => (ms === null ? "-" : new Date(ms).toISOString());

/** `device add|list|disable|enable`. */
export function deviceCommand(): Command {
  const device = new Command("device").description("manage devices");
  withData(device.command("add <deviceId>"))
    .description("onboard a device: register it, assign Things, issue certificate and application key, write a bundle")
    .option("-t, --things <names>", "comma-separated Things the device may bind")
    .option("-o, --out <dir>", "bundle directory to create (default ./<deviceId>)")
    .option("--passphrase-file <file>", "encrypt the device key with the passphrase in this file")
    .option("--csr <file>", "sign this CSR made on the device (RSA or EC) instead of generating a key")
    .option("--key-type <type>", "type of the generated device key: rsa (RSA-2048) or p256 (EC P-256)", "rsa")
    .option("--key-ttl <duration>", "application key lifetime, e.g. 30d (default: no expiry)")
    .option("--cert-days <days>", "device certificate lifetime in days (default and most 825)")
    .option("--ca-passphrase-file <file>", "passphrase of the CA key, when it is encrypted")
    .option("--description <text>", "free-text description")
    .action(async (deviceId: string, o: Opts) => {
      const pass = readPassphraseFile(o.passphraseFile as string | undefined);
      const caPass = readPassphraseFile(o.caPassphraseFile as string | undefined);
      const r = await onboardDevice(o.data, {
        deviceId,
        things: parseList(o.things as string | undefined),
        outDir: resolve((o.out as string | undefined) ?? deviceId),
        actor: cliActor(),
        ...(pass === undefined ? {} : { passphrase: pass }),
        ...(caPass === undefined ? {} : { caPassphrase: caPass }),
        ...(o.csr === undefined ? {} : { csrPem: readInputFile(o.csr as string, "CSR") }),
        keyType: parseKeyType(o.keyType),
        ...(o.keyTtl === undefined ? {} : { keyTtlMs: parseDuration(o.keyTtl as string) }),
        ...(o.certDays === undefined ? {} : { certDays: Number(o.certDays) }),
        ...(o.description === undefined ? {} : { description: o.description as string }),
      });
      console.log(`device ${r.deviceId} onboarded; bundle written to ${r.files.dir}`);
      console.log(`application key ${r.keyId} is in ${r.files.appKey} (mode 0600); it is not stored anywhere else`);
      console.log("copy the bundle to the device over a trusted channel, then delete it here");
    });
  withData(device.command("list"))
    .description("list devices and their Things")
    .action(async (o: Opts) => {
      await withDataDir(o.data, async ({ registry }) => {
        for (const d of await registry.listDevices()) {
          const things = (await registry.listThings(d.id)).map((t) => t.name);
          console.log(`${d.id}\t${d.disabled ? "disabled" : "enabled"}\t${things.join(",") || "-"}\t${d.description}`);
        }
      });
    });
  withData(device.command("revoke <deviceId>"))
    .description("revoke every application key and every certificate of a device (refused at the TLS handshake)")
    .action(async (deviceId: string, o: Opts) => {
      await withDataDir(o.data, async (ctx) => {
        const { keys, certificates } = await ctx.registry.transaction(async (tx) => {
          const active = (await tx.listKeys(deviceId)).filter((k) => k.revokedAt === null);
          for (const k of active) await tx.revokeKey(k.keyId);
          return { keys: active, certificates: await tx.revokeCertificates(deviceId) };
        });
        ctx.record(`device:${deviceId}`, "device.revoke", { keys: keys.map((k) => k.keyId), certificates });
        console.log(
          `device ${deviceId}: ${keys.length} application key(s) and every certificate revoked; ` +
            "its handshakes are refused and open sessions closed within seconds",
        );
      });
    });
  withData(device.command("certificates <deviceId>"))
    .description("list the certificates issued to a device")
    .action(async (deviceId: string, o: Opts) => {
      await withDataDir(o.data, async ({ registry }) => {
        for (const c of await registry.listCertificates(deviceId)) {
          const state = c.revokedAt !== null ? "revoked" : c.notAfter <= Date.now() ? "expired" : "valid";
          console.log(`${c.serialNumber}\t${state}\tnot after ${iso(c.notAfter)}\t${c.fingerprint256}`);
        }
      });
    });
  for (const [name, disabled] of [
    ["disable", true],
    ["enable", false],
  ] as const) {
    withData(device.command(`${name} <deviceId>`))
      .description(`${name} a device (a disabled device cannot authenticate)`)
      .action(async (deviceId: string, o: Opts) => {
        await withDataDir(o.data, async (ctx) => {
          await ctx.registry.setDeviceDisabled(deviceId, disabled);
          ctx.record(`device:${deviceId}`, `device.${name}`);
          console.log(`device ${deviceId} ${name}d`);
        });
      });
  }
  return device;
}

/** `key add|list|revoke`. */
export function keyCommand(): Command {
  const key = new Command("key").description("manage application keys");
  withData(key.command("add <deviceId>"))
    .description("create another application key for a device (printed once)")
    .option("--ttl <duration>", "lifetime, e.g. 30d (default: no expiry)")
    .option("--label <text>", "label", "")
    .action(async (deviceId: string, o: Opts) => {
      await withDataDir(o.data, async (ctx) => {
        const { key: secret, record } = await ctx.registry.createKey(deviceId, {
          label: o.label as string,
          ...(o.ttl === undefined ? {} : { ttlMs: parseDuration(o.ttl as string) }),
        });
        ctx.record(`device:${deviceId}`, "key.add", { keyId: record.keyId });
        console.log(secret);
        process.stderr.write(`key ${record.keyId} created; expires ${iso(record.expiresAt)}; shown only once\n`);
      });
    });
  withData(key.command("list <deviceId>"))
    .description("list a device's keys (ids only; secrets are never stored)")
    .action(async (deviceId: string, o: Opts) => {
      await withDataDir(o.data, async ({ registry }) => {
        if (!(await registry.getDevice(deviceId)))
          throw new OutpostError(ErrorCode.NotFound, `device ${deviceId} not found`);
        for (const k of await registry.listKeys(deviceId)) {
          const state =
            k.revokedAt !== null ? "revoked" : k.expiresAt !== null && k.expiresAt <= Date.now() ? "expired" : "active";
          console.log(`${k.keyId}\t${state}\texpires ${iso(k.expiresAt)}\tlast used ${iso(k.lastUsedAt)}\t${k.label}`);
        }
      });
    });
  withData(key.command("revoke <keyId>"))
    .description("revoke an application key")
    .action(async (keyId: string, o: Opts) => {
      await withDataDir(o.data, async (ctx) => {
        const k = await ctx.registry.getKey(keyId);
        if (!(await ctx.registry.revokeKey(keyId))) {
          throw k === undefined
            ? new OutpostError(ErrorCode.NotFound, `key ${keyId} not found`)
            : new OutpostError(ErrorCode.Conflict, `key ${keyId} is already revoked`);
        }
        ctx.record(`key:${keyId}`, "key.revoke", { deviceId: k?.deviceId });
        console.log(`key ${keyId} revoked`);
      });
    });
  return key;
}

/** `thing assign`. */
export function thingCommand(): Command {
  const thing = new Command("thing").description("manage Things");
  withData(thing.command("assign <thing> <deviceId>"))
    .description("assign a Thing to a device (creating it)")
    .option("--description <text>", "free-text description")
    .action(async (name: string, deviceId: string, o: Opts) => {
      await withDataDir(o.data, async (ctx) => {
        const before = (await ctx.registry.getThing(name))?.deviceId;
        await ctx.registry.assignThing(name, deviceId, o.description as string | undefined);
        ctx.record(`thing:${name}`, "thing.assign", { deviceId, ...(before ? { previousDeviceId: before } : {}) });
        console.log(`Thing ${name} assigned to ${deviceId}`);
      });
    });
  return thing;
}

/** `grant <operator> <thing> <permission> [--revoke]`. */
export function grantCommand(): Command {
  return withData(new Command("grant"))
    .argument("<operator>", "operator name")
    .argument("<thing>", 'Thing name, or "*" for every Thing (for tunnel.open, file.read, file.write: a device id)')
    .argument(
      "<permission>",
      "property.read | property.write | event.emit | service.execute | tunnel.open | file.read | file.write",
    )
    .description("grant (or with --revoke, take back) an operator's permission on a Thing")
    .option("--revoke", "take the permission back")
    .action(async (operator: string, thing: string, permission: string, o: Opts) => {
      assertPermission(permission);
      await withDataDir(o.data, async (ctx) => {
        const p: Permission = permission;
        if (o.revoke) await ctx.registry.revoke({ kind: "operator", id: operator }, thing, p);
        else await ctx.registry.grant({ kind: "operator", id: operator }, thing, p);
        ctx.record(`operator:${operator}`, o.revoke ? "permission.revoke" : "permission.grant", { thing, permission });
        console.log(
          `${o.revoke ? "revoked" : "granted"} ${permission} on ${thing} ${o.revoke ? "from" : "to"} ${operator}`,
        );
      });
    });
}

/** `restrict <deviceId> <thing> <permission> [--lift]`: least privilege for a device on its own Thing. */
export function restrictCommand(): Command {
  return withData(new Command("restrict"))
    .argument("<deviceId>", "device id")
    .argument("<thing>", "one of the device's own Things")
    .argument("<permission>", "property.read | property.write | event.emit | service.execute")
    .description("take a default permission away from a device on one of its Things (with --lift, give it back)")
    .option("--lift", "give the permission back")
    .action(async (deviceId: string, thing: string, permission: string, o: Opts) => {
      assertPermission(permission);
      await withDataDir(o.data, async (ctx) => {
        if (o.lift) {
          if ((await ctx.registry.getThing(thing))?.deviceId !== deviceId) {
            throw new OutpostError(ErrorCode.NotFound, `Thing ${thing} is not assigned to device ${deviceId}`);
          }
          await ctx.registry.unrestrict(deviceId, thing, permission);
        } else {
          await ctx.registry.restrict(deviceId, thing, permission);
        }
        ctx.record(`device:${deviceId}`, o.lift ? "restriction.lift" : "restriction.add", { thing, permission });
        console.log(
          o.lift
            ? `device ${deviceId} holds ${permission} on ${thing} again`
            : `device ${deviceId} no longer holds ${permission} on ${thing}`,
        );
      });
    });
}
