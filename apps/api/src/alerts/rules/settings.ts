import type { AlertRuleSettings, FieldError } from '@rsynchub/contracts';
import type { AlertRule } from './types';

/** Stored values over the rule's defaults; unknown or ill-typed stored values are ignored (defaults win). */
export function effectiveSettings(rule: AlertRule, stored: Record<string, unknown> | undefined): AlertRuleSettings {
  const out: AlertRuleSettings = { enabled: true, ...rule.defaults };
  if (!stored) return out;
  if (typeof stored.enabled === 'boolean') out.enabled = stored.enabled;
  for (const f of rule.fields) {
    const v = stored[f.name];
    if (f.type === 'boolean' && typeof v === 'boolean') out[f.name] = v;
    if (f.type === 'integer' && typeof v === 'number' && Number.isSafeInteger(v) && v >= (f.min ?? -Infinity) && v <= (f.max ?? Infinity)) out[f.name] = v;
  }
  return out;
}

/** Problems with a settings update, each naming the field and the rule it breaks; empty when valid. */
export function checkRuleSettings(rule: AlertRule, update: unknown): FieldError[] {
  if (update === null || typeof update !== 'object' || Array.isArray(update)) return [{ field: '(body)', message: 'must be a JSON object of settings' }];
  const issues: FieldError[] = [];
  const fields = new Map(rule.fields.map((f) => [f.name, f]));
  for (const [name, value] of Object.entries(update as Record<string, unknown>)) {
    if (name === 'enabled') {
      if (typeof value !== 'boolean') issues.push({ field: name, message: 'must be true or false' });
      continue;
    }
    const f = fields.get(name);
    if (!f) {
      issues.push({ field: name, message: `is not a setting of rule ${rule.id} (settings: enabled, ${rule.fields.map((x) => x.name).join(', ')})` });
      continue;
    }
    if (f.type === 'boolean') {
      if (typeof value !== 'boolean') issues.push({ field: name, message: 'must be true or false' });
      continue;
    }
    const min = f.min ?? Number.MIN_SAFE_INTEGER;
    const max = f.max ?? Number.MAX_SAFE_INTEGER;
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
      issues.push({ field: name, message: `must be an integer from ${min} to ${max}` });
    }
  }
  return issues;
}
