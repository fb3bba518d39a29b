/**
 * Deeply nested JSON is refused before it is parsed: JSON.parse copes, but everything after it that walks the body
 * recursively (validation, transformation, audit redaction) would overflow the stack — a 500 from a 200 kB request.
 * No request body of this API nests more than a few levels.
 */
export const MAX_JSON_DEPTH = 32;

/** The deepest nesting of `[`/`{` in JSON text (strings skipped), stopping as soon as `limit` is exceeded. */
export function jsonDepthExceeds(buf: Buffer | string, limit = MAX_JSON_DEPTH): boolean {
  const s = typeof buf === 'string' ? buf : buf.toString('utf8');
  let depth = 0;
  let inString = false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > limit) return true;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return false;
}

/** body-parser `verify` hook: a 400 naming the rule, before any parsing. */
export function rejectDeepJson(_req: unknown, _res: unknown, buf: Buffer): void {
  if (jsonDepthExceeds(buf)) {
    const err = new Error(`request body nests deeper than ${MAX_JSON_DEPTH} levels`) as Error & { status: number; expose: boolean; type: string };
    err.status = 400;
    err.expose = true;
    err.type = 'entity.too.deep';
    throw err;
  }
}
