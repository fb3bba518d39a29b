import { Component, OnInit, computed, effect, inject, signal, viewChild } from '@angular/core';
import { Router, RouterLink } from '@angular/router';
import { MatTableDataSource, MatTableModule } from '@angular/material/table';
import { MatSort, MatSortModule } from '@angular/material/sort';
import { MatFormFieldModule } from '@angular/material/form-field';
import { MatInputModule } from '@angular/material/input';
import { MatButtonModule } from '@angular/material/button';
import { MatDialog } from '@angular/material/dialog';
import { MatProgressBarModule } from '@angular/material/progress-bar';
import { MatPaginatorModule, type PageEvent } from '@angular/material/paginator';
import type { ModuleActivityDto, ModuleDto } from '@rsynchub/contracts';
import { ApiService } from '../../core/api.service';
import { confirmModuleDelete } from './confirm-module-delete';
import { AuthService } from '../../core/auth.service';
import type { ApiError } from '../../core/api-error';
import { formatBytes, formatTime } from '../../core/format';
import { refetchOnReconnect } from '../../core/refetch-on-reconnect';
import { ErrorBannerComponent } from '../../shared/error-banner.component';
import { moduleExtras } from './module-summary';

export interface ModuleRow {
  name: string;
  path: string;
  users: string;
  access: string;
  enabled: boolean;
  lastActivity: string | null;
  /** Total size of the newest successful push, for "size of last push". */
  lastPushSize: number | null;
  module: ModuleDto;
}

/**
 * The module's mode as the daemon applies it. The server refuses a read-only module with an rw grant (rsync would
 * let that user write), so 'read-only' here is always true for everyone.
 */
export function accessLabel(m: Pick<ModuleDto, 'readOnly' | 'writeOnly'> & Partial<Pick<ModuleDto, 'anonymous'>>): string {
  const mode = m.readOnly ? 'read-only' : m.writeOnly ? 'write-only' : 'read-write';
  return m.anonymous && m.anonymous !== 'none' ? `${mode}, no password` : mode;
}

/** Who can use the module without a password, for the chip shown instead of users; null when nobody can. */
export function anonymousLabel(m: Pick<ModuleDto, 'users' | 'anonymous' | 'writeOnly'>): { text: string; danger: boolean } | null {
  if (m.users.length > 0 || !m.anonymous || m.anonymous === 'none') return null;
  if (m.anonymous === 'read') return { text: 'anyone: read', danger: false };
  return { text: m.writeOnly ? 'anyone: write' : 'anyone: read-write', danger: true };
}

export function toRow(m: ModuleDto, activity: ModuleActivityDto | null): ModuleRow {
  return {
    name: m.name,
    path: m.path,
    users: m.users.map((u) => `${u.name}:${u.access}`).join(', '),
    access: accessLabel(m),
    enabled: m.enabled,
    lastActivity: activity?.lastSessionAt ?? null,
    lastPushSize: activity?.lastPushSize ?? null,
    module: m,
  };
}

