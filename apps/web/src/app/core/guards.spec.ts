import { TestBed } from '@angular/core/testing';
import { provideHttpClient } from '@angular/common/http';
import { provideHttpClientTesting } from '@angular/common/http/testing';
import { provideRouter, Router, UrlTree, type ActivatedRouteSnapshot, type RouterStateSnapshot } from '@angular/router';
import type { AdminRole, MeResponse } from '@rsynchub/contracts';
import { AuthService } from './auth.service';
import { adminGuard, loggedOutGuard, passwordChangedGuard } from './guards';

const me = (role: AdminRole): MeResponse => ({
  admin: { id: 1, username: 'x', role, createdAt: '', updatedAt: '', lastLoginAt: null },
  via: 'session',
  mustChangePassword: false,
});

describe('route guards', () => {
  beforeEach(() => {
    TestBed.configureTestingModule({ providers: [provideHttpClient(), provideHttpClientTesting(), provideRouter([])] });
  });

  /** Runs a guard the way the router does, with the session check answering only after a real async hop. */
  async function run(guard: typeof adminGuard, session: MeResponse | null): Promise<unknown> {
    vi.spyOn(TestBed.inject(AuthService), 'ensureLoaded').mockImplementation(() => new Promise((r) => setTimeout(() => r(session), 0)));
    return TestBed.runInInjectionContext(() => guard({} as ActivatedRouteSnapshot, { url: '/import' } as RouterStateSnapshot));
  }
  const urlOf = (v: unknown) => (v instanceof UrlTree ? TestBed.inject(Router).serializeUrl(v) : v);

  it('adminGuard lets an admin in', async () => expect(await run(adminGuard, me('admin'))).toBe(true));
  it('adminGuard sends an auditor to the dashboard (after the awaited session check)', async () => expect(urlOf(await run(adminGuard, me('auditor')))).toBe('/'));
  it('loggedOutGuard sends a logged-in user to the dashboard', async () => expect(urlOf(await run(loggedOutGuard, me('admin')))).toBe('/'));
  it('loggedOutGuard shows the login page when logged out', async () => expect(await run(loggedOutGuard, null)).toBe(true));

  /** Runs passwordChangedGuard for a child route `path` with the account's must-change flag. */
  async function runPasswordGuard(path: string, mustChangePassword: boolean): Promise<unknown> {
    const auth = TestBed.inject(AuthService);
    vi.spyOn(auth, 'ensureLoaded').mockResolvedValue({ ...me('admin'), mustChangePassword });
    vi.spyOn(auth, 'mustChangePassword').mockReturnValue(mustChangePassword);
    return TestBed.runInInjectionContext(() => passwordChangedGuard({ routeConfig: { path } } as ActivatedRouteSnapshot, { url: `/${path}` } as RouterStateSnapshot));
  }
  it('passwordChangedGuard sends an account with a temporary password to /account', async () => expect(urlOf(await runPasswordGuard('modules', true))).toBe('/account'));
  it('passwordChangedGuard lets it stay on /account', async () => expect(await runPasswordGuard('account', true)).toBe(true));
  it('passwordChangedGuard lets a normal account anywhere', async () => expect(await runPasswordGuard('modules', false)).toBe(true));
});
