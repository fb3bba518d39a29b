import { Component, OnInit, computed, inject, signal } from '@angular/core';
import { MatButtonModule } from '@angular/material/button';
import { MatSlideToggleModule } from '@angular/material/slide-toggle';
import { MatProgressBarModule } from '@angular/material/progress-bar';
import type { TlsStatusDto } from '@rsynchub/contracts';
import { ApiService } from '../../core/api.service';
import { AuthService } from '../../core/auth.service';
import type { ApiError } from '../../core/api-error';
import { formatTime } from '../../core/format';
import { refetchOnReconnect } from '../../core/refetch-on-reconnect';
import { ErrorBannerComponent } from '../../shared/error-banner.component';
import { CopyBlockComponent } from '../../shared/copy-block.component';
import { DEFAULT_CA_FILE, caFileCommand } from '../modules/tls-snippets';
import { tlsFrontText } from './tls-front';
import { ClientCertsSectionComponent } from './client-certs-section.component';

/**
 * Encryption: the rsync-over-TLS listener (on/off), the certificate it presents, and the private CA sources trust
 * (download + SHA-256 fingerprint to compare out of band).
 */
@Component({
  selector: 'rh-tls-page',
  imports: [MatButtonModule, MatSlideToggleModule, MatProgressBarModule, ErrorBannerComponent, CopyBlockComponent, ClientCertsSectionComponent],
  templateUrl: './tls.page.html',
})
export class TlsPage implements OnInit {
  private readonly api = inject(ApiService);
  readonly auth = inject(AuthService);
  readonly status = signal<TlsStatusDto | null>(null);
  readonly caPem = signal<string | null>(null);
  readonly loading = signal(true);
  readonly busy = signal(false);
  readonly error = signal<ApiError | null>(null);
  readonly fmtTime = formatTime;
  readonly frontText = tlsFrontText;
  readonly caDownloadUrl = this.api.url('tls/ca.pem');
  readonly caFile = DEFAULT_CA_FILE;
  readonly caCommand = computed(() => (this.caPem() ? caFileCommand(this.caPem()!) : ''));
  private readonly refetch = refetchOnReconnect(() => this.load());

  ngOnInit(): void {
    void this.load();
  }

  async load(): Promise<void> {
    this.loading.set(true);
    try {
      const s = await this.api.tls();
      this.status.set(s);
      this.caPem.set(s.ca ? await this.api.tlsCaPem() : null);
      this.error.set(null);
    } catch (err) {
      this.error.set(err as ApiError);
    } finally {
      this.loading.set(false);
    }
  }

  async setEnabled(enabled: boolean): Promise<void> {
    this.busy.set(true);
    try {
      this.status.set(await this.api.updateTls({ enabled }));
      this.error.set(null);
    } catch (err) {
      this.error.set(err as ApiError);
    } finally {
      this.busy.set(false);
    }
  }
}
