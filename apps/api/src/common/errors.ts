import { BadRequestException, ConflictException, NotFoundException } from '@nestjs/common';
import type { FieldError } from '@rsynchub/contracts';

/** `users[0].access` -> ['users', 0, 'access']: the field's steps, list indexes as numbers (0-based). */
export function fieldPath(field: string): (string | number)[] {
  const steps: (string | number)[] = [];
  for (const m of field.matchAll(/([^.[\]]+)|\[(\d+)\]/g)) steps.push(m[2] !== undefined ? Number(m[2]) : m[1]!);
  return steps;
}

/** The details with their `path` filled in, so every client can place them without parsing `field`. */
export function withPaths(details: FieldError[]): FieldError[] {
  return details.map((d) => ({ field: d.field, message: d.message, path: d.path ?? fieldPath(d.field) }));
}

/** 400 naming each field and rule. `details` carries them one by one for forms. */
export class ValidationFailed extends BadRequestException {
  public readonly details: FieldError[];
  constructor(details: FieldError[]) {
    super(details.map((d) => `${d.field}: ${d.message}`).join('; '));
    this.details = withPaths(details);
  }
}

/** 409 about one field's value (a name already taken): the message as before, plus `details` naming the field. */
export class FieldConflict extends ConflictException {
  public readonly details: FieldError[];
  constructor(field: string, message: string, summary: string) {
    super(summary);
    this.details = withPaths([{ field, message }]);
  }
}

export function notFound(kind: string, name: string): NotFoundException {
  return new NotFoundException(`${kind} "${name}" does not exist`);
}

export function conflict(message: string): ConflictException {
  return new ConflictException(message);
}

/** Throws ValidationFailed when there is any issue. */
export function assertValid(issues: FieldError[]): void {
  if (issues.length > 0) throw new ValidationFailed(issues);
}
