import { Component, OnInit, computed, inject, input, signal } from '@angular/core';
import { Router, RouterLink } from '@angular/router';
import { FormsModule } from '@angular/forms';
import { MatButtonModule } from '@angular/material/button';
import { MatFormFieldModule } from '@angular/material/form-field';
import { MatInputModule } from '@angular/material/input';
import { MatProgressBarModule } from '@angular/material/progress-bar';
import { MatDialog } from '@angular/material/dialog';
import type { DaemonStatusDto, ModuleDto, SourceDto, TestConnectionResult, TlsStatusDto, TransferSessionDto } from '@rsynchub/contracts';
import { ApiService } from '../../core/api.service';
import { confirmModuleDelete } from './confirm-module-delete';
import { AuthService } from '../../core/auth.service';
import type { ApiError } from '../../core/api-error';
import { formatBytes, formatTime } from '../../core/format';
import { refetchOnReconnect } from '../../core/refetch-on-reconnect';
import { ErrorBannerComponent } from '../../shared/error-banner.component';
import { CopyBlockComponent } from '../../shared/copy-block.component';
import { accessLabel, anonymousLabel } from './modules.page';
import { moduleSettings } from './module-summary';
import { agentConfig, agentTokenFileCommand, passwordFileCommand, rsyncCommand, rsyncPullCommand, sersyncConfXml, type ConnectTarget } from './connect-snippets';
import { formatAge, formatLag } from '../sources/source-format';
import { agentTlsConfig, rsyncSslCommand, rsyncSslPullCommand, type TlsTarget } from './tls-snippets';

@Component({
  selector: 'rh-module-detail-page',
  imports: [RouterLink, FormsModule, MatButtonModule, MatFormFieldModule, MatInputModule, MatProgressBarModule, ErrorBannerComponent, CopyBlockComponent],
  templateUrl: './module-detail.page.html',
  styles: `.detail { grid-template-columns: minmax(280px, 1fr) minmax(320px, 1.6fr); align-items: start; } @media (max-width: 900px) { .detail { grid-template-columns: 1fr; } }`,
})
export class ModuleDetailPage implements OnInit {
  private readonly api = inject(ApiService);
  private readonly dialog = inject(MatDialog);
  private readonly router = inject(Router);
  readonly auth = inject(AuthService);
  readonly name = input.required<string>();
  readonly module = signal<ModuleDto | null>(null);
  readonly daemon = signal<DaemonStatusDto | null>(null);
  readonly sessions = signal<TransferSessionDto[] | null>(null);
  readonly sessionsError = signal<string | null>(null);
  readonly loading = signal(true);
  readonly error = signal<ApiError | null>(null);
  readonly user = signal<string | null>(null);
  readonly source = signal('/data/source');
  /** Host sources use to reach this server (daemon settings' publicHost, or its automatic default). */
  readonly publicHost = signal<string | null>(null);
  readonly agentName = signal('');
  readonly sourceToken = signal<string | null>(null);
  readonly sourceTokenError = signal<ApiError | null>(null);
  readonly testing = signal(false);
  readonly testResult = signal<TestConnectionResult | null>(null);
  readonly testError = signal<ApiError | null>(null);
  readonly moduleSources = signal<SourceDto[] | null>(null);
  readonly fmtAge = formatAge;
  readonly fmtLag = formatLag;
  readonly fmtBytes = formatBytes;
  readonly fmtTime = formatTime;
  readonly access = accessLabel;
  readonly anon = anonymousLabel;
  /** Warnings about anyone being able to write are shown as dangers, not as notes. */
  isDanger(w: string): boolean {
    return /^anonymous (read-write|write):/.test(w);
  }

