import { Component, DestroyRef, OnInit, inject, input, signal } from '@angular/core';
import { takeUntilDestroyed } from '@angular/core/rxjs-interop';
import { FormsModule } from '@angular/forms';
import { RouterLink } from '@angular/router';
import { MatButtonModule } from '@angular/material/button';
import { MatFormFieldModule } from '@angular/material/form-field';
import { MatInputModule } from '@angular/material/input';
import { MatProgressBarModule } from '@angular/material/progress-bar';
import type { FileEventDto, FileOp, TransferSessionDto } from '@rsynchub/contracts';
import { ApiService } from '../../core/api.service';
import type { ApiError } from '../../core/api-error';
import { formatBytes, formatCount, formatTime } from '../../core/format';
import { LiveEventsService } from '../../core/live-events.service';
import { ErrorBannerComponent } from '../../shared/error-banner.component';

@Component({
  selector: 'rh-transfer-detail-page',
  imports: [RouterLink, FormsModule, MatButtonModule, MatFormFieldModule, MatInputModule, MatProgressBarModule, ErrorBannerComponent],
  template: `
    <div class="rh-page-header">
      <h1>Transfer session #{{ id() }}</h1>
      <a mat-button routerLink="/transfers">All transfers</a>
    </div>
    <rh-error-banner [error]="error()" />
    @if (session(); as s) {
      <section class="rh-card" data-testid="transfer-detail">
        <dl class="rh-kv">
          <dt>Status</dt><dd><span class="rh-status" [class]="s.status">{{ s.status }}</span> @if (s.exitCode !== null) {exit {{ s.exitCode }}}</dd>
          @if (s.error) {<dt>Error</dt><dd style="color:#b3261e">{{ s.error }}</dd>}
          <dt>Module</dt><dd>@if (s.module) {<a [routerLink]="['/modules', s.module]">{{ s.module }}</a>} @else {—}</dd>
          <dt>User</dt><dd>{{ s.user ?? '—' }}</dd>
          <dt>Client</dt><dd>{{ s.clientIp }} {{ s.clientHost && s.clientHost !== s.clientIp ? '(' + s.clientHost + ')' : '' }}</dd>
          <dt>Direction</dt><dd>{{ s.direction ?? '—' }}</dd>
          <dt>Started · ended</dt><dd>{{ fmtTime(s.startedAt) }} · {{ fmtTime(s.endedAt) }}</dd>
          <dt>Files</dt><dd data-testid="transfer-counts">{{ fmtCount(s.fileCount) }} files, {{ fmtCount(s.dirCount) }} directories, {{ fmtCount(s.deletedCount) }} deleted</dd>
          <dt>Bytes</dt><dd>{{ fmtBytes(s.bytesReceived) }} received, {{ fmtBytes(s.bytesSent) }} sent, total size {{ fmtBytes(s.totalSize) }}</dd>
          <dt>Daemon PID</dt><dd>{{ s.daemonPid }}</dd>
        </dl>
      </section>
    }
    <section class="rh-card">
      <h2>Files</h2>
      <div class="rh-filters">
        <mat-form-field appearance="outline" subscriptSizing="dynamic">
          <mat-label>Operation</mat-label>
          <select matNativeControl [ngModel]="op()" (ngModelChange)="op.set($event); reload()"><option value="">all</option><option value="recv">recv</option><option value="send">send</option><option value="del">del</option></select>
        </mat-form-field>
        <mat-form-field appearance="outline" subscriptSizing="dynamic">
          <mat-label>Path contains</mat-label>
          <input matInput [ngModel]="path()" (ngModelChange)="path.set($event)" (keydown.enter)="reload()" />
        </mat-form-field>
        <button mat-button (click)="reload()">Filter</button>
      </div>
      @if (loading()) {<mat-progress-bar mode="indeterminate" />}
      @if (files().length) {
        <div class="rh-table-wrap" tabindex="0" role="region" aria-label="Files of this session">
          <table class="rh-table" data-testid="transfer-files">
            <thead><tr><th>Time</th><th>Op</th><th>Path</th><th>Size</th><th>On the wire</th><th>Itemize</th></tr></thead>
            <tbody>
              @for (f of files(); track f.id) {
                <tr><td>{{ fmtTime(f.at) }}</td><td><code>{{ f.op }}</code></td><td style="overflow-wrap:anywhere">{{ f.path }}</td><td>{{ fmtBytes(f.size) }}</td><td>{{ fmtBytes(f.bytes) }}</td><td><code>{{ f.itemize }}</code></td></tr>
              }
            </tbody>
          </table>
        </div>
        @if (nextCursor()) {<button mat-button (click)="more()" [disabled]="loading()">Load more</button>}
      } @else if (!loading()) {
        <p class="rh-empty" data-testid="transfer-files-empty">No file events recorded for this session.</p>
      }
    </section>
  `,
})
export class TransferDetailPage implements OnInit {
  private readonly api = inject(ApiService);
  readonly id = input.required<string>();
  readonly session = signal<TransferSessionDto | null>(null);
  readonly files = signal<FileEventDto[]>([]);
  readonly nextCursor = signal<string | null>(null);
  readonly loading = signal(false);
  readonly error = signal<ApiError | null>(null);
  readonly op = signal<'' | FileOp>('');
  readonly path = signal('');
  readonly fmtBytes = formatBytes;
  readonly fmtCount = formatCount;
  readonly fmtTime = formatTime;
  private readonly live = inject(LiveEventsService);
  private readonly destroyRef = inject(DestroyRef);

  ngOnInit(): void {
    this.load();
    this.live.refetch$.pipe(takeUntilDestroyed(this.destroyRef)).subscribe(() => {
      this.error.set(null);
      this.load();
    });
    // A running session's counts and bytes follow the live stream.
    this.live.on('session.progress').pipe(takeUntilDestroyed(this.destroyRef)).subscribe((s) => this.follow(s));
    this.live.on('session.ended').pipe(takeUntilDestroyed(this.destroyRef)).subscribe((s) => this.follow(s));
  }

  private follow(s: TransferSessionDto): void {
    if (s.id === Number(this.id())) this.session.set(s);
  }

  private load(): void {
    // Sessions are numbered: anything else names no session, said plainly instead of asking the server.
    if (!/^\d{1,15}$/.test(this.id())) {
      this.error.set(this.noSuchTransfer());
      return;
    }
    this.api.transfer(Number(this.id())).then(
      (s) => this.session.set(s),
      (e: ApiError) => this.error.set(e.status === 404 ? this.noSuchTransfer() : e),
    );
    this.reload();
  }

  private noSuchTransfer(): ApiError {
    return {
      status: 404,
      kind: 'not_found',
      message: `No such transfer: there is no transfer session "${this.id()}" (it may never have existed, or retention removed it).`,
      details: [],
    };
  }

  reload(): void {
    void this.fetch(false);
  }

  more(): void {
    void this.fetch(true);
  }

  private async fetch(append: boolean): Promise<void> {
    this.loading.set(true);
    try {
      const page = await this.api.transferFiles(Number(this.id()), {
        limit: 200,
        ...(this.op() ? { op: this.op() as FileOp } : {}),
        ...(this.path().trim() ? { path: this.path().trim() } : {}),
        ...(append && this.nextCursor() ? { cursor: this.nextCursor()! } : {}),
      });
      this.files.update((cur) => (append ? [...cur, ...page.items] : page.items));
      this.nextCursor.set(page.nextCursor);
    } catch (err) {
      if (!this.error()) this.error.set((err as ApiError).status === 404 ? this.noSuchTransfer() : (err as ApiError));
    } finally {
      this.loading.set(false);
    }
  }
}
