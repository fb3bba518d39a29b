import { settle } from '../../../testing/settle';
import { TestBed, type ComponentFixture } from '@angular/core/testing';
import { provideHttpClient } from '@angular/common/http';
import { HttpTestingController, provideHttpClientTesting } from '@angular/common/http/testing';
import { provideRouter, Router } from '@angular/router';
import type { ConnectTarget } from './connect-snippets';
import type { ModuleDto, RsyncUserDto } from '@rsynchub/contracts';
import { ModuleFormPage } from './module-form.page';
import { AuthService } from '../../core/auth.service';
import { agentTlsConfig, rsyncSslCommand, rsyncSslPullCommand, type TlsTarget } from './tls-snippets';
import { moduleSettings } from './module-summary';

const user = (name: string): RsyncUserDto => ({ name, comment: '', createdAt: '', updatedAt: '', passwordUpdatedAt: '', modules: [] });
const mod = (over: Partial<ModuleDto> = {}): ModuleDto => ({
  name: 'web', path: '/srv/hub/web', comment: '', readOnly: false, writeOnly: false, list: false, ignoreErrors: false, maxConnections: 0, timeout: 0,
  hostsAllow: [], hostsDeny: [], users: [{ name: 'alice', access: 'rw' }], anonymous: 'none', refuseOptions: [], excludes: [], enabled: true,
  uid: null, gid: null, useChroot: null, allowRootIds: false, createdAt: '2026-01-01T00:00:00Z', updatedAt: '2026-01-01T00:00:00Z', warnings: [], ...over,
});

describe('module form: "Require a client certificate"', () => {
  let fixture: ComponentFixture<ModuleFormPage>;
  let http: HttpTestingController;
  let root: HTMLElement;
  const box = (id: string) => root.querySelector<HTMLInputElement>(`[data-testid="${id}"] input`)!;
  const typeInto = (id: string, value: string) => {
    const el = root.querySelector<HTMLInputElement>(`[data-testid="${id}"]`)!;
    el.value = value;
    el.dispatchEvent(new Event('input'));
  };

  async function start(opts: { canEdit: boolean; editing?: ModuleDto }): Promise<void> {
    TestBed.configureTestingModule({ imports: [ModuleFormPage], providers: [provideHttpClient(), provideHttpClientTesting(), provideRouter([])] });
    vi.spyOn(TestBed.inject(AuthService), 'canEdit').mockReturnValue(opts.canEdit);
    vi.spyOn(TestBed.inject(Router), 'navigate').mockResolvedValue(true);
    http = TestBed.inject(HttpTestingController);
    fixture = TestBed.createComponent(ModuleFormPage);
    if (opts.editing) fixture.componentRef.setInput('name', opts.editing.name);
    root = fixture.nativeElement;
    fixture.detectChanges();
    http.expectOne('/api/v1/rsync-users').flush([user('alice')]);
    if (opts.editing) http.expectOne(`/api/v1/modules/${opts.editing.name}`).flush(opts.editing);
    http.expectOne('/api/v1/daemon').flush({ state: 'running', port: 873, storageRoots: ['/srv/hub'] });
    await settle(fixture);
  }
  afterEach(() => http.verify());

  const submit = async () => {
    root.querySelector<HTMLButtonElement>('[data-testid="module-save"]')!.click();
    await settle(fixture);
  };

  it('checking it checks and locks "TLS only"; unchecking gives the box back; the request carries both', async () => {
    await start({ canEdit: true });
    expect(root.querySelector('[data-testid="module-tls-client-cert-hint"]')?.textContent).toMatch(/Implies TLS only/);
    expect(box('module-tls-only').checked).toBe(false);
    box('module-tls-client-cert').click();
    await settle(fixture);
    expect(box('module-tls-only').checked).toBe(true);
    expect(box('module-tls-only').disabled).toBe(true);
    box('module-tls-client-cert').click();
    await settle(fixture);
    expect(box('module-tls-only').disabled).toBe(false);
    expect(box('module-tls-only').checked).toBe(true); // turning TLS off is a choice of its own
    box('module-tls-client-cert').click();
    await settle(fixture);
    typeInto('module-name', 'web');
    await submit();
    const req = http.expectOne('/api/v1/modules');
    expect(req.request.body).toMatchObject({ tlsOnly: true, tlsClientCert: true });
    req.flush(mod({ tlsOnly: true, tlsClientCert: true }), { status: 201, statusText: 'Created' });
    await settle(fixture);
  });

  it('a module without it does not send the field (a server without client certificates never sees it)', async () => {
    await start({ canEdit: true });
    typeInto('module-name', 'web');
    await submit();
    const req = http.expectOne('/api/v1/modules');
    expect('tlsClientCert' in req.request.body).toBe(false);
    req.flush(mod(), { status: 201, statusText: 'Created' });
    await settle(fixture);
  });

  it('editing a module that requires one: shown checked with TLS only locked; turning it off is sent', async () => {
    await start({ canEdit: true, editing: mod({ tlsOnly: true, tlsClientCert: true }) });
    expect(box('module-tls-client-cert').checked).toBe(true);
    expect(box('module-tls-only').checked).toBe(true);
    expect(box('module-tls-only').disabled).toBe(true);
    box('module-tls-client-cert').click();
    await settle(fixture);
    await submit();
    const req = http.expectOne('/api/v1/modules/web');
    expect(req.request.method).toBe('PATCH');
    expect(req.request.body).toMatchObject({ tlsClientCert: false, tlsOnly: true });
    req.flush(mod({ tlsOnly: true }));
    await settle(fixture);
  });

  it('auditors see the setting, every box disabled', async () => {
    await start({ canEdit: false, editing: mod({ tlsOnly: true, tlsClientCert: true }) });
    expect(box('module-tls-client-cert').checked).toBe(true);
    expect(box('module-tls-client-cert').disabled).toBe(true);
    expect(box('module-tls-only').disabled).toBe(true);
    expect(root.querySelector('[data-testid="module-save"]')).toBeNull();
  });
});

