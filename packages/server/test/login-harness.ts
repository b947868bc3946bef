import { request as httpsRequest } from "node:https";
import { hashPassword } from "../src/auth/passwords.js";
import type { TestPki, TestServer } from "./edge-harness.js";

/** Cheap scrypt parameters for tests (the hash carries them, so verification uses them too). */
export const TEST_SCRYPT = { log2N: 10, r: 8, p: 1 };

/** Sets an operator's password with {@link TEST_SCRYPT}. */
export async function setTestPassword(ts: TestServer, operator: string, password: string): Promise<void> {
  ts.registry.credentials.setPassword(operator, await hashPassword(password, TEST_SCRYPT));
}

export interface HttpReply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  json: any;
}

/** One request to the operator API with any headers. */
export function call(
  ts: TestServer,
  pki: TestPki,
  method: string,
  path: string,
  options: { headers?: Record<string, string>; body?: unknown } = {},
): Promise<HttpReply> {
  return new Promise((resolve, reject) => {
    const body = options.body === undefined ? undefined : JSON.stringify(options.body);
    const headers: Record<string, string> = { "content-type": "application/json", ...options.headers };
    const req = httpsRequest(`${ts.server.operatorUrl}${path}`, { method, headers, ca: pki.caPem }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        let json: unknown = text;
        try {
          json = text ? JSON.parse(text) : undefined;
        } catch {
          // not JSON
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, json });
      });
    });
    req.on("error", reject);
    req.end(body);
  });
}

/** POST /api/login. */
export function login(
  ts: TestServer,
  pki: TestPki,
  body: Record<string, unknown>,
  headers: Record<string, string> = {},
) {
  return call(ts, pki, "POST", "/api/login", { body, headers });
}

/** The `name=value` pairs of a reply's Set-Cookie headers, by name, with their attributes. */
export function cookies(reply: HttpReply): Record<string, { value: string; attributes: string[] }> {
  const out: Record<string, { value: string; attributes: string[] }> = {};
  const raw = reply.headers["set-cookie"];
  for (const line of Array.isArray(raw) ? raw : raw ? [raw] : []) {
    const [pair = "", ...attributes] = line.split(";").map((s) => s.trim());
    const eq = pair.indexOf("=");
    out[pair.slice(0, eq)] = { value: pair.slice(eq + 1), attributes };
  }
  return out;
}
