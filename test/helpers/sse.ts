import type { IncomingMessage } from "node:http";
import { request } from "node:https";

export interface EventStream {
  /** Resolves with the first event (parsed JSON `data:`) that satisfies `match`. */
  next(match: (event: any) => boolean, timeoutMs?: number): Promise<any>;
  /** Every event received so far, in order. */
  readonly received: readonly any[];
  close(): void;
}

/** Opens a Server-Sent Events stream on the operator API and parses `data:` lines as JSON. */
export function openEventStream(baseUrl: string, ca: string, token: string, path: string): Promise<EventStream> {
  return new Promise((resolveStream, reject) => {
    const req = request(new URL(path, baseUrl), {
      ca,
      headers: { authorization: `Bearer ${token}`, accept: "text/event-stream" },
    });
    req.on("error", reject);
    req.on("response", (res: IncomingMessage) => {
      if (res.statusCode !== 200) {
        reject(new Error(`event stream answered ${res.statusCode}`));
        res.resume();
        return;
      }
      const seen: any[] = [];
      const waiters: Array<{ match: (e: any) => boolean; resolve: (e: any) => void }> = [];
      let buffer = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => {
        buffer += chunk;
        let idx = buffer.indexOf("\n\n");
        while (idx >= 0) {
          const block = buffer.slice(0, idx);
          buffer = buffer.slice(idx + 2);
          const data = block
            .split("\n")
            .filter((l) => l.startsWith("data:"))
            .map((l) => l.slice(5).trim())
            .join("\n");
          if (data) {
            const event = JSON.parse(data);
            seen.push(event);
            for (const w of [...waiters]) {
              if (w.match(event)) {
                waiters.splice(waiters.indexOf(w), 1);
                w.resolve(event);
              }
            }
          }
          idx = buffer.indexOf("\n\n");
        }
      });
      resolveStream({
        next(match, timeoutMs = 10_000) {
          const already = seen.find(match);
          if (already) return Promise.resolve(already);
          return new Promise((resolveEvent, rejectEvent) => {
            const timer = setTimeout(() => rejectEvent(new Error("no matching event")), timeoutMs);
            waiters.push({
              match,
              resolve: (e) => {
                clearTimeout(timer);
                resolveEvent(e);
              },
            });
          });
        },
        received: seen,
        close() {
          req.destroy();
        },
      });
    });
    req.end();
  });
}
