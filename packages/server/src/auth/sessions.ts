import { createHash, timingSafeEqual } from "node:crypto";

/**
 * Browser sessions: the login token travels in an HttpOnly cookie that scripts cannot read, and
 * every state-changing request made with it must also carry the session's CSRF token in the
 * `X-Outpost-CSRF` header. Another site can make a browser send the cookie (SameSite=Strict already
 * stops that in current browsers) but cannot read the CSRF token nor set a custom header on a
 * cross-site form, so a forged request is refused. The CSRF token is derived from the session
 * token (SHA-256), so the server stores nothing more and the session token cannot be recovered
 * from it.
 */

/** Cookie holding the session token (HttpOnly). */
export const SESSION_COOKIE = "outpost_session";
/** Cookie holding the CSRF token for the page's scripts (readable, double-submit). */
export const CSRF_COOKIE = "outpost_csrf";
/** Header a state-changing request authenticated by the session cookie must carry. */
export const CSRF_HEADER = "x-outpost-csrf";

/** Methods that change nothing and need no CSRF token. */
export const SAFE_METHODS: ReadonlySet<string> = new Set(["GET", "HEAD", "OPTIONS"]);

/** The CSRF token of a session token. */
export function csrfTokenFor(sessionToken: string): string {
  return createHash("sha256").update(`outpost-csrf\0${sessionToken}`, "utf8").digest("base64url");
}

/** Whether `presented` is the CSRF token of `sessionToken`, compared in constant time. */
export function csrfMatches(sessionToken: string, presented: unknown): boolean {
  if (typeof presented !== "string") return false;
  const expected = Buffer.from(csrfTokenFor(sessionToken));
  const actual = Buffer.from(presented);
  return expected.length === actual.length && timingSafeEqual(expected, actual);
}

/** The value of one cookie in a Cookie header, or undefined. */
export function readCookie(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/** Set-Cookie values that open a session of `maxAgeSeconds`. */
export function sessionCookies(sessionToken: string, maxAgeSeconds: number): string[] {
  const common = `Path=/api; Max-Age=${Math.max(0, Math.floor(maxAgeSeconds))}; Secure; SameSite=Strict`;
  return [
    `${SESSION_COOKIE}=${sessionToken}; ${common}; HttpOnly`,
    `${CSRF_COOKIE}=${csrfTokenFor(sessionToken)}; ${common}`,
  ];
}

/** Set-Cookie values that end a session in the browser. */
export function clearedCookies(): string[] {
  const common = "Path=/api; Max-Age=0; Secure; SameSite=Strict";
  return [`${SESSION_COOKIE}=; ${common}; HttpOnly`, `${CSRF_COOKIE}=; ${common}`];
}
