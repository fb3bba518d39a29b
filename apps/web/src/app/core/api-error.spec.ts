import { HttpErrorResponse } from '@angular/common/http';
import { fieldMessages, toApiError } from './api-error';

describe('toApiError', () => {
  const cases: { name: string; err: unknown; status: number; kind: string; message: RegExp; details?: number }[] = [
    {
      name: 'a validation body keeps message and details',
      err: new HttpErrorResponse({ status: 400, error: { statusCode: 400, error: 'validation', message: 'path: must be absolute', details: [{ field: 'path', message: 'must be absolute' }] } }),
      status: 400,
      kind: 'validation',
      message: /^path: must be absolute$/,
      details: 1,
    },
    {
      name: 'a JSON body delivered as text is parsed',
      err: new HttpErrorResponse({ status: 409, error: JSON.stringify({ statusCode: 409, error: 'conflict', message: 'module m grants user u' }) }),
      status: 409,
      kind: 'conflict',
      message: /grants user u/,
    },
    { name: 'status 0 is a network failure', err: new HttpErrorResponse({ status: 0, error: new ProgressEvent('error') }), status: 0, kind: 'network', message: /Cannot reach the server/ },
    { name: 'a bare 403 gets words', err: new HttpErrorResponse({ status: 403, error: null }), status: 403, kind: 'error', message: /role may not/ },
    { name: 'a short text body is shown as is', err: new HttpErrorResponse({ status: 502, error: 'upstream down' }), status: 502, kind: 'error', message: /^upstream down$/ },
    { name: 'an unknown status says its number', err: new HttpErrorResponse({ status: 418, error: null }), status: 418, kind: 'error', message: /HTTP 418/ },
    { name: 'a thrown Error is a client error', err: new Error('boom'), status: -1, kind: 'client', message: /^boom$/ },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const e = toApiError(c.err);
      expect(e.status).toBe(c.status);
      expect(e.kind).toBe(c.kind);
      expect(e.message).toMatch(c.message);
      expect(e.details.length).toBe(c.details ?? 0);
    });
  }

  it('drops malformed detail entries', () => {
    const e = toApiError(new HttpErrorResponse({ status: 400, error: { statusCode: 400, error: 'validation', message: 'bad', details: [null, { field: 'name', message: 'x' }, { message: 'no field' }] } }));
    expect(e.details).toEqual([{ field: 'name', message: 'x' }]);
  });
});

describe('fieldMessages', () => {
  const err = {
    status: 400,
    kind: 'validation',
    message: 'invalid',
    details: [
      { field: 'path', message: 'must be inside one of the module roots (/srv)' },
      { field: 'users[1].name', message: "unknown rsync user 'bob'" },
      { field: 'pathology', message: 'unrelated' },
    ],
  };
  it('matches the field exactly', () => expect(fieldMessages(err, 'path')).toEqual(['must be inside one of the module roots (/srv)']));
  it('matches indexed sub-fields with their index', () => expect(fieldMessages(err, 'users')).toEqual(["[1].name: unknown rsync user 'bob'"]));
  it('is empty without an error', () => expect(fieldMessages(null, 'path')).toEqual([]));
});
