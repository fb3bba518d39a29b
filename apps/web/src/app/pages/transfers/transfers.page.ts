import { Component, DestroyRef, OnInit, computed, inject } from '@angular/core';
import { takeUntilDestroyed } from '@angular/core/rxjs-interop';
import { FormBuilder, ReactiveFormsModule } from '@angular/forms';
import { Router } from '@angular/router';
import { MatFormFieldModule } from '@angular/material/form-field';
import { MatInputModule } from '@angular/material/input';
import { MatButtonModule } from '@angular/material/button';
import { MatProgressBarModule } from '@angular/material/progress-bar';
import { TRANSFER_STATUSES, type TransferQuery, type TransferSessionDto, type TransferStatus } from '@rsynchub/contracts';
import { ApiService } from '../../core/api.service';
import { CursorList, filterQuery } from '../../core/cursor-list';
import { formatBytes, formatCount, formatTime } from '../../core/format';
import { LiveEventsService } from '../../core/live-events.service';
import { ErrorBannerComponent } from '../../shared/error-banner.component';

@Component({
  selector: 'rh-transfers-page',
  imports: [ReactiveFormsModule, MatFormFieldModule, MatInputModule, MatButtonModule, MatProgressBarModule, ErrorBannerComponent],
  template: `
    <div class="rh-page-header" data-testid="transfers-page">
      <h1>Transfers</h1>
      <a mat-stroked-button [href]="csvUrl()" download data-testid="transfers-csv">Export CSV</a>
    </div>
    <form class="rh-card rh-filters" [formGroup]="filters" (ngSubmit)="apply()" data-testid="transfers-filters">
      <mat-form-field appearance="outline" subscriptSizing="dynamic"><mat-label>Module</mat-label><input matInput formControlName="module" /></mat-form-field>
      <mat-form-field appearance="outline" subscriptSizing="dynamic"><mat-label>User</mat-label><input matInput formControlName="user" /></mat-form-field>
      <mat-form-field appearance="outline" subscriptSizing="dynamic"><mat-label>Client IP</mat-label><input matInput formControlName="ip" /></mat-form-field>
      <mat-form-field appearance="outline" subscriptSizing="dynamic">
        <mat-label>Status</mat-label>
        <select matNativeControl formControlName="status"><option value="">any</option>@for (s of statuses; track s) {<option [value]="s">{{ s }}</option>}</select>
      </mat-form-field>
      <mat-form-field appearance="outline" subscriptSizing="dynamic"><mat-label>File path contains</mat-label><input matInput formControlName="path" /></mat-form-field>
      <mat-form-field appearance="outline" subscriptSizing="dynamic"><mat-label>From</mat-label><input matInput type="datetime-local" formControlName="from" /></mat-form-field>
      <mat-form-field appearance="outline" subscriptSizing="dynamic"><mat-label>To</mat-label><input matInput type="datetime-local" formControlName="to" /></mat-form-field>
      <div class="rh-actions">
        <button mat-flat-button color="primary" type="submit">Apply</button>
        <button mat-button type="button" (click)="clear()">Clear</button>
      </div>
    </form>
    <rh-error-banner [error]="error()" />
    <div class="rh-card">
      @if (loading()) {<mat-progress-bar mode="indeterminate" />}
      @if (items().length) {
        <div class="rh-table-wrap">
          <table class="rh-table" data-testid="transfers-table">
            <thead><tr><th>Started</th><th>Ended</th><th>Module</th><th>User</th><th>Client</th><th>Dir.</th><th>Files</th><th>Bytes in/out</th><th>Status</th></tr></thead>
            <tbody>
              @for (s of items(); track s.id) {
                <tr class="clickable" tabindex="0" (click)="open(s)" (keydown.enter)="open(s)" [attr.data-testid]="'transfer-row-' + s.id">
                  <td>{{ fmtTime(s.startedAt) }}</td><td>{{ fmtTime(s.endedAt) }}</td>
                  <td>{{ s.module ?? '—' }}</td><td>{{ s.user ?? '—' }}</td><td>{{ s.clientIp }}</td><td>{{ s.direction ?? '—' }}</td>
                  <td [attr.title]="fmtCount(s.dirCount) + ' directories'">{{ fmtCount(s.fileCount) }}@if (s.deletedCount) { (−{{ fmtCount(s.deletedCount) }})}</td>
                  <td>{{ fmtBytes(s.bytesReceived) }} / {{ fmtBytes(s.bytesSent) }}</td>
                  <td><span class="rh-status" [class]="s.status" [attr.title]="s.error ?? ''">{{ s.status }}</span></td>
                </tr>
              }
            </tbody>
          </table>
        </div>
        @if (nextCursor()) {<button mat-button (click)="more()" [disabled]="loading()" data-testid="transfers-more">Load older</button>}
      } @else if (!loading() && !error()) {
        <p class="rh-empty" data-testid="transfers-empty">No transfer sessions match.</p>
      }
    </div>
  `,
})
export class TransfersPage implements OnInit {
  private readonly api = inject(ApiService);
  private readonly router = inject(Router);
  readonly statuses = TRANSFER_STATUSES;
  private readonly list = new CursorList<TransferSessionDto, TransferQuery>((q) => this.api.transfers(q), 'Transfer history is not available on this server yet.');
  readonly items = this.list.items;
  readonly nextCursor = this.list.nextCursor;
  readonly loading = this.list.loading;
  readonly error = this.list.error;
  readonly query = this.list.query;
  readonly csvUrl = computed(() => this.api.url('transfers', { ...(this.query() as Record<string, string>), format: 'csv' }));
  readonly fmtBytes = formatBytes;
  readonly fmtCount = formatCount;
  readonly fmtTime = formatTime;
  private readonly live = inject(LiveEventsService);
  private readonly destroyRef = inject(DestroyRef);
  readonly filters = inject(FormBuilder).nonNullable.group({ module: '', user: '', ip: '', status: '', path: '', from: '', to: '' });

  ngOnInit(): void {
    void this.list.reload();
    // After a reconnect (the server may have restarted) the list and any error shown are stale.
    this.live.refetch$.pipe(takeUntilDestroyed(this.destroyRef)).subscribe(() => void this.list.reload());
  }

  apply(): void {
    const v = this.filters.getRawValue();
    const q: TransferQuery = filterQuery(v, ['module', 'user', 'ip', 'path'] as const);
    if (v.status) q.status = v.status as TransferStatus;
    void this.list.search(q);
  }

  clear(): void {
    this.filters.reset();
    this.apply();
  }

  more(): void {
    void this.list.more();
  }

  open(s: TransferSessionDto): void {
    void this.router.navigate(['/transfers', s.id]);
  }
}
