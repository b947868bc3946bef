import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "./sshd.js";
import { exitOf } from "./wait.js";

/** A directory user for {@link startSlapd}. */
export interface SlapdUser {
  uid: string;
  password: string;
  /** Written as employeeType; "disabled" is what the tests' disabledFilter looks for. */
  employeeType?: string;
}

/** A real OpenLDAP server on 127.0.0.1 with its own config and database, started for a test. */
export interface Slapd {
  url: string;
  port: number;
  suffix: string;
  /** The service account that may search users and groups. */
  readerDn: string;
  readerPassword: string;
  userBase: string;
  groupBase: string;
  /** DN of a group created by `groups`. */
  groupDn(name: string): string;
  stop(): Promise<void>;
}

const SUFFIX = "dc=outpost,dc=test";

/**
 * Starts slapd (Debian package slapd) with a slapd.conf of its own (mdb backend, the core, cosine,
 * nis and inetorgperson schemas), loaded with slapadd: users under ou=people (SSHA passwords),
 * groups of names under ou=groups, and a reader service account. Listens on a free port of
 * 127.0.0.1 only.
 */
export async function startSlapd(users: SlapdUser[], groups: Record<string, string[]>): Promise<Slapd> {
  const dir = mkdtempSync(join(tmpdir(), "outpost-slapd-"));
  const db = join(dir, "db");
  mkdirSync(db);
  const readerPassword = "reader-secret-1";
  const conf = join(dir, "slapd.conf");
  writeFileSync(
    conf,
    [
      "include /etc/ldap/schema/core.schema",
      "include /etc/ldap/schema/cosine.schema",
      "include /etc/ldap/schema/nis.schema",
      "include /etc/ldap/schema/inetorgperson.schema",
      "modulepath /usr/lib/ldap",
      "moduleload back_mdb",
      `pidfile ${join(dir, "slapd.pid")}`,
      `argsfile ${join(dir, "slapd.args")}`,
      "database mdb",
      `suffix "${SUFFIX}"`,
      `rootdn "cn=admin,${SUFFIX}"`,
      `directory ${db}`,
      "maxsize 16777216",
      "access to attrs=userPassword by anonymous auth by * none",
      `access to * by dn.exact="cn=reader,${SUFFIX}" read by self read by anonymous auth by * none`,
      "",
    ].join("\n"),
  );
  const ssha = (pw: string) => execFileSync("slappasswd", ["-s", pw], { encoding: "utf8" }).trim();
  const entries = [
    `dn: ${SUFFIX}\nobjectClass: dcObject\nobjectClass: organization\ndc: outpost\no: Outpost test`,
    `dn: ou=people,${SUFFIX}\nobjectClass: organizationalUnit\nou: people`,
    `dn: ou=groups,${SUFFIX}\nobjectClass: organizationalUnit\nou: groups`,
    `dn: cn=reader,${SUFFIX}\nobjectClass: organizationalRole\nobjectClass: simpleSecurityObject\ncn: reader\nuserPassword: ${ssha(readerPassword)}`,
    ...users.map(
      (u) =>
        `dn: uid=${u.uid},ou=people,${SUFFIX}\nobjectClass: inetOrgPerson\nuid: ${u.uid}\ncn: ${u.uid}\nsn: ${u.uid}\n` +
        `userPassword: ${ssha(u.password)}` +
        (u.employeeType ? `\nemployeeType: ${u.employeeType}` : ""),
    ),
    ...Object.entries(groups).map(
      ([name, members]) =>
        `dn: cn=${name},ou=groups,${SUFFIX}\nobjectClass: groupOfNames\ncn: ${name}\n` +
        members.map((m) => `member: uid=${m},ou=people,${SUFFIX}`).join("\n"),
    ),
  ];
  writeFileSync(join(dir, "data.ldif"), `${entries.join("\n\n")}\n`);
  execFileSync("slapadd", ["-q", "-f", conf, "-l", join(dir, "data.ldif")], { stdio: "pipe" });
  const port = await freePort();
  const url = `ldap://127.0.0.1:${port}`;
  // -d 0: stay in the foreground (no fork), so the test owns the process.
  const child: ChildProcess = spawn("/usr/sbin/slapd", ["-d", "0", "-f", conf, "-h", `${url}/`], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  let log = "";
  child.stderr!.on("data", (d: Buffer) => (log += d.toString()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
    await exitOf("slapd", child);
    rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (child.exitCode !== null) {
      await stop();
      throw new Error(`slapd exited ${child.exitCode}:\n${log}`);
    }
    if (await accepts(port)) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`slapd did not listen on ${port}:\n${log}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url,
    port,
    suffix: SUFFIX,
    readerDn: `cn=reader,${SUFFIX}`,
    readerPassword,
    userBase: `ou=people,${SUFFIX}`,
    groupBase: `ou=groups,${SUFFIX}`,
    groupDn: (name) => `cn=${name},ou=groups,${SUFFIX}`,
    stop,
  };
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, "127.0.0.1");
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}
