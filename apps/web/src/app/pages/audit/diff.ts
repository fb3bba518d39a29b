/** One changed leaf between an audit entry's `before` and `after`. */
export interface DiffLine {
  path: string;
  kind: 'added' | 'removed' | 'changed' | 'same';
  before?: string;
  after?: string;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Flattens to `a.b[0].c` -> JSON text of the leaf. Arrays of scalars stay one leaf so reorderings read naturally. */
export function flatten(value: unknown, prefix = '', out = new Map<string, string>()): Map<string, string> {
  if (isPlainObject(value)) {
    const keys = Object.keys(value);
    if (!keys.length && prefix) out.set(prefix, '{}');
    for (const k of keys) flatten(value[k], prefix ? `${prefix}.${k}` : k, out);
  } else if (Array.isArray(value) && value.some((v) => typeof v === 'object' && v !== null)) {
    if (!value.length) out.set(prefix, '[]');
    value.forEach((v, i) => flatten(v, `${prefix}[${i}]`, out));
  } else if (value !== undefined) {
    out.set(prefix || '(value)', JSON.stringify(value));
  }
  return out;
}

/** Leaf-level differences, in a stable order; `same` lines are included only when asked. */
export function diffValues(before: unknown, after: unknown, includeSame = false): DiffLine[] {
  const a = flatten(before ?? undefined);
  const b = flatten(after ?? undefined);
  const paths = [...new Set([...a.keys(), ...b.keys()])].sort();
  const out: DiffLine[] = [];
  for (const p of paths) {
    const x = a.get(p);
    const y = b.get(p);
    if (x === undefined) out.push({ path: p, kind: 'added', after: y });
    else if (y === undefined) out.push({ path: p, kind: 'removed', before: x });
    else if (x !== y) out.push({ path: p, kind: 'changed', before: x, after: y });
    else if (includeSame) out.push({ path: p, kind: 'same', before: x, after: y });
  }
  return out;
}
