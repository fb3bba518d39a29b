import { settle } from '../../../testing/settle';
import { TestBed, type ComponentFixture } from '@angular/core/testing';
import { provideHttpClient } from '@angular/common/http';
import { HttpTestingController, provideHttpClientTesting } from '@angular/common/http/testing';
import { provideRouter, Router } from '@angular/router';
import { LoginPage, loginErrorText } from './login.page';

describe('LoginPage', () => {
  let fixture: ComponentFixture<LoginPage>;
  let http: HttpTestingController;
  let root: HTMLElement;

  beforeEach(async () => {
    TestBed.configureTestingModule({ imports: [LoginPage], providers: [provideHttpClient(), provideHttpClientTesting(), provideRouter([])] });
    http = TestBed.inject(HttpTestingController);
    fixture = TestBed.createComponent(LoginPage);
    root = fixture.nativeElement;
    await settle(fixture);
  });
  afterEach(() => http.verify());

  async function attempt(username: string, password: string) {
    for (const [id, v] of [['login-username', username], ['login-password', password]]) {
      const el = root.querySelector<HTMLInputElement>(`[data-testid="${id}"]`)!;
      el.value = v;
      el.dispatchEvent(new Event('input'));
    }
    root.querySelector<HTMLButtonElement>('[data-testid="login-submit"]')!.click();
    await settle(fixture);
  }
  const error = () => root.querySelector('[data-testid="login-error"]')?.textContent?.trim() ?? null;

  it('does not call the server with empty fields', async () => {
    await attempt('', '');
    http.expectNone('/api/v1/auth/login');
    expect(root.textContent).toMatch(/Enter your username/);
  });

  it('says "wrong username or password" on 401 and clears the password', async () => {
    await attempt('admin', 'nope');
    http.expectOne('/api/v1/auth/login').flush({ statusCode: 401, error: 'unauthorized', message: 'invalid credentials' }, { status: 401, statusText: 'Unauthorized' });
    await settle(fixture);
    expect(error()).toBe('Wrong username or password.');
    expect(root.querySelector<HTMLInputElement>('[data-testid="login-password"]')!.value).toBe('');
  });

  it("shows the server's throttling message on 429", async () => {
    await attempt('admin', 'nope');
    http
      .expectOne('/api/v1/auth/login')
      .flush({ statusCode: 429, error: 'too_many_requests', message: 'too many failed logins; try again in 60 seconds' }, { status: 429, statusText: 'Too Many Requests' });
    await settle(fixture);
    expect(error()).toBe('too many failed logins; try again in 60 seconds');
  });

  it('goes to the account page first when the password must change', async () => {
    const nav = vi.spyOn(TestBed.inject(Router), 'navigateByUrl').mockResolvedValue(true);
    await attempt('admin', 'generated-password');
    http.expectOne('/api/v1/auth/login').flush({ token: 't', admin: { id: 1, username: 'admin', role: 'admin' }, mustChangePassword: true });
    await settle(fixture);
    expect(nav).toHaveBeenCalledWith('/account');
    expect(error()).toBeNull();
  });

  it('maps errors to words (table)', () => {
    const e = (status: number, message: string) => ({ status, kind: 'x', message, details: [] });
    expect(loginErrorText(e(401, 'invalid credentials'))).toBe('Wrong username or password.');
    expect(loginErrorText(e(429, 'Too Many Requests'))).toMatch(/Too many failed attempts/);
    expect(loginErrorText(e(0, 'Cannot reach the server.'))).toBe('Cannot reach the server.');
  });
});
