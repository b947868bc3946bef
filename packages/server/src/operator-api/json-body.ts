import { ErrorCode, OutpostError } from "@outpost/protocol";

/** Deepest nesting of arrays and objects accepted in a request body. */
export const MAX_JSON_DEPTH = 32;

/**
 * Parses a request body as JSON after checking, in one pass over the text, that arrays and objects
 * nest at most `maxDepth` deep: deeper input (e.g. a megabyte of `[`) would otherwise exhaust the
 * stack of whatever walks the value later. An empty body is `undefined`.
 */
export function parseJsonBody(text: string, maxDepth = MAX_JSON_DEPTH): unknown {
  if (text.trim().length === 0) return undefined;
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) {
      inString = true;
    } else if (c === 0x5b || c === 0x7b) {
      if (++depth > maxDepth) {
        throw new OutpostError(ErrorCode.BadRequest, `request body nests deeper than ${maxDepth} levels`, {
          status: 400,
        });
      }
    } else if (c === 0x5d || c === 0x7d) {
      depth--;
    }
  }
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new OutpostError(ErrorCode.BadRequest, "request body is not valid JSON", { status: 400 });
  }
}
