import { settle } from '../../../testing/settle';
import { TestBed, type ComponentFixture } from '@angular/core/testing';
import { provideHttpClient } from '@angular/common/http';
import { HttpTestingController, provideHttpClientTesting } from '@angular/common/http/testing';
import { provideRouter } from '@angular/router';
import type { BanListDto } from '@rsynchub/contracts';
import { BansSectionComponent } from './bans-section.component';
import { AuthService } from '../../core/auth.service';

const settings = { threshold: 10, windowSeconds: 600, durationSeconds: 3600, neverBan: [] };
const list = (...addresses: string[]): BanListDto => ({
  items: addresses.map((address) => ({ address, bannedAt: '2026-01-01T00:00:00Z', expiresAt: '2026-01-01T01:00:00Z', failures: 10, reason: '10 failed rsync authentications within 600 s' })),
  settings,
});

describe('BansSectionComponent', () => {
  let fixture: ComponentFixture<BansSectionComponent>;
  let http: HttpTestingController;
  let root: HTMLElement;
  const q = (id: string) => root.querySelector<HTMLElement>(`[data-testid="${id}"]`);

  async function start(canEdit: boolean, initial: BanListDto): Promise<void> {
    TestBed.configureTestingModule({ imports: [BansSectionComponent], providers: [provideHttpClient(), provideHttpClientTesting(), provideRouter([])] });
    vi.spyOn(TestBed.inject(AuthService), 'canEdit').mockReturnValue(canEdit);
    http = TestBed.inject(HttpTestingController);
    fixture = TestBed.createComponent(BansSectionComponent);
    root = fixture.nativeElement;
    fixture.detectChanges();
    http.expectOne('/api/v1/bans').flush(initial);
    await settle(fixture);
  }
  afterEach(() => http.verify());

  it('says when nothing is banned, and how bans work', async () => {
    await start(true, list());
    expect(q('bans-empty')?.textContent).toMatch(/No address is banned/);
    expect(q('bans-settings')?.textContent).toMatch(/after 10 failed rsync\s+logins within 600 s/);
    expect(q('bans-settings')?.textContent).toMatch(/Never banned: none/);
  });

  it('lists bans and lifts one with DELETE, then reloads', async () => {
    await start(true, list('127.0.0.5', '2001:db8::1'));
    expect(q('ban-127.0.0.5')).not.toBeNull();
    q('lift-2001:db8::1')!.click();
    await settle(fixture);
    const req = http.expectOne('/api/v1/bans/2001%3Adb8%3A%3A1');
    expect(req.request.method).toBe('DELETE');
    req.flush(list('2001:db8::1').items[0]);
    await settle(fixture);
    http.expectOne('/api/v1/bans').flush(list('127.0.0.5'));
    await settle(fixture);
    expect(q('ban-2001:db8::1')).toBeNull();
  });

  it('offers no lift button to auditors', async () => {
    await start(false, list('127.0.0.5'));
    expect(q('ban-127.0.0.5')).not.toBeNull();
    expect(q('lift-127.0.0.5')).toBeNull();
  });
});
