import { HttpErrorResponse } from '@angular/common/http';
import type { ApiErrorBody, FieldError } from '@rsynchub/contracts';

/** An API failure in words, ready to show: what went wrong, and per-field problems when the server named them. */
export interface ApiError {
  status: number;
  /** Short kind from the server ('validation', 'conflict', ...) or 'network' when the server was not reached. */
  kind: string;
  message: string;
  details: FieldError[];
}

function isApiErrorBody(v: unknown): v is ApiErrorBody {
  return typeof v === 'object' && v !== null && typeof (v as ApiErrorBody).message === 'string';
}

const STATUS_WORDS: Record<number, string> = {
  400: 'The request was not accepted.',
  401: 'You are not logged in (or your session expired).',
  403: 'Your role may not do this.',
  404: 'Not found.',
  409: 'This conflicts with the current state.',
  429: 'Too many attempts; wait a moment and try again.',
  500: 'The server failed; see its log.',
  502: 'The server is unreachable (bad gateway).',
  503: 'The server is unavailable right now.',
};

/** Maps anything a request can throw to an ApiError; never loses the server's own message. */
export function toApiError(err: unknown): ApiError {
  if (err instanceof HttpErrorResponse) {
    if (err.status === 0) {
      return { status: 0, kind: 'network', message: 'Cannot reach the server. Check the connection and try again.', details: [] };
    }
    let body: unknown = err.error;
    if (typeof body === 'string') {
      try {
        body = JSON.parse(body);
      } catch {
        /* plain text body */
      }
    }
    if (isApiErrorBody(body)) {
      return {
        status: err.status,
        kind: body.error ?? 'error',
        message: body.message,
        details: Array.isArray(body.details) ? body.details.filter((d) => d && typeof d.field === 'string') : [],
      };
    }
    const text = typeof body === 'string' && body.trim() && body.length < 300 ? body.trim() : null;
    return {
      status: err.status,
      kind: 'error',
      message: text ?? STATUS_WORDS[err.status] ?? `Request failed (HTTP ${err.status}).`,
      details: [],
    };
  }
  if (err && typeof err === 'object' && 'status' in err && 'message' in err && 'details' in err) return err as ApiError;
  return { status: -1, kind: 'client', message: err instanceof Error ? err.message : String(err), details: [] };
}

/** Messages of the details for one form field; `users` also matches `users[0].name`. */
export function fieldMessages(error: ApiError | null, field: string): string[] {
  if (!error) return [];
  return error.details.filter((d) => d.field === field || d.field.startsWith(field + '[') || d.field.startsWith(field + '.')).map((d) => {
    const sub = d.field.slice(field.length);
    return sub ? `${sub.replace(/^\./, '')}: ${d.message}` : d.message;
  });
}