describe('connect snippets for a module that requires a client certificate', () => {
  const target: ConnectTarget = { host: 'hub.example', port: 873, module: 'myhub1', user: 'admin1', source: '/home/user1/source', hubUrl: 'https://hub.example' };
  const tls: TlsTarget = { port: 8874, fingerprint: 'sha256:' + 'ab'.repeat(32), privateCa: true, clientCert: true };

  it('rsync-ssl presents client.crt / client.key', () => {
    expect(rsyncSslCommand(target, tls)).toBe('RSYNC_SSL_CA_CERT=/etc/rsynchub-ca.pem RSYNC_SSL_PORT=8874 RSYNC_SSL_CERT=client.crt RSYNC_SSL_KEY=client.key rsync-ssl -artuz --password-file=/etc/rsync.pass /home/user1/source/ admin1@hub.example::myhub1');
    expect(rsyncSslPullCommand(target, tls)).toContain('RSYNC_SSL_CERT=client.crt RSYNC_SSL_KEY=client.key rsync-ssl');
    expect(rsyncSslCommand(target, { ...tls, clientCert: false })).not.toContain('RSYNC_SSL_CERT');
  });

  it('the agent remote gets clientCert / clientKey (absolute paths)', () => {
    const cfg = JSON.parse(agentTlsConfig(target, tls));
    expect(cfg.watches[0].remotes[0]).toMatchObject({ tls: true, clientCert: '/etc/rsynchub/client.crt', clientKey: '/etc/rsynchub/client.key' });
    expect(JSON.parse(agentTlsConfig(target, { ...tls, clientCert: false })).watches[0].remotes[0].clientCert).toBeUndefined();
  });

  it('the module page lists the setting when on', () => {
    expect(moduleSettings(mod({ tlsClientCert: true })).find((r) => r.key === 'tlsClientCert')?.value).toBe('required (TLS only)');
    expect(moduleSettings(mod()).find((r) => r.key === 'tlsClientCert')).toBeUndefined();
  });
});
