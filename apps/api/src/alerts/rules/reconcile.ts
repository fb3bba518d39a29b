import type { AlertSeverity } from '@rsynchub/contracts';
import type { AlertCondition } from './types';

export interface OpenAlert {
  id: number;
  key: string;
  severity: AlertSeverity;
  title: string;
  message: string;
  occurrences: number;
  detailsJson: string;
}

export interface Reconciliation {
  /** Conditions with no firing alert: raise (and notify). */
  fire: AlertCondition[];
  /** Firing alerts whose condition still holds and changed (severity, text, count, details): update, no new alert. */
  update: { alert: OpenAlert; condition: AlertCondition }[];
  /** Firing alerts whose condition holds unchanged: only "last seen" moves. */
  unchanged: OpenAlert[];
  /** Firing alerts whose condition no longer holds: resolve (and notify). */
  resolve: OpenAlert[];
}

/**
 * Deduplication in one place: a condition that keeps holding never raises a second alert. `conditions` null means
 * the rule could not tell (its inputs are unknown): nothing fires and nothing resolves.
 */
export function reconcile(open: OpenAlert[], conditions: AlertCondition[] | null): Reconciliation {
  const out: Reconciliation = { fire: [], update: [], unchanged: [], resolve: [] };
  if (conditions === null) {
    out.unchanged = [...open];
    return out;
  }
  const byKey = new Map(open.map((a) => [a.key, a]));
  const seen = new Set<string>();
  for (const c of conditions) {
    if (seen.has(c.key)) continue; // a rule naming one key twice: the first wins
    seen.add(c.key);
    const a = byKey.get(c.key);
    if (!a) {
      out.fire.push(c);
      continue;
    }
    const changed =
      a.severity !== c.severity || a.title !== c.title || a.message !== c.message || a.occurrences !== c.occurrences || a.detailsJson !== JSON.stringify(c.details);
    if (changed) out.update.push({ alert: a, condition: c });
    else out.unchanged.push(a);
  }
  for (const a of open) if (!seen.has(a.key)) out.resolve.push(a);
  return out;
}
