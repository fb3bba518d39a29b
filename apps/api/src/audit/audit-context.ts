import { AsyncLocalStorage } from 'node:async_hooks';
import type { EntityManager } from 'typeorm';

/**
 * The audited request a piece of code runs for (set by the audit interceptor around the controller call). A config
 * change made while it is set writes the request's audit entry inside its own transaction (`auditInTransaction`),
 * so the change and its entry commit together: a crash can never leave a committed change without its entry. The
 * interceptor completes that entry (before/after state) once the response is known.
 */
export interface RequestAudit {
  /** Inserts the entry with `em` and returns its id. */
  insert(em: EntityManager): Promise<number>;
  /** Set once the entry exists. */
  entryId: number | null;
}

const storage = new AsyncLocalStorage<RequestAudit>();

export function runWithRequestAudit<T>(audit: RequestAudit, fn: () => T): T {
  return storage.run(audit, fn);
}

/** Called by the config writer inside its transaction; does nothing outside an audited request or the second time. */
export async function auditInTransaction(em: EntityManager): Promise<void> {
  const audit = storage.getStore();
  if (!audit || audit.entryId !== null) return;
  audit.entryId = await audit.insert(em);
}

/** Forgets an entry id whose transaction rolled back (so a retry within the same request inserts again). */
export function forgetRolledBackAudit(insertedBefore: number | null): void {
  const audit = storage.getStore();
  if (audit && insertedBefore === null) audit.entryId = null;
}

export function currentRequestAudit(): RequestAudit | undefined {
  return storage.getStore();
}
