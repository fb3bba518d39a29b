import { settle } from '../../../testing/settle';
import { TestBed, type ComponentFixture } from '@angular/core/testing';
import { provideHttpClient } from '@angular/common/http';
import { HttpTestingController, provideHttpClientTesting } from '@angular/common/http/testing';
import { provideRouter } from '@angular/router';
import { MatDialog } from '@angular/material/dialog';
import { of } from 'rxjs';
import type { CreatedTlsClientCertDto, TlsClientCertDto } from '@rsynchub/contracts';
import { ClientCertsSectionComponent } from './client-certs-section.component';
import { certFileName, clientCertNameProblem, clientCertStatus, csrCommand, pemDownloadHref } from './client-certs';
import { AuthService } from '../../core/auth.service';

const FUTURE = '2099-01-01T00:00:00Z';
const cert = (id: number, name: string, over: Partial<TlsClientCertDto> = {}): TlsClientCertDto => ({
  id, name, fingerprint: `sha256:${'ab'.repeat(32)}`, serial: '0a', notBefore: '2026-01-01T00:00:00Z', notAfter: FUTURE,
  createdAt: '2026-01-01T00:00:00Z', createdBy: 'admin', revokedAt: null, ...over,
});
const PEM = '-----BEGIN CERTIFICATE-----\nMIIBcert\n-----END CERTIFICATE-----\n';
const KEY = '-----BEGIN PRIVATE KEY-----\nMIGHkey\n-----END PRIVATE KEY-----\n';
const created = (over: Partial<CreatedTlsClientCertDto> = {}): CreatedTlsClientCertDto => ({ ...cert(7, 'web01'), certificate: PEM, caCertificate: PEM, ...over });

describe('client certificates (pure)', () => {
  it('status: revoked wins, then expired, else active', () => {
    const now = Date.parse('2026-06-01T00:00:00Z');
    expect(clientCertStatus({ revokedAt: null, notAfter: FUTURE }, now)).toBe('active');
    expect(clientCertStatus({ revokedAt: null, notAfter: '2026-05-31T23:59:59Z' }, now)).toBe('expired');
    expect(clientCertStatus({ revokedAt: '2026-05-01T00:00:00Z', notAfter: '2026-05-31T00:00:00Z' }, now)).toBe('revoked');
  });

  it.each([
    ['', 'Required.'],
    ['web01', null],
    ['a'.repeat(64), null],
    ['a'.repeat(65), 'Use 1-64'],
    ['<b>x</b>', 'Use 1-64'],
    ['web 01', 'Use 1-64'],
  ])('name %j: %s', (name, problem) => {
    const p = clientCertNameProblem(name);
    if (problem === null) expect(p).toBeNull();
    else expect(p).toContain(problem);
  });

  it('the CSR command takes the name as CN only when it is a valid name', () => {
    expect(csrCommand('web01')).toBe('openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout client.key -subj /CN=web01 -out client.csr');
    expect(csrCommand('x; rm -rf /')).toContain('/CN=web01 ');
  });

  it('downloads: the PEM text in a data URL, the file named after the certificate', () => {
    expect(decodeURIComponent(pemDownloadHref(PEM).replace(/^data:application\/x-pem-file;charset=utf-8,/, ''))).toBe(PEM);
    expect(certFileName('web01', 'crt')).toBe('web01.crt');
    expect(certFileName('..', 'key')).toBe('_.key');
    expect(certFileName('a/b', 'key')).toBe('a_b.key');
  });
});

