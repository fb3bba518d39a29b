import { settle } from '../../../testing/settle';
import { TestBed, type ComponentFixture } from '@angular/core/testing';
import { provideHttpClient } from '@angular/common/http';
import { HttpTestingController, provideHttpClientTesting } from '@angular/common/http/testing';
import { provideRouter, Router } from '@angular/router';
import type { DaemonStatusDto, ModuleDto, RsyncUserDto } from '@rsynchub/contracts';
import { ModuleFormPage } from './module-form.page';
import { AuthService } from '../../core/auth.service';

const daemon = (storageRoots: string[]) => ({ state: 'running', port: 873, storageRoots }) as unknown as DaemonStatusDto;
const user = (name: string): RsyncUserDto => ({ name, comment: '', createdAt: '', updatedAt: '', passwordUpdatedAt: '', modules: [] });

function typeInto(root: HTMLElement, testid: string, value: string): void {
  const el = root.querySelector<HTMLInputElement | HTMLSelectElement>(`[data-testid="${testid}"]`)!;
  el.value = value;
  el.dispatchEvent(new Event(el instanceof HTMLSelectElement ? 'change' : 'input'));
}

describe('ModuleFormPage (create)', () => {
  let fixture: ComponentFixture<ModuleFormPage>;
  let http: HttpTestingController;
  let root: HTMLElement;

  beforeEach(async () => {
    TestBed.configureTestingModule({
      imports: [ModuleFormPage],
      providers: [provideHttpClient(), provideHttpClientTesting(), provideRouter([])],
    });
    // Logged in as an admin.
    const auth = TestBed.inject(AuthService);
    vi.spyOn(auth, 'canEdit').mockReturnValue(true);
    http = TestBed.inject(HttpTestingController);
    fixture = TestBed.createComponent(ModuleFormPage);
    root = fixture.nativeElement;
    fixture.detectChanges();
    http.expectOne('/api/v1/rsync-users').flush([user('alice'), user('bob')]);
    http.expectOne('/api/v1/daemon').flush(daemon(['/srv/hub', '/mnt/backup']));
    await settle(fixture);
  });
  afterEach(() => http.verify());

  const text = (testid: string) => root.querySelector(`[data-testid="${testid}"]`)?.textContent?.trim() ?? null;
  const submit = async () => {
    root.querySelector<HTMLButtonElement>('[data-testid="module-save"]')!.click();
    await settle(fixture);
  };

  it('shows client-side errors for a bad name and a relative path without calling the server', async () => {
    typeInto(root, 'module-name', 'bad name!');
    typeInto(root, 'module-path', 'relative/dir');
    await submit();
    expect(text('module-name-error')).toMatch(/letters, digits/);
    expect(text('module-path-error')).toMatch(/absolute path/);
    expect(text('error-banner')).toMatch(/Fix the highlighted fields/);
    http.expectNone('/api/v1/modules');
  });

  it("rejects the reserved name 'global'", async () => {
    typeInto(root, 'module-name', 'Global');
    await submit();
    expect(text('module-name-error')).toMatch(/reserved/);
  });

  it("sends the form as a CreateModuleRequest and shows the server's refusal inline and in words", async () => {
    typeInto(root, 'module-name', 'web');
    typeInto(root, 'module-path', '/etc/web');
    typeInto(root, 'module-mode', 'ro');
    typeInto(root, 'grant-user-0', 'bob');
    typeInto(root, 'grant-access-0', 'ro');
    await submit();

    const req = http.expectOne('/api/v1/modules');
    expect(req.request.body).toMatchObject({ name: 'web', path: '/etc/web', readOnly: true, writeOnly: false, users: [{ name: 'bob', access: 'ro' }], hostsAllow: [] });
    req.flush(
      {
        statusCode: 400,
        error: 'validation',
        message: 'invalid module: path must be inside one of the module roots (/srv/hub)',
        details: [
          { field: 'path', message: 'must be inside one of the module roots (/srv/hub)' },
          { field: 'users[0].name', message: "unknown rsync user 'bob'" },
        ],
      },
      { status: 400, statusText: 'Bad Request' },
    );
    await settle(fixture);
    // Each detail once, on what it concerns: no banner repeating them in API wording.
    expect(text('error-banner')).toBeNull();
    expect(text('module-path-error')).toBe('Path on this server must be inside one of the module roots (/srv/hub).');
    expect(text('module-grants-error')).toBe("User 1 (bob): unknown rsync user 'bob'");

    // Fixing the field clears its server error.
    typeInto(root, 'module-path', '/srv/hub/web');
    await settle(fixture);
    expect(text('module-path-error')).toBeNull();
  });

  it('names a host list entry by its line (1-based), on the Hosts allow field, and keeps unplaceable details in the banner', async () => {
    typeInto(root, 'module-name', 'web');
    typeInto(root, 'module-hosts-allow', '10.0.0.1\n10.0.0.2\n10.0.0.300');
    await submit();
    http.expectOne('/api/v1/modules').flush(
      {
        statusCode: 400,
        error: 'validation',
        message: 'hostsAllow[2]: must be an IP address, a CIDR range, a host name or a wildcard; uid: must be a user name or a number',
        details: [
          { field: 'hostsAllow[2]', message: 'must be an IP address, a CIDR range, a host name or a wildcard', path: ['hostsAllow', 2] },
          { field: 'uid', message: 'must be a user name or a number', path: ['uid'] },
        ],
      },
      { status: 400, statusText: 'Bad Request' },
    );
    await settle(fixture);
    expect(text('module-hosts-allow-error')).toBe('Line 3 must be an IP address, a CIDR range, a host name or a wildcard.');
    expect(text('error-banner')).toBe('Uid must be a user name or a number.');
    expect(root.textContent).not.toContain('hostsAllow[2]');
  });

  it('the "Fix the highlighted fields first." banner goes once the fields are fixed', async () => {
    typeInto(root, 'module-name', 'bad name');
    await submit();
    expect(text('error-banner')).toMatch(/Fix the highlighted fields/);
    typeInto(root, 'module-name', 'good-name');
    await settle(fixture);
    expect(text('error-banner')).toBeNull();
  });

  it('pre-selects the first rsync user with rw, so a new module is never anonymous by accident', async () => {
    expect(root.querySelector<HTMLSelectElement>('[data-testid="grant-user-0"]')!.value).toBe('alice');
    expect(root.querySelector<HTMLSelectElement>('[data-testid="grant-access-0"]')!.value).toBe('rw');
    expect(root.querySelector('[data-testid="module-anonymous"]')).toBeNull();
    typeInto(root, 'module-name', 'web');
    await submit();
    const req = http.expectOne('/api/v1/modules');
    expect(req.request.body).toMatchObject({ users: [{ name: 'alice', access: 'rw' }], anonymous: 'none' });
    req.flush({ statusCode: 400, error: 'validation', message: 'x', details: [] }, { status: 400, statusText: 'Bad Request' });
    await settle(fixture);
  });

  it('without grants, anonymous access is an explicit choice, and read-write is shown as a danger', async () => {
    root.querySelector<HTMLButtonElement>('[aria-label="Remove user 1"]')!.click();
    await settle(fixture);
    expect(text('module-no-users')).toMatch(/Grant a user/);
    expect(root.querySelector<HTMLSelectElement>('[data-testid="module-anonymous"]')!.value).toBe('none');
    expect(root.querySelector('[data-testid="module-anonymous-rw-warning"]')).toBeNull();
    typeInto(root, 'module-anonymous', 'read-write');
    await settle(fixture);
    expect(text('module-anonymous-rw-warning')).toMatch(/without a password/);
    typeInto(root, 'module-name', 'web');
    await submit();
    const req = http.expectOne('/api/v1/modules');
    expect(req.request.body).toMatchObject({ users: [], anonymous: 'read-write' });
    req.flush(
      { statusCode: 400, error: 'validation', message: 'bad', details: [{ field: 'users', message: 'must grant at least one rsync user' }] },
      { status: 400, statusText: 'Bad Request' },
    );
    await settle(fixture);
    expect(root.querySelector('[data-testid="module-grants"]')!.textContent).toMatch(/must grant at least one rsync user/);
  });

  it('navigates to the new module after a successful create', async () => {
    const nav = vi.spyOn(TestBed.inject(Router), 'navigate').mockResolvedValue(true);
    typeInto(root, 'module-name', 'web');
    typeInto(root, 'module-path', '/srv/hub/web');
    await submit();
    http.expectOne('/api/v1/modules').flush({ name: 'web', warnings: [] } as unknown as ModuleDto, { status: 201, statusText: 'Created' });
    await settle(fixture);
    expect(nav).toHaveBeenCalledWith(['/modules', 'web'], expect.anything());
  });

  describe('path suggestion from the storage roots', () => {
    const pathValue = () => root.querySelector<HTMLInputElement>('[data-testid="module-path"]')!.value;

    it('names the roots under the path field', () => {
      expect(text('module-path-hint')).toBe('Must be inside: /srv/hub, /mnt/backup. Created if missing.');
    });

    it('prefills <first root>/<name> as the name is typed, until the user types a path', async () => {
      expect(pathValue()).toBe('');
      typeInto(root, 'module-name', 'w');
      await settle(fixture);
      expect(pathValue()).toBe('/srv/hub/w');
      typeInto(root, 'module-name', 'web');
      await settle(fixture);
      expect(pathValue()).toBe('/srv/hub/web');

      typeInto(root, 'module-path', '/mnt/backup/site');
      typeInto(root, 'module-name', 'website');
      await settle(fixture);
      expect(pathValue()).toBe('/mnt/backup/site'); // the user's own path is never overwritten

      typeInto(root, 'module-path', ''); // clearing the field hands it back to the suggestion
      await settle(fixture);
      expect(pathValue()).toBe('/srv/hub/website');
    });

    it('sends the suggested path when the user keeps it', async () => {
      vi.spyOn(TestBed.inject(Router), 'navigate').mockResolvedValue(true);
      typeInto(root, 'module-name', 'web');
      await submit();
      const req = http.expectOne('/api/v1/modules');
      expect(req.request.body).toMatchObject({ name: 'web', path: '/srv/hub/web' });
      req.flush({ name: 'web', warnings: [] } as unknown as ModuleDto, { status: 201, statusText: 'Created' });
      await settle(fixture);
    });
  });
});

