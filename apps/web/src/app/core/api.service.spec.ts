import { TestBed } from '@angular/core/testing';
import { provideHttpClient } from '@angular/common/http';
import { HttpTestingController, provideHttpClientTesting } from '@angular/common/http/testing';
import { ApiService } from './api.service';
import type { ApiError } from './api-error';

describe('ApiService', () => {
  let api: ApiService;
  let http: HttpTestingController;

  beforeEach(() => {
    TestBed.configureTestingModule({ providers: [provideHttpClient(), provideHttpClientTesting()] });
    api = TestBed.inject(ApiService);
    http = TestBed.inject(HttpTestingController);
  });
  afterEach(() => http.verify());

  it('rejects with the server message and details, never a raw HttpErrorResponse', async () => {
    const p = api.createModule({ name: 'm', path: '/etc' });
    const req = http.expectOne('/api/v1/modules');
    expect(req.request.method).toBe('POST');
    expect(req.request.body).toEqual({ name: 'm', path: '/etc' });
    req.flush(
      { statusCode: 400, error: 'validation', message: 'invalid module', details: [{ field: 'path', message: 'must be inside one of the module roots (/srv)' }] },
      { status: 400, statusText: 'Bad Request' },
    );
    const err = (await p.catch((e: unknown) => e)) as ApiError;
    expect(err.status).toBe(400);
    expect(err.message).toBe('invalid module');
    expect(err.details).toEqual([{ field: 'path', message: 'must be inside one of the module roots (/srv)' }]);
  });

  it('passes purge and removeGrants as query flags only when asked', async () => {
    const keep = api.deleteModule('m', false);
    http.expectOne('/api/v1/modules/m').flush({ name: 'm', purged: false });
    await keep;
    const purge = api.deleteModule('m', true);
    http.expectOne('/api/v1/modules/m?purge=true').flush({ name: 'm', purged: true });
    expect((await purge).purged).toBe(true);
    const del = api.deleteRsyncUser('a b', true);
    http.expectOne('/api/v1/rsync-users/a%20b?removeGrants=true').flush(null, { status: 204, statusText: 'No Content' });
    await del;
  });

  it('builds filtered list queries and skips empty values', async () => {
    const p = api.transfers({ module: 'web', status: 'error', user: '', limit: 20 });
    http.expectOne('/api/v1/transfers?module=web&status=error&limit=20').flush({ items: [], nextCursor: null });
    expect(await p).toEqual({ items: [], nextCursor: null });
    expect(api.url('audit', { actor: 'admin', format: 'csv' })).toBe('/api/v1/audit?actor=admin&format=csv');
  });
});
