// V8's Date#toISOString and Date#toUTCString set up its ICU time-zone cache on first use, which
// pages in about 1 MiB of ICU code and data for the life of the process; a daemon that only ever
// writes UTC does without it. These give the same text from the UTC fields. Years outside
// 0–9999 and invalid dates (RangeError from toISOString) go to the Date methods themselves.

const DAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/** `time.toISOString()`: "2026-12-02T15:30:00.000Z". Default: now. */
export function isoTime(time: Date | number = Date.now()): string {
  const d = typeof time === "number" ? new Date(time) : time;
  const year = d.getUTCFullYear();
  if (!(year >= 0 && year <= 9999)) return d.toISOString();
  return (
    `${pad(year, 4)}-${pad(d.getUTCMonth() + 1, 2)}-${pad(d.getUTCDate(), 2)}` +
    `T${clock(d)}.${pad(d.getUTCMilliseconds(), 3)}Z`
  );
}

/** `time.toUTCString()`, the HTTP date (IMF-fixdate): "Wed, 02 Dec 2026 15:30:00 GMT". Default: now. */
export function httpDate(time: Date | number = Date.now()): string {
  const d = typeof time === "number" ? new Date(time) : time;
  const year = d.getUTCFullYear();
  if (!(year >= 0 && year <= 9999)) return d.toUTCString();
  return `${DAYS[d.getUTCDay()]}, ${pad(d.getUTCDate(), 2)} ${MONTHS[d.getUTCMonth()]} ${pad(year, 4)} ${clock(d)} GMT`;
}

function clock(d: Date): string {
  return `${pad(d.getUTCHours(), 2)}:${pad(d.getUTCMinutes(), 2)}:${pad(d.getUTCSeconds(), 2)}`;
}

function pad(n: number, width: number): string {
  return String(n).padStart(width, "0");
}
