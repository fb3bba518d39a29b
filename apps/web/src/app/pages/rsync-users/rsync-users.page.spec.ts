import { settle } from '../../../testing/settle';
import { TestBed, type ComponentFixture } from '@angular/core/testing';
import { provideHttpClient } from '@angular/common/http';
import { HttpTestingController, provideHttpClientTesting } from '@angular/common/http/testing';
import { provideRouter } from '@angular/router';
import { MatDialog } from '@angular/material/dialog';
import { of } from 'rxjs';
import type { RsyncUserDto } from '@rsynchub/contracts';
import { RsyncUsersPage } from './rsync-users.page';
import { AuthService } from '../../core/auth.service';

const user = (name: string, modules: RsyncUserDto['modules'] = []): RsyncUserDto => ({
  name, comment: '', createdAt: '2026-01-01T00:00:00Z', updatedAt: '2026-01-01T00:00:00Z', passwordUpdatedAt: '2026-01-01T00:00:00Z', modules,
});

describe('RsyncUsersPage', () => {
  let fixture: ComponentFixture<RsyncUsersPage>;
  let http: HttpTestingController;
  let root: HTMLElement;
  const q = (id: string) => root.querySelector<HTMLElement>(`[data-testid="${id}"]`);

  beforeEach(async () => {
    TestBed.configureTestingModule({ imports: [RsyncUsersPage], providers: [provideHttpClient(), provideHttpClientTesting(), provideRouter([])] });
    vi.spyOn(TestBed.inject(AuthService), 'canEdit').mockReturnValue(true);
    // Confirmation dialogs answer "yes" at once.
    vi.spyOn(TestBed.inject(MatDialog), 'open').mockReturnValue({ afterClosed: () => of({ confirmed: true, option: false }) } as never);
    http = TestBed.inject(HttpTestingController);
    fixture = TestBed.createComponent(RsyncUsersPage);
    root = fixture.nativeElement;
    fixture.detectChanges();
    http.expectOne('/api/v1/rsync-users').flush([]);
    await settle(fixture);
  });
  afterEach(() => http.verify());

  it('shows an empty state', () => expect(q('rsync-users-empty')?.textContent).toMatch(/No rsync users yet/));

  it('shows the generated password once, with a copy button, until dismissed', async () => {
    const name = q('rsync-user-name') as HTMLInputElement;
    name.value = 'backup';
    name.dispatchEvent(new Event('input'));
    q('rsync-user-create')!.click();
    await settle(fixture);
    const req = http.expectOne('/api/v1/rsync-users');
    expect(req.request.method).toBe('POST');
    expect(req.request.body).toEqual({ name: 'backup', comment: '' }); // no password: the server generates one
    req.flush({ user: user('backup'), generatedPassword: 'Gen3rated-Secret-Value-42' }, { status: 201, statusText: 'Created' });
    await settle(fixture);
    http.expectOne('/api/v1/rsync-users').flush([user('backup')]);
    await settle(fixture);

    expect(q('generated-password')?.textContent).toBe('Gen3rated-Secret-Value-42');
    expect(q('generated-password-copy')).not.toBeNull();
    expect(q('rsync-user-row-backup')).not.toBeNull();
    q('secret-dismiss')!.click();
    await settle(fixture);
    expect(q('secret-panel')).toBeNull();
    expect(root.textContent).not.toContain('Gen3rated-Secret-Value-42');
  });

  it('rejects an invalid name client-side', async () => {
    const name = q('rsync-user-name') as HTMLInputElement;
    name.value = 'Bad Name';
    name.dispatchEvent(new Event('input'));
    q('rsync-user-create')!.click();
    await settle(fixture);
    http.expectNone('/api/v1/rsync-users');
    expect(q('rsync-user-name-error')?.textContent).toMatch(/lower-case/);
  });

  it('says up front that a granted user has grants, and removes them with the user in one step', async () => {
    const open = vi.spyOn(TestBed.inject(MatDialog), 'open');
    const pending = fixture.componentInstance.remove(user('alice', [{ module: 'web', access: 'rw' }]));
    await Promise.resolve();
    await Promise.resolve();
    const data = (open.mock.calls.at(-1)![1] as { data: { message: string; confirmLabel: string } }).data;
    expect(data.message).toMatch(/alice is still granted on module web \(rw\)/);
    expect(data.confirmLabel).toBe('Remove grants and delete');
    http.expectOne('/api/v1/rsync-users/alice?removeGrants=true').flush(null, { status: 204, statusText: 'No Content' });
    await settle(fixture);
    http.expectOne('/api/v1/rsync-users').flush([]);
    await pending;
    await settle(fixture);
    expect(q('delete-blocked')).toBeNull();
  });

  it('a grant made after the page loaded: the refusal is said in words and the one-step delete is offered', async () => {
    const pending = fixture.componentInstance.remove(user('alice'));
    await Promise.resolve();
    await Promise.resolve();
    http.expectOne('/api/v1/rsync-users/alice').flush(
      { statusCode: 409, error: 'conflict', message: 'rsync user "alice" is still granted on module web; remove that grant first, or delete the user together with its grants (removeGrants=true)' },
      { status: 409, statusText: 'Conflict' },
    );
    await pending;
    await settle(fixture);
    http.expectOne('/api/v1/rsync-users').flush([user('alice', [{ module: 'web', access: 'rw' }])]);
    await settle(fixture);
    expect(q('delete-blocked')?.textContent).toMatch(/alice was granted on a module meanwhile/);
    expect(q('delete-blocked')?.textContent).not.toMatch(/removeGrants/);

    q('delete-with-grants')!.click();
    await settle(fixture);
    http.expectOne('/api/v1/rsync-users/alice?removeGrants=true').flush(null, { status: 204, statusText: 'No Content' });
    await settle(fixture);
    http.expectOne('/api/v1/rsync-users').flush([]);
    await settle(fixture);
    expect(q('delete-blocked')).toBeNull();
  });
});
