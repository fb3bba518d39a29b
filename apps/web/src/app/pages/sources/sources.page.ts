import { Component, OnDestroy, OnInit, inject, signal } from '@angular/core';
import { RouterLink } from '@angular/router';
import { MatProgressBarModule } from '@angular/material/progress-bar';
import type { SourceDto } from '@rsynchub/contracts';
import { ApiService } from '../../core/api.service';
import type { ApiError } from '../../core/api-error';
import { formatTime } from '../../core/format';
import { refetchOnReconnect } from '../../core/refetch-on-reconnect';
import { ErrorBannerComponent } from '../../shared/error-banner.component';
import { formatAge, formatLag, pollIntervalMs, STATE_LABELS } from './source-format';

/**
 * Every agent that reports heartbeats, with its state and per-target queue and lag. Polled, because a source going
 * stale is the absence of an event: the server re-evaluates states on every list.
 */
@Component({
  selector: 'rh-sources-page',
  imports: [RouterLink, MatProgressBarModule, ErrorBannerComponent],
  template: `
    <div class="rh-page-header" data-testid="sources-page"><h1>Sources</h1></div>
    <p class="rh-muted">
      Agents (<code>rsynchub-agent</code>) pushing into this server report a heartbeat. A source is
      <strong>stale</strong> after {{ staleAfter() ?? '…' }} s without one and <strong>offline</strong> after 10× that;
      its queue and lag are only current while it is online.
    </p>
    <rh-error-banner [error]="error()" />
    <div class="rh-card">
      @if (loading()) {<mat-progress-bar mode="indeterminate" />}
      @if (sources().length) {
        <div class="rh-table-wrap" tabindex="0" role="region" aria-label="Sources">
          <table class="rh-table" data-testid="sources-table">
            <thead><tr><th>Source</th><th>State</th><th>Last seen</th><th>Target</th><th>Queue</th><th>Lag</th><th>Last success</th><th>Last error</th><th>Agent</th><th>Address</th></tr></thead>
            <tbody>
              @for (s of sources(); track s.name) {
                @for (t of s.targets.length ? s.targets : [null]; track $index; let first = $first) {
                  <tr [attr.data-testid]="first ? 'source-row-' + s.name : null" [attr.data-state]="s.state">
                    @if (first) {
                      <td [attr.rowspan]="s.targets.length || 1"><strong>{{ s.name }}</strong><br /><span class="rh-muted">{{ s.hostname }}</span></td>
                      <td [attr.rowspan]="s.targets.length || 1"><span class="rh-status" [class]="statusClass(s)" [attr.data-testid]="'source-state-' + s.name">{{ labels[s.state] }}</span></td>
                      <td [attr.rowspan]="s.targets.length || 1" [attr.title]="fmtTime(s.lastSeenAt)">{{ age(s.secondsSinceSeen) }}</td>
                    }
                    @if (t) {
                      <td><a [routerLink]="['/modules', t.module]">{{ t.module }}</a> <span class="rh-muted">{{ t.host }}:{{ t.port }}</span>
                        @if (t.paused) {<br /><span class="rh-status error" [attr.data-testid]="'source-paused-' + s.name + '-' + t.module" [attr.title]="t.pauseReason ?? ''">paused</span>
                          <span class="rh-muted"> {{ t.pauseReason ?? '' }} (rsynchub-agent resume)</span>}</td>
                      <td [attr.data-testid]="'source-queue-' + s.name + '-' + t.module">{{ t.queueLength.toLocaleString() }}</td>
                      <td>{{ lag(t.lagSeconds) }}</td>
                      <td>{{ fmtTime(t.lastSuccessAt) }}</td>
                      <td class="rh-muted">{{ t.lastError ?? '—' }}</td>
                    } @else {
                      <td colspan="5" class="rh-muted">no targets reported</td>
                    }
                    @if (first) {
                      <td [attr.rowspan]="s.targets.length || 1">{{ s.version }}</td>
                      <td [attr.rowspan]="s.targets.length || 1">{{ s.clientIp ?? '—' }}</td>
                    }
                  </tr>
                }
              }
            </tbody>
          </table>
        </div>
      } @else if (!loading() && !error()) {
        <p class="rh-empty" data-testid="sources-empty">
          No source has reported yet. Connect one from a module's page (rsynchub-agent with a <em>source</em> token).
        </p>
      }
    </div>
  `,
})
export class SourcesPage implements OnInit, OnDestroy {
  private readonly api = inject(ApiService);
  readonly sources = signal<SourceDto[]>([]);
  readonly staleAfter = signal<number | null>(null);
  readonly loading = signal(true);
  readonly error = signal<ApiError | null>(null);
  readonly labels = STATE_LABELS;
  readonly fmtTime = formatTime;
  readonly age = formatAge;
  readonly lag = formatLag;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private destroyed = false;

  /** Loads again after a live-stream reconnect or resync: the server may have changed (or restarted) meanwhile. */
  private readonly refetch = refetchOnReconnect(() => this.refreshNow());

  ngOnInit(): void {
    void this.refresh();
  }

  ngOnDestroy(): void {
    this.destroyed = true;
    if (this.timer) clearTimeout(this.timer);
  }

  statusClass(s: SourceDto): string {
    return s.state === 'online' ? 'success' : s.state === 'stale' ? 'stale' : 'error';
  }

  /** Refresh at once (after a reconnect), replacing the pending poll so there is only ever one poll chain. */
  refreshNow(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    return this.refresh();
  }

  async refresh(): Promise<void> {
    try {
      const list = await this.api.sources();
      this.sources.set(list);
      this.staleAfter.set(list[0]?.staleAfterSeconds ?? this.staleAfter());
      this.error.set(null);
    } catch (err) {
      this.error.set(err as ApiError);
    } finally {
      this.loading.set(false);
      if (this.timer) clearTimeout(this.timer); // a refreshNow() during this request: still one poll chain
      if (!this.destroyed) this.timer = setTimeout(() => void this.refresh(), pollIntervalMs(this.staleAfter()));
    }
  }
}
