import { BadRequestException, ConflictException, NotFoundException } from '@nestjs/common';
import type { FieldError } from '@rsynchub/contracts';

/** 400 naming each field and rule. `details` carries them one by one for forms. */
export class ValidationFailed extends BadRequestException {
  constructor(public readonly details: FieldError[]) {
    super(details.map((d) => `${d.field}: ${d.message}`).join('; '));
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