  readonly target = computed<ConnectTarget | null>(() => {
    const m = this.module();
    if (!m) return null;
    return {
      // Never the browser's own host name: "localhost" in a snippet would push into the source machine itself.
      host: this.publicHost() ?? location.hostname,
      port: this.daemon()?.port ?? 873,
      module: m.name,
      user: this.user(),
      source: this.source(),
      hubUrl: location.origin,
      agentName: this.agentName().trim() || undefined,
    };
  });
  /** Every setting the module has, uid/gid/chroot from an import included. */
  readonly settings = computed(() => (this.module() ? moduleSettings(this.module()!) : []));
  /** Read-only modules refuse pushes: they get the pull command. */
  readonly pulls = computed(() => this.module()?.readOnly === true);
  readonly command = computed(() => (this.target() ? (this.pulls() ? rsyncPullCommand(this.target()!) : rsyncCommand(this.target()!)) : ''));
  readonly tokenFile = computed(() => agentTokenFileCommand(this.sourceToken() ?? 'TOKEN'));
  readonly pwFile = computed(() => passwordFileCommand());
  readonly agent = computed(() => (this.target() ? agentConfig(this.target()!) : ''));
  readonly sersync = computed(() => (this.target() ? sersyncConfXml(this.target()!) : ''));
  /** The TLS listener (issue 11): when it listens, the panel offers the encrypted snippets first. */
  readonly tls = signal<TlsStatusDto | null>(null);
  readonly tlsTarget = computed<TlsTarget | null>(() => {
    const s = this.tls();
    if (!s || !s.listening) return null;
    return { port: s.port, fingerprint: s.certificate?.fingerprint ?? null, privateCa: s.ca !== null, clientCert: this.module()?.tlsClientCert === true };
  });
  readonly sslCommand = computed(() => {
    const t = this.target();
    const tls = this.tlsTarget();
    if (!t || !tls) return '';
    return this.pulls() ? rsyncSslPullCommand(t, tls) : rsyncSslCommand(t, tls);
  });
  readonly agentTls = computed(() => (this.target() && this.tlsTarget() ? agentTlsConfig(this.target()!, this.tlsTarget()!) : ''));

  /** Loads again after a live-stream reconnect or resync: the server may have changed (or restarted) meanwhile. */
  private readonly refetch = refetchOnReconnect(() => Promise.all([this.load(), this.loadSources()]));

  ngOnInit(): void {
    void this.load();
    void this.loadSources();
  }

  async load(): Promise<void> {
    this.loading.set(true);
    try {
      const [m, d, settings, tls] = await Promise.all([
        this.api.module(this.name()),
        this.api.daemon().catch(() => null),
        this.api.daemonSettings().catch(() => null),
        this.api.tls().catch(() => null),
      ]);
      this.module.set(m);
      this.tls.set(tls);
      this.daemon.set(d);
      this.publicHost.set(settings?.publicHostEffective || settings?.publicHost || null);
      const rw = m.users.find((u) => u.access === 'rw') ?? m.users[0];
      // Keep the user picked in the connect panel when reloading after a reconnect.
      if (!this.user() || !m.users.some((u) => u.name === this.user())) this.user.set(rw?.name ?? null);
      this.error.set(null);
    } catch (err) {
      this.error.set(err as ApiError);
    } finally {
      this.loading.set(false);
    }
    try {
      const page = await this.api.transfers({ module: this.name(), limit: 20 });
      this.sessions.set(page.items);
      this.sessionsError.set(null);
    } catch (err) {
      this.sessionsError.set((err as ApiError).status === 404 ? 'Transfer history is not available on this server yet.' : (err as ApiError).message);
      this.sessions.set([]);
    }
  }

  async loadSources(): Promise<void> {
    try {
      this.moduleSources.set(await this.api.sources(this.name()));
    } catch {
      this.moduleSources.set([]);
    }
  }

  /** Runs a real rsync listing of this module on the server, as the chosen user. */
  async testConnection(): Promise<void> {
    this.testing.set(true);
    this.testResult.set(null);
    this.testError.set(null);
    try {
      this.testResult.set(await this.api.testConnection(this.name(), this.user() ? { user: this.user()! } : {}));
    } catch (err) {
      this.testError.set(err as ApiError);
    } finally {
      this.testing.set(false);
    }
  }

  /** A `source`-scoped token for the agent: it can send heartbeats and nothing else. */
  async createSourceToken(): Promise<void> {
    this.sourceTokenError.set(null);
    const sourceName = this.agentName().trim();
    try {
      const res = await this.api.createToken({ name: `agent ${sourceName || 'for ' + this.name()}`.slice(0, 100), scope: 'source', ...(sourceName ? { sourceName } : {}) });
      this.sourceToken.set(res.secret);
    } catch (err) {
      this.sourceTokenError.set(err as ApiError);
    }
  }

  async remove(): Promise<void> {
    const m = this.module();
    if (!m) return;
    const choice = await confirmModuleDelete(this.dialog, m);
    if (!choice) return;
    try {
      await this.api.deleteModule(m.name, choice.purge);
      await this.router.navigate(['/modules']);
    } catch (err) {
      this.error.set(err as ApiError);
    }
  }
}
