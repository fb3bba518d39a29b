import { Component, computed, inject, signal } from '@angular/core';
import { takeUntilDestroyed } from '@angular/core/rxjs-interop';
import { FormBuilder, ReactiveFormsModule } from '@angular/forms';
import { ActivatedRoute, Router } from '@angular/router';
import { MatFormFieldModule } from '@angular/material/form-field';
import { MatInputModule } from '@angular/material/input';
import { MatButtonModule } from '@angular/material/button';
import { MatProgressBarModule } from '@angular/material/progress-bar';
import type { AuditEntryDto, AuditQuery } from '@rsynchub/contracts';
import { ApiService } from '../../core/api.service';
import { formatTime } from '../../core/format';
import { refetchOnReconnect } from '../../core/refetch-on-reconnect';
import { ErrorBannerComponent } from '../../shared/error-banner.component';
import { CursorList, filterQuery } from '../../core/cursor-list';
import { activeFilters, formFromQuery, queryFromParams, type FilterSpec } from '../../core/url-filters';
import { FilterPanelComponent } from '../../shared/filter-panel.component';
import { diffValues, type DiffLine } from './diff';

@Component({
  selector: 'rh-audit-page',
  imports: [ReactiveFormsModule, MatFormFieldModule, MatInputModule, MatButtonModule, MatProgressBarModule, ErrorBannerComponent, FilterPanelComponent],
  templateUrl: './audit.page.html',
  styleUrl: './audit.page.css',
})
export class AuditPage {
  private readonly api = inject(ApiService);
  private readonly router = inject(Router);
  private readonly route = inject(ActivatedRoute);
  private readonly list = new CursorList<AuditEntryDto, AuditQuery>((q) => this.api.audit(q), 'The audit log is not available on this server yet.');
  readonly items = this.list.items;
  readonly nextCursor = this.list.nextCursor;
  readonly loading = this.list.loading;
  readonly error = this.list.error;
  readonly query = this.list.query;
  readonly expanded = signal<number | null>(null);
  readonly csvUrl = computed(() => this.api.url('audit', { ...(this.query() as Record<string, string>), format: 'csv' }));
  readonly fmtTime = formatTime;
  readonly filters = inject(FormBuilder).nonNullable.group({ actor: '', action: '', target: '', outcome: '', from: '', to: '' });
  readonly activeCount = computed(() => activeFilters(this.query()));
  /** The filters live in the URL: a link, a reload and back/forward all show the same entries. */
  private readonly fromUrl = this.route.queryParamMap.pipe(takeUntilDestroyed()).subscribe((params) => {
    const q = queryFromParams(params, AUDIT_FILTERS) as AuditQuery;
    this.filters.patchValue(formFromQuery(q as Record<string, string>, AUDIT_FILTERS));
    void this.list.search(q);
  });

  /** Loads again after a live-stream reconnect or resync: the server may have changed (or restarted) meanwhile. */
  private readonly refetch = refetchOnReconnect(() => this.list.reload());

  apply(): void {
    const v = this.filters.getRawValue();
    const q: AuditQuery = filterQuery(v, ['actor', 'action', 'target'] as const);
    if (v.outcome === 'success' || v.outcome === 'failure') q.outcome = v.outcome;
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

  toggle(e: AuditEntryDto): void {
    this.expanded.update((id) => (id === e.id ? null : e.id));
  }

  diff(e: AuditEntryDto): DiffLine[] {
    return diffValues(e.before, e.after);
  }

  hasChanges(e: AuditEntryDto): boolean {
    return (e.before !== null && e.before !== undefined) || (e.after !== null && e.after !== undefined);
  }
}

/** The filters of the audit log, as the URL and the API name them. */
const AUDIT_FILTERS: FilterSpec = { text: ['actor', 'action', 'target'], choice: { outcome: ['success', 'failure'] } };
