import { NotFoundException } from '@nestjs/common';

/**
 * A numeric id from a URL (`/transfers/:id`), taken as the raw string (the global ValidationPipe would already have
 * turned "abc" into NaN and "1e3" into 1000 for a `number` parameter). Anything but digits names nothing that can
 * exist, so it is a plain 404 (`transfer session "abc" does not exist`), not Nest's "Validation failed (numeric
 * string is expected)".
 */
export function parseId(raw: string, kind: string): number {
  const text = String(raw);
  const id = /^\d{1,15}$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(id)) throw new NotFoundException(`${kind} "${text.slice(0, 64)}" does not exist`);
  return id;
}
