import { Component, OnInit, computed, inject, signal } from '@angular/core';
import { FormBuilder, ReactiveFormsModule } from '@angular/forms';
import { MatFormFieldModule } from '@angular/material/form-field';
import { MatInputModule } from '@angular/material/input';
import { MatButtonModule } from '@angular/material/button';
import { MatProgressBarModule } from '@angular/material/progress-bar';
import type { AuditEntryDto, AuditQuery } from '@rsynchub/contracts';
import { ApiService } from '../../core/api.service';
import type { ApiError } from '../../core/api-error';
import { formatTime } from '../../core/format';
import { ErrorBannerComponent } from '../../shared/error-banner.component';
import { localToIso } from '../transfers/transfers.page';
import { diffValues, type DiffLine } from './diff';

@Component({
  selector: 'rh-audit-page',
  imports: [ReactiveFormsModule, MatFormFieldModule, MatInputModule, MatButtonModule, MatProgressBarModule, ErrorBannerComponent],
  templateUrl: './audit.page.html',
  styleUrl: './audit.page.css',
})
export class AuditPage implements OnInit {
  private readonly api = inject(ApiService);
  readonly items = signal<AuditEntryDto[]>([]);
  readonly nextCursor = signal<string | null>(null);
  readonly loading = signal(false);
  readonly error = signal<ApiError | null>(null);
  readonly query = signal<AuditQuery>({});
  readonly expanded = signal<number | null>(null);
  readonly csvUrl = computed(() => this.api.url('audit', { ...(this.query() as Record<string, string>), format: 'csv' }));
  readonly fmtTime = formatTime;
  readonly filters = inject(FormBuilder).nonNullable.group({ actor: '', action: '', target: '', outcome: '', from: '', to: '' });

  ngOnInit(): void {
    void this.fetch(false);
  }

  apply(): void {
    const v = this.filters.getRawValue();
    const q: AuditQuery = {};
    for (const k of ['actor', 'action', 'target'] as const) if (v[k].trim()) q[k] = v[k].trim();
    if (v.outcome === 'success' || v.outcome === 'failure') q.outcome = v.outcome;
    const from = localToIso(v.from);
    const to = localToIso(v.to);
    if (from) q.from = from;
    if (to) q.to = to;
    this.query.set(q);
    void this.fetch(false);
  }

  clear(): void {
    this.filters.reset();
    this.apply();
  }

  more(): void {
    void this.fetch(true);
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

  private async fetch(append: boolean): Promise<void> {
    this.loading.set(true);
    try {
      const page = await this.api.audit({ ...this.query(), limit: 50, ...(append && this.nextCursor() ? { cursor: this.nextCursor()! } : {}) });
      this.items.update((cur) => (append ? [...cur, ...page.items] : page.items));
      this.nextCursor.set(page.nextCursor);
      this.error.set(null);
    } catch (err) {
      const e = err as ApiError;
      this.error.set(e.status === 404 ? { ...e, message: 'The audit log is not available on this server yet.' } : e);
      if (!append) this.items.set([]);
    } finally {
      this.loading.set(false);
    }
  }
}
