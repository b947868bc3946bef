import { request } from "node:https";

export interface OperatorResponse {
  status: number;
  body: any;
}

/** One HTTPS request to the operator API, trusting only the given CA. */
export function operatorRequest(
  baseUrl: string,
  ca: string,
  token: string | undefined,
  method: string,
  path: string,
  body?: unknown,
): Promise<OperatorResponse> {
  return new Promise((resolveResponse, reject) => {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const headers: Record<string, string> = {};
    if (token) headers.authorization = `Bearer ${token}`;
    if (payload) {
      headers["content-type"] = "application/json";
      headers["content-length"] = String(payload.length);
    }
    const req = request(new URL(path, baseUrl), { method, ca, headers, timeout: 20_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        let parsed: unknown = text;
        try {
          parsed = text ? JSON.parse(text) : undefined;
        } catch {
          // leave as text
        }
        resolveResponse({ status: res.statusCode ?? 0, body: parsed });
      });
    });
    req.on("timeout", () => req.destroy(new Error("operator request timed out")));
    req.on("error", reject);
    req.end(payload);
  });
}