@Component({
  selector: 'rh-modules-page',
  imports: [RouterLink, MatTableModule, MatSortModule, MatPaginatorModule, MatFormFieldModule, MatInputModule, MatButtonModule, MatProgressBarModule, ErrorBannerComponent],
  template: `
    <div class="rh-page-header">
      <h1>Modules</h1>
      @if (auth.canEdit()) {
        <a mat-flat-button color="primary" routerLink="/modules/new" data-testid="module-create">New module</a>
      }
    </div>
    <rh-error-banner [error]="error()" />
    @if (notice(); as n) {<p class="rh-success" role="status" data-testid="module-notice">{{ n }}</p>}
    <div class="rh-card">
      <mat-form-field appearance="outline" subscriptSizing="dynamic" style="width: min(360px, 100%)">
        <mat-label>Filter</mat-label>
        <input matInput (input)="onFilter($any($event.target).value)" placeholder="name starts with…" data-testid="module-filter" />
      </mat-form-field>
      @if (loading()) {<mat-progress-bar mode="indeterminate" />}
      <div class="rh-table-wrap" tabindex="0" role="region" aria-label="Modules">
        <table mat-table [dataSource]="data" matSort class="modules-table" data-testid="modules-table">
          <ng-container matColumnDef="name">
            <th mat-header-cell *matHeaderCellDef mat-sort-header>Name</th>
            <td mat-cell *matCellDef="let r"><a [routerLink]="['/modules', r.name]" [attr.data-testid]="'module-link-' + r.name">{{ r.name }}</a>
              @if (!r.enabled) {<span class="rh-chip">disabled</span>}</td>
          </ng-container>
          <ng-container matColumnDef="path">
            <th mat-header-cell *matHeaderCellDef mat-sort-header>Path</th>
            <td mat-cell *matCellDef="let r"><code>{{ r.path }}</code></td>
          </ng-container>
          <ng-container matColumnDef="users">
            <th mat-header-cell *matHeaderCellDef mat-sort-header>Users</th>
            <td mat-cell *matCellDef="let r">
              @for (u of r.module.users; track u.name) {<span class="rh-chip">{{ u.name }}:{{ u.access }}</span>}
              @if (anon(r.module); as a) {
                <span class="rh-chip" [class.rh-danger]="a.danger" [attr.data-testid]="'module-anon-' + r.name" [attr.data-danger]="a.danger">{{ a.text }}</span>
              }
            </td>
          </ng-container>
          <ng-container matColumnDef="access">
            <th mat-header-cell *matHeaderCellDef mat-sort-header>Access</th>
            <td mat-cell *matCellDef="let r">{{ r.access }}</td>
          </ng-container>
          <ng-container matColumnDef="settings">
            <th mat-header-cell *matHeaderCellDef>Settings</th>
            <td mat-cell *matCellDef="let r" [attr.data-testid]="'module-extras-' + r.name">
              @for (x of extras(r.module); track $index) {<span class="rh-chip">{{ x }}</span>} @empty {<span class="rh-muted">defaults</span>}
            </td>
          </ng-container>
          <ng-container matColumnDef="lastActivity">
            <th mat-header-cell *matHeaderCellDef mat-sort-header>Last activity</th>
            <td mat-cell *matCellDef="let r">{{ r.lastActivity ? fmt(r.lastActivity) : '—' }}</td>
          </ng-container>
          <ng-container matColumnDef="lastPushSize">
            <th mat-header-cell *matHeaderCellDef mat-sort-header>Last push</th>
            <td mat-cell *matCellDef="let r">{{ r.lastPushSize === null ? '—' : bytes(r.lastPushSize) }}</td>
          </ng-container>
          <ng-container matColumnDef="actions">
            <th mat-header-cell *matHeaderCellDef><span class="rh-sr-only">Actions</span></th>
            <td mat-cell *matCellDef="let r" class="actions">
              @if (auth.canEdit()) {
                <a mat-button [routerLink]="['/modules', r.name, 'edit']" [attr.data-testid]="'module-edit-' + r.name">Edit</a>
                <button mat-button color="warn" (click)="remove(r.module)" [attr.data-testid]="'module-delete-' + r.name">Delete</button>
              }
            </td>
          </ng-container>
          <tr mat-header-row *matHeaderRowDef="columns()"></tr>
          <tr mat-row *matRowDef="let row; columns: columns()" [attr.data-testid]="'module-row-' + row.name"></tr>
          <tr class="mat-row" *matNoDataRow>
            <td class="rh-empty" [attr.colspan]="columns().length" data-testid="modules-empty">
              {{ loading() ? 'Loading…' : filter() ? 'No module matches the filter.' : 'No modules yet.' }}
            </td>
          </tr>
        </table>
      </div>
      <mat-paginator [length]="total()" [pageIndex]="pageIndex()" [pageSize]="pageSize()" [pageSizeOptions]="[25, 50, 100, 200]"
        (page)="onPage($event)" aria-label="Pages of modules" data-testid="modules-paginator" />
    </div>
  `,
  styles: `.modules-table { width: 100%; } td.actions { white-space: nowrap; text-align: right; }
    @media (max-width: 600px) { .mat-column-path, .mat-column-access, .mat-column-settings, .mat-column-lastActivity, .mat-column-lastPushSize { display: none; } }`,
})
export class ModulesPage implements OnInit {
  private readonly api = inject(ApiService);
  private readonly dialog = inject(MatDialog);
  private readonly router = inject(Router);
  readonly auth = inject(AuthService);
  readonly data = new MatTableDataSource<ModuleRow>([]);
  readonly sort = viewChild(MatSort);
  readonly loading = signal(true);
  readonly error = signal<ApiError | null>(null);
  readonly notice = signal<string | null>(null);
  readonly filter = signal('');
  readonly columns = computed(() => ['name', 'path', 'users', 'access', 'settings', 'lastActivity', 'lastPushSize', ...(this.auth.canEdit() ? ['actions'] : [])]);
  readonly fmt = formatTime;
  readonly bytes = formatBytes;
  readonly anon = anonymousLabel;
  readonly extras = moduleExtras;

