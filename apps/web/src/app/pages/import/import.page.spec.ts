import { settle } from '../../../testing/settle';
import { TestBed, type ComponentFixture } from '@angular/core/testing';
import { provideHttpClient } from '@angular/common/http';
import { HttpTestingController, provideHttpClientTesting } from '@angular/common/http/testing';
import { provideRouter } from '@angular/router';
import type { ImportResponse } from '@rsynchub/contracts';
import { ImportPage } from './import.page';
import { AuthService } from '../../core/auth.service';

const CONF = '[web]\n  path = /srv/hub/web\n  auth users = alice\n[old]\n  path = /etc/old\n';

describe('ImportPage', () => {
  let fixture: ComponentFixture<ImportPage>;
  let http: HttpTestingController;
  let root: HTMLElement;
  const q = <T extends HTMLElement = HTMLElement>(id: string) => root.querySelector<T>(`[data-testid="${id}"]`);
  const text = (id: string) => q(id)?.textContent?.replace(/\s+/g, ' ').trim() ?? null;
  const typeInto = (id: string, value: string) => {
    const el = q<HTMLTextAreaElement>(id)!;
    el.value = value;
    el.dispatchEvent(new Event('input'));
  };
  const submit = async () => {
    q('import-submit')!.click();
    await settle(fixture);
  };

  beforeEach(async () => {
    TestBed.configureTestingModule({ imports: [ImportPage], providers: [provideHttpClient(), provideHttpClientTesting(), provideRouter([])] });
    vi.spyOn(TestBed.inject(AuthService), 'canEdit').mockReturnValue(true);
    http = TestBed.inject(HttpTestingController);
    fixture = TestBed.createComponent(ImportPage);
    root = fixture.nativeElement;
    fixture.detectChanges();
    await settle(fixture);
  });
  afterEach(() => http.verify());

  it('says that secrets are only sent to the server and never shown again', () => {
    expect(text('import-secrets-note')).toMatch(/sent only to the RsyncHub server/);
    expect(text('import-secrets-note')).toMatch(/never shown again/);
  });

  it('asks for the config before calling the server', async () => {
    await submit();
    http.expectNone('/api/v1/import');
    expect(text('import-config-error')).toMatch(/Paste the rsyncd.conf/);
  });

  it('sends the config, secrets and skip flag, then shows created modules, users, generated-password users and the skipped table', async () => {
    typeInto('import-config', CONF);
    typeInto('import-secrets', 'alice:alice-password-1\n');
    q<HTMLInputElement>('import-skip-existing')!.querySelector('input')!.click();
    await submit();

    const req = http.expectOne('/api/v1/import');
    expect(req.request.method).toBe('POST');
    expect(req.request.body).toEqual({ config: CONF, secrets: 'alice:alice-password-1\n', skipExisting: true });
    const res: ImportResponse = {
      createdModules: ['web'],
      createdUsers: ['alice', 'bob'],
      usersWithoutSecret: ['bob'],
      skipped: [
        { kind: 'module', name: 'old', reason: "path '/etc/old' must be inside one of the module roots (/srv/hub)" },
        { kind: 'global', name: 'pid file', reason: 'RsyncHub manages the pid file itself' },
      ],
    };
    req.flush(res);
    await settle(fixture);

    expect(text('import-summary')).toBe('Created 1 module and 2 rsync users; 2 items not imported, see below.');
    expect(q<HTMLAnchorElement>('import-created-module-web')!.getAttribute('href')).toBe('/modules/web');
    expect(q('import-created-user-alice')).not.toBeNull();
    expect(q('import-created-user-bob')).not.toBeNull();
    expect(text('import-users-without-secret')).toMatch(/No password in the secrets file for: bob\..*generated.*Rotate it on the Rsync users page/);

    const rows = [...root.querySelectorAll('[data-testid="import-skipped-table"] tbody tr')].map((tr) =>
      [...tr.querySelectorAll('td')].map((td) => td.textContent!.trim()),
    );
    expect(rows).toEqual([
      ['Module', 'old', "path '/etc/old' must be inside one of the module roots (/srv/hub)"],
      ['Global setting', 'pid file', 'RsyncHub manages the pid file itself'],
    ]);
    // The secrets are gone from the page once the server has them; the config stays for another run.
    expect(q<HTMLTextAreaElement>('import-secrets')!.value).toBe('');
    expect(q<HTMLTextAreaElement>('import-config')!.value).toBe(CONF);
    expect(q('error-banner')).toBeNull();
  });

  it('leaves out an empty secrets box and hides empty result sections', async () => {
    typeInto('import-config', CONF);
    await submit();
    const req = http.expectOne('/api/v1/import');
    expect(req.request.body).toEqual({ config: CONF, skipExisting: false });
    req.flush({ createdModules: [], createdUsers: [], usersWithoutSecret: [], skipped: [] } satisfies ImportResponse);
    await settle(fixture);
    expect(text('import-summary')).toBe('Nothing was created: the config defines no modules.');
    expect(q('import-created-modules')).toBeNull();
    expect(q('import-users-without-secret')).toBeNull();
    expect(q('import-skipped-table')).toBeNull();
  });

  it("shows a 409 in the server's words with a hint to skip existing modules, and keeps the secrets for a retry", async () => {
    typeInto('import-config', CONF);
    typeInto('import-secrets', 'alice:alice-password-1');
    await submit();
    http.expectOne('/api/v1/import').flush(
      { statusCode: 409, error: 'conflict', message: "module 'web' already exists" },
      { status: 409, statusText: 'Conflict' },
    );
    await settle(fixture);
    expect(text('error-banner')).toBe("module 'web' already exists");
    expect(text('import-conflict-hint')).toMatch(/Skip modules that already exist/);
    expect(q('import-result')).toBeNull();
    expect(q<HTMLTextAreaElement>('import-secrets')!.value).toBe('alice:alice-password-1');
  });

  it('shows a 400 with its field details', async () => {
    typeInto('import-config', 'x');
    await submit();
    http.expectOne('/api/v1/import').flush(
      { statusCode: 400, error: 'validation', message: 'invalid request body', details: [{ field: 'config', message: 'must be a string' }] },
      { status: 400, statusText: 'Bad Request' },
    );
    await settle(fixture);
    // The detail once, in words; not the summary plus the same detail in API wording.
    expect(text('error-banner')).toBe('Config must be a string.');
    expect(q('import-conflict-hint')).toBeNull();
  });

  it('fills a textarea from a picked file', async () => {
    const input = q<HTMLInputElement>('import-config-file')!;
    const file = new File([CONF], 'rsyncd.conf', { type: 'text/plain' });
    Object.defineProperty(input, 'files', { value: [file], configurable: true });
    input.dispatchEvent(new Event('change'));
    await settle(fixture);
    expect(q<HTMLTextAreaElement>('import-config')!.value).toBe(CONF);
    expect(text('import-config-loaded')).toMatch(/^Loaded rsyncd\.conf \(\d+ B\)$/);
  });
});
