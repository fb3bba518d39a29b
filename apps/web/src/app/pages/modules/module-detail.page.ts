import { Component, OnInit, computed, inject, input, signal } from '@angular/core';
import { Router, RouterLink } from '@angular/router';
import { FormsModule } from '@angular/forms';
import { MatButtonModule } from '@angular/material/button';
import { MatFormFieldModule } from '@angular/material/form-field';
import { MatInputModule } from '@angular/material/input';
import { MatProgressBarModule } from '@angular/material/progress-bar';
import { MatDialog } from '@angular/material/dialog';
import type { DaemonStatusDto, ModuleDto, TransferSessionDto } from '@rsynchub/contracts';
import { ApiService } from '../../core/api.service';
import { confirmModuleDelete } from './confirm-module-delete';
import { AuthService } from '../../core/auth.service';
import type { ApiError } from '../../core/api-error';
import { formatBytes, formatTime } from '../../core/format';
import { ErrorBannerComponent } from '../../shared/error-banner.component';
import { CopyBlockComponent } from '../../shared/copy-block.component';
import { accessLabel, anonymousLabel } from './modules.page';
import { agentConfig, passwordFileCommand, rsyncCommand, sersyncConfXml, type ConnectTarget } from './connect-snippets';

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
      host: location.hostname,
      port: this.daemon()?.port ?? 873,
      module: m.name,
      user: this.user(),
      source: this.source(),
      hubUrl: location.origin,
    };
  });
  readonly command = computed(() => (this.target() ? rsyncCommand(this.target()!) : ''));
  readonly pwFile = computed(() => passwordFileCommand());
  readonly agent = computed(() => (this.target() ? agentConfig(this.target()!) : ''));
  readonly sersync = computed(() => (this.target() ? sersyncConfXml(this.target()!) : ''));

  ngOnInit(): void {
    void this.load();
  }

  async load(): Promise<void> {
    this.loading.set(true);
    try {
      const [m, d] = await Promise.all([this.api.module(this.name()), this.api.daemon().catch(() => null)]);
      this.module.set(m);
      this.daemon.set(d);
      const rw = m.users.find((u) => u.access === 'rw') ?? m.users[0];
      this.user.set(rw?.name ?? null);
    } catch (err) {
      this.error.set(err as ApiError);
    } finally {
      this.loading.set(false);
    }
    try {
      const page = await this.api.transfers({ module: this.name(), limit: 20 });
      this.sessions.set(page.items);
    } catch (err) {
      this.sessionsError.set((err as ApiError).status === 404 ? 'Transfer history is not available on this server yet.' : (err as ApiError).message);
      this.sessions.set([]);
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