describe('ClientCertsSectionComponent', () => {
  let fixture: ComponentFixture<ClientCertsSectionComponent>;
  let http: HttpTestingController;
  let root: HTMLElement;
  let confirmed = true;
  const q = (id: string) => root.querySelector<HTMLElement>(`[data-testid="${id}"]`);
  const type = (id: string, value: string) => {
    const el = q(id) as HTMLInputElement | HTMLTextAreaElement;
    el.value = value;
    el.dispatchEvent(new Event('input'));
  };

  async function start(canEdit: boolean, initial: TlsClientCertDto[]): Promise<void> {
    TestBed.configureTestingModule({ imports: [ClientCertsSectionComponent], providers: [provideHttpClient(), provideHttpClientTesting(), provideRouter([])] });
    vi.spyOn(TestBed.inject(AuthService), 'canEdit').mockReturnValue(canEdit);
    vi.spyOn(TestBed.inject(MatDialog), 'open').mockImplementation(() => ({ afterClosed: () => of({ confirmed, option: false }) }) as never);
    http = TestBed.inject(HttpTestingController);
    fixture = TestBed.createComponent(ClientCertsSectionComponent);
    root = fixture.nativeElement;
    fixture.detectChanges();
    http.expectOne('/api/v1/tls/client-certs').flush(initial);
    await settle(fixture);
  }
  afterEach(() => http.verify());

  it('lists name, fingerprint, expiry, issuer and status', async () => {
    await start(true, [cert(1, 'web01'), cert(2, 'old', { revokedAt: '2026-02-01T00:00:00Z' }), cert(3, 'gone', { notAfter: '2020-01-01T00:00:00Z' })]);
    const rows = root.querySelectorAll('[data-testid="client-certs-table"] tbody tr');
    expect(rows.length).toBe(3);
    expect(rows[0]!.textContent).toContain('web01');
    expect(rows[0]!.textContent).toContain(`sha256:${'ab'.repeat(32)}`);
    expect(rows[0]!.textContent).toContain('admin');
    expect([...root.querySelectorAll('[data-testid="client-cert-status"]')].map((e) => e.textContent?.trim())).toEqual(['active', 'revoked', 'expired']);
    // Revoke only where it means something.
    expect(q('client-cert-revoke-1')).not.toBeNull();
    expect(q('client-cert-revoke-2')).toBeNull();
  });

  it('auditors see the list without the issue form or revoke buttons', async () => {
    await start(false, [cert(1, 'web01')]);
    expect(q('client-cert-1')).not.toBeNull();
    expect(q('client-cert-revoke-1')).toBeNull();
    expect(q('client-cert-form')).toBeNull();
    expect(q('client-cert-issue')).toBeNull();
  });

  it('issues without a CSR: shows the certificate and the key once, with downloads and the warning', async () => {
    await start(true, []);
    expect(q('client-certs-empty')).not.toBeNull();
    type('client-cert-name-input', 'web01');
    await settle(fixture);
    expect(q('client-cert-csr-command')?.textContent).toContain('-subj /CN=web01 ');
    q('client-cert-issue')!.click();
    await settle(fixture);
    const req = http.expectOne('/api/v1/tls/client-certs');
    expect(req.request.method).toBe('POST');
    expect(req.request.body).toEqual({ name: 'web01', days: 825 });
    req.flush(created({ privateKey: KEY }));
    await settle(fixture);
    http.expectOne('/api/v1/tls/client-certs').flush([cert(7, 'web01')]);
    await settle(fixture);
    expect(q('client-cert-pem')?.textContent).toContain('MIIBcert');
    expect(q('client-cert-download')?.getAttribute('download')).toBe('web01.crt');
    expect(decodeURIComponent(q('client-cert-download')!.getAttribute('href')!)).toContain(PEM.trim());
    expect(q('client-cert-key')?.textContent).toContain('MIGHkey');
    expect(q('client-cert-key-download')?.getAttribute('download')).toBe('web01.key');
    expect(q('client-cert-key-warning')?.textContent).toMatch(/shown only once/);
    expect(q('client-cert-7')).not.toBeNull();
    // Done: the key is gone from the page.
    q('client-cert-issued-done')!.click();
    await settle(fixture);
    expect(q('client-cert-key')).toBeNull();
    expect(root.textContent).not.toContain('MIGHkey');
  });

  it('issues from a CSR with days: no key is shown (the source kept it)', async () => {
    await start(true, []);
    type('client-cert-name-input', 'db-2');
    type('client-cert-csr', '  -----BEGIN CERTIFICATE REQUEST-----\nMIIcsr\n-----END CERTIFICATE REQUEST-----\n ');
    type('client-cert-days', '30');
    await settle(fixture);
    q('client-cert-issue')!.click();
    await settle(fixture);
    const req = http.expectOne('/api/v1/tls/client-certs');
    expect(req.request.body).toEqual({ name: 'db-2', days: 30, csr: '-----BEGIN CERTIFICATE REQUEST-----\nMIIcsr\n-----END CERTIFICATE REQUEST-----' });
    req.flush(created({ name: 'db-2' }));
    await settle(fixture);
    http.expectOne('/api/v1/tls/client-certs').flush([cert(7, 'db-2')]);
    await settle(fixture);
    expect(q('client-cert-pem')).not.toBeNull();
    expect(q('client-cert-key')).toBeNull();
    expect(q('client-cert-key-warning')).toBeNull();
  });

  it('refuses a name with HTML or spaces before sending; a long name from the server is shown as text', async () => {
    await start(true, [cert(1, 'x'.repeat(64)), cert(2, '<img src=x onerror=alert(1)>')]);
    expect(root.querySelector('img')).toBeNull();
    expect(q('client-cert-2')?.textContent).toContain('<img src=x onerror=alert(1)>');
    type('client-cert-name-input', '<b>web</b>');
    await settle(fixture);
    q('client-cert-issue')!.click();
    await settle(fixture);
    http.expectNone('/api/v1/tls/client-certs');
    expect(q('client-cert-name-problem')?.textContent).toMatch(/letters, digits/);
  });

  it("shows the server's refusal in the banner", async () => {
    await start(true, []);
    type('client-cert-name-input', 'web01');
    await settle(fixture);
    q('client-cert-issue')!.click();
    await settle(fixture);
    http.expectOne('/api/v1/tls/client-certs').flush(
      { statusCode: 400, error: 'validation', message: 'invalid client certificate: csr is not a PEM certificate request', details: [{ field: 'csr', message: 'is not a PEM certificate request' }] },
      { status: 400, statusText: 'Bad Request' },
    );
    await settle(fixture);
    expect(q('error-banner')?.textContent).toMatch(/certificate request/);
    expect(q('client-cert-issued')).toBeNull();
  });

  it('revokes after the confirm dialog, and not when cancelled', async () => {
    await start(true, [cert(1, 'web01')]);
    confirmed = false;
    q('client-cert-revoke-1')!.click();
    await settle(fixture);
    http.expectNone('/api/v1/tls/client-certs/1');
    confirmed = true;
    q('client-cert-revoke-1')!.click();
    await settle(fixture);
    const req = http.expectOne('/api/v1/tls/client-certs/1');
    expect(req.request.method).toBe('DELETE');
    req.flush(cert(1, 'web01', { revokedAt: '2026-06-01T00:00:00Z' }));
    await settle(fixture);
    http.expectOne('/api/v1/tls/client-certs').flush([cert(1, 'web01', { revokedAt: '2026-06-01T00:00:00Z' })]);
    await settle(fixture);
    expect(q('client-cert-status')?.textContent?.trim()).toBe('revoked');
    expect(q('client-cert-revoke-1')).toBeNull();
  });
});
