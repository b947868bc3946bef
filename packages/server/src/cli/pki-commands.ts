import { join, resolve } from "node:path";
import { Command } from "commander";
import { readCaKeyFile } from "../config/ca-key.js";
import { assertCanWrite, writePublicFile, writeSecretFile } from "../config/files.js";
import { assertHosts } from "../config/hosts.js";
import { dataPaths } from "../config/layout.js";
import {
  type CertificateAuthority,
  createCertificateAuthority,
  issueDeviceCertificate,
  issueServerCertificate,
} from "../pki/certificates.js";
import { createDeviceCsr, signDeviceCsr } from "../pki/csr.js";
import { isEcCsr, issueP256DeviceCertificate, parseKeyType, signEcDeviceCsr } from "../pki/ec.js";
import { certificateIdentity } from "../pki/identity.js";
import { DEFAULT_DATA_DIR, readInputFile, readPassphraseFile } from "./util.js";

type Opts = Record<string, string | string[] | boolean | undefined>;

const optional = <K extends string, V>(key: K, v: V | undefined): { [P in K]?: V } =>
  (v === undefined ? {} : { [key]: v }) as { [P in K]?: V };

function days(o: Opts): { days?: number } {
  return optional("days", o.days === undefined ? undefined : Number(o.days));
}

/** CA options shared by every signing command: explicit files, or the data directory's CA. */
function withCa(cmd: Command): Command {
  return cmd
    .option("-d, --data <dir>", "take the CA from this data directory", DEFAULT_DATA_DIR)
    .option("--ca-cert <file>", "CA certificate (default <data>/ca/ca.pem)")
    .option("--ca-key <file>", "CA key (default <data>/ca/ca.key)")
    .option("--ca-passphrase-file <file>", "passphrase of the CA key");
}

function loadCa(o: Opts): CertificateAuthority {
  const p = dataPaths(o.data as string);
  const pass = readPassphraseFile(o.caPassphraseFile as string | undefined);
  return {
    certPem: readInputFile((o.caCert as string | undefined) ?? p.caCert, "CA certificate"),
    keyPem: readCaKeyFile((o.caKey as string | undefined) ?? p.caKey, pass),
    ...optional("passphrase", pass),
  };
}

function describe(certPem: string, files: string[]): void {
  const id = certificateIdentity(certPem);
  console.log(`CN=${id.commonName} valid until ${id.notAfter.toISOString()} sha256 ${id.fingerprint256}`);
  for (const f of files) console.log(`wrote ${f}`);
}

const overwrite = (o: Opts) => ({ overwrite: o.force === true });
const FORCE = "replace existing files (without it, an existing key or certificate is never overwritten)";

/** Writes `<name>.pem` (public) and `<name>.key` (0600) into `dir` and describes the certificate. */
function writePair(o: Opts, name: string, pair: { certPem: string; keyPem: string }): void {
  const cert = join(resolve(o.out as string), `${name}.pem`);
  const key = join(resolve(o.out as string), `${name}.key`);
  const write = overwrite(o);
  assertCanWrite([cert, key], write);
  writePublicFile(cert, pair.certPem, write);
  writeSecretFile(key, pair.keyPem, write);
  describe(pair.certPem, [cert, key]);
}

/** `pki ca|server|device|csr|sign-csr`: certificate tooling that writes PEM files (keys 0600). */
export function pkiCommand(): Command {
  const pki = new Command("pki").description("certificate tooling (RSA 2048, SHA-256)");

  pki
    .command("ca")
    .description("create a certificate authority")
    .requiredOption("-o, --out <dir>", "directory for ca.pem and ca.key")
    .option("--cn <name>", "common name", "Outpost CA")
    .option("--days <n>", "lifetime in days (default 3650)")
    .option("--passphrase-file <file>", "encrypt the CA key")
    .option("--force", FORCE)
    .action((o: Opts) => {
      const r = createCertificateAuthority({
        commonName: o.cn as string,
        ...days(o),
        ...optional("passphrase", readPassphraseFile(o.passphraseFile as string | undefined)),
      });
      writePair(o, "ca", r);
    });

  withCa(pki.command("server"))
    .description("issue a TLS server certificate")
    .requiredOption("--host <host...>", "DNS names and IP addresses (subjectAltName)")
    .requiredOption("-o, --out <dir>", "directory for server.pem and server.key")
    .option("--days <n>", "lifetime in days (default 825)")
    .option("--force", FORCE)
    .action((o: Opts) => {
      assertHosts(o.host as string[]);
      const r = issueServerCertificate(loadCa(o), { hosts: o.host as string[], ...days(o) });
      writePair(o, "server", r);
    });

  withCa(pki.command("device <deviceId>"))
    .description("issue a device client certificate and key (prefer `device add` to also register it)")
    .requiredOption("-o, --out <dir>", "directory for device.pem and device.key")
    .option("--days <n>", "lifetime in days (default and most 825)")
    .option("--passphrase-file <file>", "encrypt the device key")
    .option("--key-type <type>", "rsa (RSA-2048) or p256 (EC P-256)", "rsa")
    .option("--force", FORCE)
    .action(async (deviceId: string, o: Opts) => {
      const options = {
        deviceId,
        ...days(o),
        ...optional("passphrase", readPassphraseFile(o.passphraseFile as string | undefined)),
      };
      const r =
        parseKeyType(o.keyType) === "p256"
          ? await issueP256DeviceCertificate(loadCa(o), options)
          : issueDeviceCertificate(loadCa(o), options);
      writePair(o, "device", r);
    });

  pki
    .command("csr <deviceId>")
    .description("on the device: create a key and a signing request; send only device.csr")
    .requiredOption("-o, --out <dir>", "directory for device.csr and device.key")
    .option("--passphrase-file <file>", "encrypt the device key")
    .option("--force", FORCE)
    .action((deviceId: string, o: Opts) => {
      const r = createDeviceCsr({
        deviceId,
        ...optional("passphrase", readPassphraseFile(o.passphraseFile as string | undefined)),
      });
      const csr = join(resolve(o.out as string), "device.csr");
      const key = join(resolve(o.out as string), "device.key");
      assertCanWrite([csr, key], overwrite(o));
      writePublicFile(csr, r.csrPem, overwrite(o));
      writeSecretFile(key, r.keyPem, overwrite(o));
      console.log(`wrote ${csr}\nwrote ${key}`);
    });

  withCa(pki.command("sign-csr <csrFile>"))
    .description("sign a device CSR (RSA or EC) into a client certificate")
    .requiredOption("-o, --out <file>", "certificate file to write")
    .option("--device-id <id>", "require the CSR to be for this device")
    .option("--days <n>", "lifetime in days (default and most 825)")
    .option("--force", FORCE)
    .action(async (csrFile: string, o: Opts) => {
      const csrPem = readInputFile(csrFile, "CSR");
      const options = { ...optional("deviceId", o.deviceId as string | undefined), ...days(o) };
      const certPem = isEcCsr(csrPem)
        ? await signEcDeviceCsr(loadCa(o), csrPem, options)
        : signDeviceCsr(loadCa(o), csrPem, options);
      const out = resolve(o.out as string);
      writePublicFile(out, certPem, overwrite(o));
      describe(certPem, [out]);
    });

  return pki;
}
