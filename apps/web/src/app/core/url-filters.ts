/**
 * List filters kept in the URL (`/transfers?module=web&status=error`): the query string is the API query itself, so a
 * link shows the same list to whoever opens it, and reload and back/forward restore it. Times are ISO 8601 in the
 * URL (a shared link means the same instant in every time zone) and local `datetime-local` values in the form.
 */

/** What the router's ParamMap offers. */
export interface ParamsLike {
  get(name: string): string | null;
}

/** ISO 8601 -> a `datetime-local` value in local time ('' when empty or not a time). Seconds only when set. */
export function isoToLocal(iso: string | null | undefined): string {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  const p = (n: number) => String(n).padStart(2, '0');
  const base = `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
  return d.getSeconds() ? `${base}:${p(d.getSeconds())}` : base;
}

export interface FilterSpec {
  /** Free-text filters, taken as they are (trimmed). */
  text: readonly string[];
  /** Filters with a fixed set of values; anything else in the URL is ignored. */
  choice?: Record<string, readonly string[]>;
}

/** The API query a URL asks for: known filters only, empty ones and unknown choices left out, times as valid ISO. */
export function queryFromParams(params: ParamsLike, spec: FilterSpec): Record<string, string> {
  const q: Record<string, string> = {};
  for (const k of spec.text) {
    const v = params.get(k)?.trim();
    if (v) q[k] = v;
  }
  for (const [k, allowed] of Object.entries(spec.choice ?? {})) {
    const v = params.get(k);
    if (v && allowed.includes(v)) q[k] = v;
  }
  for (const k of ['from', 'to']) {
    const v = params.get(k);
    if (v && !Number.isNaN(new Date(v).getTime())) q[k] = new Date(v).toISOString();
  }
  return q;
}

/** The filter form's values for a query (every field of the spec, '' when not set). */
export function formFromQuery(q: Record<string, string>, spec: FilterSpec): Record<string, string> {
  const v: Record<string, string> = {};
  for (const k of [...spec.text, ...Object.keys(spec.choice ?? {})]) v[k] = q[k] ?? '';
  v['from'] = isoToLocal(q['from']);
  v['to'] = isoToLocal(q['to']);
  return v;
}

/** How many filters a query sets (shown on the phone's "Filters" button). */
export function activeFilters(q: object): number {
  return Object.values(q).filter((v) => v !== undefined && v !== null && v !== '').length;
}