describe('ModuleFormPage without the daemon status', () => {
  it('keeps the generic hint and leaves the path empty when the roots cannot be loaded', async () => {
    TestBed.configureTestingModule({ imports: [ModuleFormPage], providers: [provideHttpClient(), provideHttpClientTesting(), provideRouter([])] });
    vi.spyOn(TestBed.inject(AuthService), 'canEdit').mockReturnValue(true);
    const http = TestBed.inject(HttpTestingController);
    const fixture = TestBed.createComponent(ModuleFormPage);
    const root: HTMLElement = fixture.nativeElement;
    fixture.detectChanges();
    http.expectOne('/api/v1/rsync-users').flush([]);
    http.expectOne('/api/v1/daemon').flush({ statusCode: 503, error: 'unavailable', message: 'down' }, { status: 503, statusText: 'Unavailable' });
    await settle(fixture);
    typeInto(root, 'module-name', 'web');
    await settle(fixture);
    expect(root.querySelector('[data-testid="module-path-hint"]')?.textContent).toMatch(/must be inside a configured module root/);
    expect(root.querySelector<HTMLInputElement>('[data-testid="module-path"]')!.value).toBe('');
    expect(root.querySelector('[data-testid="error-banner"]')).toBeNull(); // the form itself still works
    http.verify();
  });
});
