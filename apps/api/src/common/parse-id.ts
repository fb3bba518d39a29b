import { createParamDecorator, ExecutionContext, NotFoundException } from '@nestjs/common';

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

/**
 * The route's `:id` through `parseId`: `@IdParam('admin') id: number`. A custom decorator, not a pipe on `@Param`,
 * because the global ValidationPipe would turn the text into a number first (`+"abc"` is NaN, `+"1e3"` is 1000) and
 * the 404 could no longer name what the client asked for.
 */
export const IdParam = (kind: string): ParameterDecorator =>
  createParamDecorator((_: unknown, ctx: ExecutionContext) => parseId(ctx.switchToHttp().getRequest<{ params: Record<string, string> }>().params.id, kind))();
