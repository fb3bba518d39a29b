import { authBurstRule } from './auth-burst.rule';
import { daemonRule } from './daemon.rule';
import { sourceRule } from './source.rule';
import { storageLowRule } from './storage-low.rule';
import { transferFailedRule } from './transfer-failed.rule';
import type { AlertRule } from './types';

export * from './types';
export * from './exit-codes';
export * from './settings';
export * from './reconcile';
export { isLow } from './storage-low.rule';

/**
 * Every rule the server evaluates, in display order. A new rule is one file exporting an AlertRule, added here
 * (plus, if it needs new facts, a field of AlertInputs that AlertInputsCollector fills).
 */
export const ALERT_RULES: readonly AlertRule[] = [daemonRule, transferFailedRule, authBurstRule, storageLowRule, sourceRule];
