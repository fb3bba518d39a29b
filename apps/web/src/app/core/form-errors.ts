import { afterNextRender, type Injector } from '@angular/core';
import type { AbstractControl } from '@angular/forms';
import type { FieldError } from '@rsynchub/contracts';
import type { ApiError } from './api-error';

/**
 * One way for every form to show what the server refused: each detail once, in words, on the input it concerns.
 * The server names fields as its API does (`hostsAllow[2]`, `users[0].access`, 0-based); people see the form's
 * labels and "line 3".
 */
export interface FormErrorOptions {
  /** Server field -> the label people see ('hostsAllow' -> 'Hosts allow'). Unlisted fields are spelled out. */
  labels?: Record<string, string>;
  /** How entries of a list field are counted in that field's input: a textarea has lines, a text input entries. */
  lists?: Record<string, 'line' | 'entry'>;
}

/** The steps of a detail's field: the server's `path` when given, else parsed from `field`. */
export function detailPath(d: FieldError): (string | number)[] {
  if (Array.isArray(d.path) && d.path.length) return d.path;
  const steps: (string | number)[] = [];
  for (const m of d.field.matchAll(/([^.[\]]+)|\[(\d+)\]/g)) steps.push(m[2] !== undefined ? Number(m[2]) : m[1]!);
  return steps;
}

/** `maxConnections` -> 'Max connections'; `webhook.url` -> 'Webhook url'. */
export function spellOut(field: string): string {
  const words = field.replace(/[._-]+/g, ' ').replace(/([a-z0-9])([A-Z])/g, '$1 $2').trim().toLowerCase();
  return words ? words[0]!.toUpperCase() + words.slice(1) : field;
}

function sentence(text: string): string {
  const t = text.trim();
  return /[.!?]$/.test(t) ? t : `${t}.`;
}

/** The label of the first step (the form's own words where it has them). */
export function labelOf(field: string, opts: FormErrorOptions = {}): string {
  return opts.labels?.[field] ?? spellOut(field);
}

/**
 * What to show UNDER the field's own input (its label is right above): "Line 3 must be …" for a list entry,
 * "Name is already taken …" for the field itself.
 */
export function messageOnField(d: FieldError, opts: FormErrorOptions = {}): string {
  const [first, index, ...rest] = detailPath(d);
  const field = String(first ?? d.field);
  if (typeof index === 'number') {
    const unit = opts.lists?.[field] === 'entry' ? 'Entry' : 'Line';
    const sub = rest.length ? ` ${rest.map((s) => spellOut(String(s)).toLowerCase()).join(' ')}` : '';
    return sentence(`${unit} ${index + 1}${sub} ${d.message}`);
  }
  return sentence(`${labelOf(field, opts)}${rest.length || index !== undefined ? ' ' + [index, ...rest].map((s) => spellOut(String(s)).toLowerCase()).join(' ') : ''} ${d.message}`);
}

/** A detail said on its own, e.g. in a banner: "Hosts allow, line 3: must be …". */
export function describeFieldError(d: FieldError, opts: FormErrorOptions = {}): string {
  const [first, index, ...rest] = detailPath(d);
  const field = String(first ?? d.field);
  if (typeof index === 'number') {
    const unit = opts.lists?.[field] === 'entry' ? 'entry' : 'line';
    const sub = rest.length ? ` ${rest.map((s) => spellOut(String(s)).toLowerCase()).join(' ')}` : '';
    return sentence(`${labelOf(field, opts)}, ${unit} ${index + 1}${sub}: ${d.message}`);
  }
  return messageOnField(d, opts);
}

/**
 * Puts each server detail on the control named by its first step (`hostsAllow[2]` on `hostsAllow`) as a `server`
 * error, marked touched so it shows at once; the control's next change clears it (Angular re-runs its validators).
 * Returns the details no control of `controls` takes, for the banner.
 */
export function applyServerErrors(
  controls: Record<string, AbstractControl | undefined>,
  error: ApiError | null,
  opts: FormErrorOptions = {},
): FieldError[] {
  if (!error) return [];
  const byControl = new Map<AbstractControl, string[]>();
  const rest: FieldError[] = [];
  for (const d of error.details) {
    const key = String(detailPath(d)[0] ?? d.field);
    // Own keys only: a field named like "constructor" or "__proto__" must not reach Object.prototype.
    const ctrl = Object.prototype.hasOwnProperty.call(controls, key) ? controls[key] : undefined;
    if (!ctrl || ctrl.disabled) {
      rest.push(d);
      continue;
    }
    byControl.set(ctrl, [...(byControl.get(ctrl) ?? []), messageOnField(d, opts)]);
  }
  for (const [ctrl, msgs] of byControl) {
    ctrl.setErrors({ ...(ctrl.errors ?? {}), server: msgs.join(' ') });
    ctrl.markAsTouched();
  }
  return rest;
}

/**
 * The error for a banner once the fields carry their own: null when every detail is on a field (the message would
 * only repeat them), else the same error with only the details left over.
 */
export function bannerRemainder(error: ApiError | null, remaining: FieldError[]): ApiError | null {
  if (!error) return null;
  if (error.details.length > 0 && remaining.length === 0) return null;
  return { ...error, details: remaining };
}

/**
 * Moves focus to the first invalid input of `host` (in page order), else to its error banner: never left on
 * `<body>` after a refused submit. Runs after the next render, when the error texts are in the page.
 */
export function focusFirstProblem(host: HTMLElement, injector: Injector): void {
  afterNextRender(
    () => {
      const field = host.querySelector<HTMLElement>(
        'input.ng-invalid:not([disabled]), select.ng-invalid:not([disabled]), textarea.ng-invalid:not([disabled]), [aria-invalid="true"]:not([disabled])',
      );
      const target = field ?? host.querySelector<HTMLElement>('[data-testid="error-banner"], .field-error');
      if (!target) return;
      if (!field && !target.hasAttribute('tabindex')) target.setAttribute('tabindex', '-1');
      target.focus();
    },
    { injector },
  );
}
