import { settle } from '../../../testing/settle';
import { TestBed, type ComponentFixture } from '@angular/core/testing';
import { provideHttpClient } from '@angular/common/http';
import { HttpTestingController, provideHttpClientTesting } from '@angular/common/http/testing';
import { provideRouter, Router } from '@angular/router';
import type { ModuleDto, RsyncUserDto } from '@rsynchub/contracts';
import { ModuleFormPage } from './module-form.page';
import { AuthService } from '../../core/auth.service';

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
    root.querySelector<HTMLButtonElement>('[data-testid="grant-add"]')!.click();
    await settle(fixture);
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
    expect(text('error-banner')).toMatch(/invalid module: path must be inside/);
    expect(text('module-path-error')).toBe('must be inside one of the module roots (/srv/hub)');
    expect(root.querySelector('[data-testid="module-grants"]')!.textContent).toMatch(/unknown rsync user 'bob'/);

    // Fixing the field clears its server error.
    typeInto(root, 'module-path', '/srv/hub/web');
    await settle(fixture);
    expect(text('module-path-error')).toBeNull();
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
});
