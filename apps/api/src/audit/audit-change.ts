/**
 * Lets a controller hand the audit interceptor the state before and after its change (which only the domain
 * service knows), and override the action or target when one route does several things.
 */
export interface AuditChange {
  before?: unknown;
  after?: unknown;
  action?: string;
  target?: string;
}

const KEY = Symbol.for('rsynchub.auditChange');

export function setAuditChange(req: unknown, change: AuditChange): void {
  (req as Record<symbol, AuditChange>)[KEY] = { ...(req as Record<symbol, AuditChange>)[KEY], ...change };
}

export function auditChangeOf(req: unknown): AuditChange | undefined {
  return (req as Record<symbol, AuditChange>)[KEY];
}
