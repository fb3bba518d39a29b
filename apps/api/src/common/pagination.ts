import { BadRequestException } from '@nestjs/common';

/** Opaque cursors: the id of the last row of the previous page (pages go newest first). */
export function encodeCursor(id: number): string {
  return Buffer.from(`id:${id}`).toString('base64url');
}

export function decodeCursor(cursor: string | undefined): number | null {
  if (!cursor) return null;
  const m = /^id:(\d+)$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  if (!m) throw new BadRequestException('cursor: is not a cursor this API returned');
  return Number(m[1]);
}

export function parseLimit(raw: string | number | undefined, fallback = 50, max = 500): number {
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > max) throw new BadRequestException(`limit: must be an integer from 1 to ${max}`);
  return n;
}

/** ISO 8601 time filter, normalised so it compares with stored ISO text. */
export function parseTime(field: string, raw: string | undefined): string | null {
  if (!raw) return null;
  const d = new Date(raw);
  if (Number.isNaN(d.getTime())) throw new BadRequestException(`${field}: must be an ISO 8601 time, e.g. 2026-01-31T12:00:00Z`);
  return d.toISOString();
}
