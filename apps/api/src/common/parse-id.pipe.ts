import { NotFoundException, PipeTransform } from '@nestjs/common';

/**
 * A numeric id in a URL (`/transfers/:id`). Anything else names nothing that can exist, so it is a plain 404
 * ("transfer session \"abc\" does not exist"), not Nest's "Validation failed (numeric string is expected)".
 */
export class ParseIdPipe implements PipeTransform<string, number> {
  constructor(private readonly kind: string) {}

  transform(value: string): number {
    const id = /^\d{1,15}$/.test(value) ? Number(value) : NaN;
    if (!Number.isSafeInteger(id)) throw new NotFoundException(`${this.kind} "${value.slice(0, 64)}" does not exist`);
    return id;
  }
}