  /** Server-side paging (10,000 modules are megabytes as one list): the page shown and how many match in all. */
  readonly total = signal(0);
  readonly pageIndex = signal(0);
  readonly pageSize = signal(50);
  private filterTimer: ReturnType<typeof setTimeout> | undefined;
  /** Only the newest request may fill the table (a slow older page must not overwrite it). */
  private requestNo = 0;

  constructor() {
    effect(() => {
      const s = this.sort();
      if (s) this.data.sort = s;
    });
  }

  /** Loads again after a live-stream reconnect or resync: the server may have changed (or restarted) meanwhile. */
  private readonly refetch = refetchOnReconnect(() => this.load());

  ngOnInit(): void {
    void this.load();
  }

  async load(): Promise<void> {
    const no = ++this.requestNo;
    this.loading.set(true);
    try {
      const size = this.pageSize();
      const q = this.filter().trim();
      const [first, last] = await Promise.all([this.api.modulePage(size, this.pageIndex() * size, q), this.activity()]);
      let page = first;
      if (page.items.length === 0 && page.total > 0) {
        // The page emptied (modules deleted meanwhile): show the last page that has modules.
        this.pageIndex.set(Math.floor((page.total - 1) / size));
        page = await this.api.modulePage(size, this.pageIndex() * size, q);
      }
      if (no !== this.requestNo) return;
      this.total.set(page.total);
      this.data.data = page.items.map((m) => toRow(m, last.get(m.name.toLowerCase()) ?? null));
      this.error.set(null);
    } catch (err) {
      if (no === this.requestNo) this.error.set(err as ApiError);
    } finally {
      if (no === this.requestNo) this.loading.set(false);
    }
  }

  /** The filter is a name prefix the server applies; typing waits a moment so each keystroke is not a request. */
  onFilter(value: string): void {
    this.filter.set(value);
    clearTimeout(this.filterTimer);
    this.filterTimer = setTimeout(() => {
      this.pageIndex.set(0);
      void this.load();
    }, 250);
  }

  onPage(e: PageEvent): void {
    this.pageIndex.set(e.pageIndex);
    this.pageSize.set(e.pageSize);
    void this.load();
  }

  /** Newest session and push per module (lower-cased name: rsync matches module names case-insensitively). */
  private async activity(): Promise<Map<string, ModuleActivityDto>> {
    try {
      return new Map((await this.api.moduleActivity()).map((a) => [a.module.toLowerCase(), a]));
    } catch {
      return new Map(); // history not available: the columns show —
    }
  }

  async remove(m: ModuleDto): Promise<void> {
    const choice = await confirmModuleDelete(this.dialog, m);
    if (!choice) return;
    try {
      const out = await this.api.deleteModule(m.name, choice.purge);
      this.notice.set(out.purged ? `Module ${m.name} deleted with its data.` : `Module ${m.name} deleted; its data in ${m.path} was kept.`);
      this.error.set(null);
      await this.load();
    } catch (err) {
      this.error.set(err as ApiError);
    }
  }
}
