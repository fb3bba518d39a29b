import { Component, DestroyRef, OnInit, computed, inject } from '@angular/core';
import { takeUntilDestroyed } from '@angular/core/rxjs-interop';
import { FormBuilder, ReactiveFormsModule } from '@angular/forms';
import { ActivatedRoute, Router } from '@angular/router';
import { MatFormFieldModule } from '@angular/material/form-field';
import { MatInputModule } from '@angular/material/input';
import { MatButtonModule } from '@angular/material/button';
import { MatProgressBarModule } from '@angular/material/progress-bar';
import { TRANSFER_STATUSES, type TransferQuery, type TransferSessionDto, type TransferStatus } from '@rsynchub/contracts';
import { ApiService } from '../../core/api.service';
import { CursorList, filterQuery } from '../../core/cursor-list';
import { activeFilters, formFromQuery, queryFromParams, type FilterSpec } from '../../core/url-filters';
import { FilterPanelComponent } from '../../shared/filter-panel.component';
import { formatBytes, formatCount, formatTime } from '../../core/format';
import { LiveEventsService } from '../../core/live-events.service';
import { ErrorBannerComponent } from '../../shared/error-banner.component';

@Component({
  selector: 'rh-transfers-page',
  imports: [ReactiveFormsModule, MatFormFieldModule, MatInputModule, MatButtonModule, MatProgressBarModule, ErrorBannerComponent, FilterPanelComponent],
  template: `
    <div class="rh-page-header" data-testid="transfers-page">
      <h1>Transfers</h1>
      <a mat-stroked-button [href]="csvUrl()" download data-testid="transfers-csv">Export CSV</a>
    </div>
    <rh-filter-panel [active]="activeCount()">
    <form class="rh-card rh-filters" [formGroup]="filters" (ngSubmit)="apply()" aria-label="Filter transfers" data-testid="transfers-filters">
      <mat-form-field appearance="outline" subscriptSizing="dynamic"><mat-label>Module</mat-label><input matInput formControlName="module" data-testid="filter-module" /></mat-form-field>
      <mat-form-field appearance="outline" subscriptSizing="dynamic"><mat-label>User</mat-label><input matInput formControlName="user" data-testid="filter-user" /></mat-form-field>
      <mat-form-field appearance="outline" subscriptSizing="dynamic"><mat-label>Client IP</mat-label><input matInput formControlName="ip" /></mat-form-field>
      <mat-form-field appearance="outline" subscriptSizing="dynamic">
        <mat-label>Status</mat-label>
        <select matNativeControl formControlName="status" data-testid="filter-status"><option value="">any</option>@for (s of statuses; track s) {<option [value]="s">{{ s }}</option>}</select>
      </mat-form-field>
      <mat-form-field appearance="outline" subscriptSizing="dynamic"><mat-label>File path contains</mat-label><input matInput formControlName="path" /></mat-form-field>
      <mat-form-field appearance="outline" subscriptSizing="dynamic"><mat-label>From</mat-label><input matInput type="datetime-local" formControlName="from" /></mat-form-field>
      <mat-form-field appearance="outline" subscriptSizing="dynamic"><mat-label>To</mat-label><input matInput type="datetime-local" formControlName="to" /></mat-form-field>
      <div class="rh-actions">
        <button mat-flat-button color="primary" type="submit" data-testid="transfers-apply">Apply</button>
        <button mat-button type="button" (click)="clear()" data-testid="transfers-clear">Clear</button>
      </div>
    </form>
    </rh-filter-panel>
    <rh-error-banner [error]="error()" />
    <div class="rh-card">
      @if (loading()) {<mat-progress-bar mode="indeterminate" />}
      @if (items().length) {
        <div class="rh-table-wrap" tabindex="0" role="region" aria-label="Transfer sessions">
          <table class="rh-table" data-testid="transfers-table">
            <thead><tr><th>Started</th><th class="wide">Ended</th><th>Module</th><th class="wide">User</th><th class="wide">Client</th><th class="wide">Dir.</th><th class="wide">Files</th><th class="wide">Bytes in/out</th><th>Status</th></tr></thead>
            <tbody>
              @for (s of items(); track s.id) {
                <tr class="clickable" tabindex="0" (click)="open(s)" (keydown.enter)="open(s)" [attr.data-testid]="'transfer-row-' + s.id">
                  <td>{{ fmtTime(s.startedAt) }}</td><td class="wide">{{ fmtTime(s.endedAt) }}</td>
                  <td>{{ s.module ?? '—' }}</td><td class="wide">{{ s.user ?? '—' }}</td><td class="wide">{{ s.clientIp }}</td><td class="wide">{{ s.direction ?? '—' }}</td>
                  <td class="wide" [attr.title]="fmtCount(s.dirCount) + ' directories'">{{ fmtCount(s.fileCount) }}@if (s.deletedCount) { (−{{ fmtCount(s.deletedCount) }})}</td>
                  <td class="wide">{{ fmtBytes(s.bytesReceived) }} / {{ fmtBytes(s.bytesSent) }}</td>
                  <td data-testid="transfer-status"><span class="rh-status" [class]="s.status" [attr.title]="s.error ?? ''">{{ s.status }}</span></td>
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
  // On a phone the table keeps when, where and how it went (status) on screen; the rest is one tap away (the row).
  styles: `
    @media (max-width: 800px) {
      .wide { display: none; }
      .rh-table td { overflow-wrap: break-word; }
      .rh-status { white-space: nowrap; }
    }
  `,
})
export class TransfersPage implements OnInit {
  private readonly api = inject(ApiService);
  private readonly router = inject(Router);
  private readonly route = inject(ActivatedRoute);
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
  readonly activeCount = computed(() => activeFilters(this.query()));
  private liveTimer: ReturnType<typeof setTimeout> | null = null;

  ngOnInit(): void {
    // The filters live in the URL: a link, a reload and back/forward all show the same list.
    this.route.queryParamMap.pipe(takeUntilDestroyed(this.destroyRef)).subscribe((params) => {
      const q = queryFromParams(params, TRANSFER_FILTERS) as TransferQuery;
      this.filters.patchValue(formFromQuery(q as Record<string, string>, TRANSFER_FILTERS));
      void this.list.search(q);
    });
    // After a reconnect (the server may have restarted) the list and any error shown are stale.
    this.live.refetch$.pipe(takeUntilDestroyed(this.destroyRef)).subscribe(() => void this.list.reload());
    // New and changing sessions show up as they happen (the server decides what matches the filters).
    this.live.messages$.pipe(takeUntilDestroyed(this.destroyRef)).subscribe((msg) => {
      if (msg.type === 'session.started' || msg.type === 'session.progress' || msg.type === 'session.ended' || msg.type === 'auth.failed') this.scheduleLiveRefresh();
    });
    this.destroyRef.onDestroy(() => {
      if (this.liveTimer) clearTimeout(this.liveTimer);
    });
  }

  /** Events come in bursts (progress of a big push): one refresh of the first page per half second at most. */
  private scheduleLiveRefresh(): void {
    if (this.liveTimer) return;
    this.liveTimer = setTimeout(() => {
      this.liveTimer = null;
      void this.list.mergeNewest((s) => s.id);
    }, 500);
  }

  apply(): void {
    const v = this.filters.getRawValue();
    const q: TransferQuery = filterQuery(v, ['module', 'user', 'ip', 'path'] as const);
    if (v.status) q.status = v.status as TransferStatus;
    const url = this.router.createUrlTree([], { relativeTo: this.route, queryParams: q });
    // The same filters again: the router would skip the navigation, so just read the list again.
    if (this.router.isActive(url, { paths: 'exact', queryParams: 'exact', fragment: 'ignored', matrixParams: 'ignored' })) void this.list.search(q);
    else void this.router.navigateByUrl(url);
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

/** The filters of the transfer list, as the URL and the API name them. */
const TRANSFER_FILTERS: FilterSpec = { text: ['module', 'user', 'ip', 'path'], choice: { status: TRANSFER_STATUSES } };
