export const REDACTED = '[redacted]';

/** Keys whose values are secrets wherever they appear (request bodies, before/after states, responses). */
const SECRET_KEY = /pass(word)?|secret|token|hash|key$|^authorization$|^cookie$/i;

/** A deep copy of `value` with every secret-named field replaced; safe to store in the audit log. */
export function redactSecrets(value: unknown, depth = 0): unknown {
  if (depth > 20 || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((v) => redactSecrets(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    if (SECRET_KEY.test(k) && k !== 'passwordUpdatedAt' && k !== 'mustChangePassword' && typeof v !== 'boolean') {
      out[k] = v === undefined || v === null ? v : REDACTED;
    } else {
      out[k] = redactSecrets(v, depth + 1);
    }
  }
  return out;
}
