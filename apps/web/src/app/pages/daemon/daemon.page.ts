import { Component, ElementRef, Injector, OnInit, computed, inject, signal } from '@angular/core';
import { takeUntilDestroyed } from '@angular/core/rxjs-interop';
import { FormBuilder, ReactiveFormsModule, Validators } from '@angular/forms';
import { MatFormFieldModule } from '@angular/material/form-field';
import { MatInputModule } from '@angular/material/input';
import { MatButtonModule } from '@angular/material/button';
import { MatCheckboxModule } from '@angular/material/checkbox';
import { MatProgressBarModule } from '@angular/material/progress-bar';
import type { DaemonConfigDto, DaemonSettingsViewDto, DaemonStatusDto } from '@rsynchub/contracts';
import { ApiService } from '../../core/api.service';
import { AuthService } from '../../core/auth.service';
import type { ApiError } from '../../core/api-error';
import { applyServerErrors, bannerRemainder, focusFirstProblem, type FormErrorOptions } from '../../core/form-errors';
import { warnBeforeUnload, type HasUnsavedChanges } from '../../core/unsaved-changes';
import { formatDuration, formatTime, splitList } from '../../core/format';
import { LiveEventsService } from '../../core/live-events.service';
import { refetchOnReconnect } from '../../core/refetch-on-reconnect';
import { ErrorBannerComponent } from '../../shared/error-banner.component';
import { CopyBlockComponent } from '../../shared/copy-block.component';
import { MatDialog, MatDialogModule } from '@angular/material/dialog';
import { firstValueFrom } from 'rxjs';
import { ConfirmDialogComponent, type ConfirmData, type ConfirmResult } from '../../shared/confirm-dialog.component';
import { BansSectionComponent } from './bans-section.component';

@Component({
  selector: 'rh-daemon-page',
  imports: [ReactiveFormsModule, MatFormFieldModule, MatInputModule, MatButtonModule, MatCheckboxModule, MatProgressBarModule, MatDialogModule, ErrorBannerComponent, CopyBlockComponent, BansSectionComponent],
  templateUrl: './daemon.page.html',
})
export class DaemonPage implements OnInit, HasUnsavedChanges {
  private readonly api = inject(ApiService);
  private readonly host = inject<ElementRef<HTMLElement>>(ElementRef);
  private readonly injector = inject(Injector);
  readonly errorOptions: FormErrorOptions = {
    labels: {
      port: 'Port', address: 'Address', maxConnections: 'Max connections', timeout: 'Timeout', hostsAllow: 'Hosts allow', hostsDeny: 'Hosts deny',
      publicHost: 'Public host', motd: 'Message of the day', reverseLookup: 'Reverse lookup',
    },
    lists: { hostsAllow: 'line', hostsDeny: 'line' },
  };
  private readonly dialog = inject(MatDialog);
  readonly auth = inject(AuthService);
  readonly live = inject(LiveEventsService);
  readonly status = signal<DaemonStatusDto | null>(null);
  /**
   * What the page may claim about the daemon: only while the live stream is open. While the server cannot be reached
   * the last known state (say "running", with a pid) may be false, so state, pid and uptime show as unknown.
   */
  readonly liveOpen = computed(() => this.live.state() === 'open');
  readonly shownState = computed(() => (this.liveOpen() ? (this.status()?.state ?? '…') : 'unknown'));
  /** Reloads after a reconnect or resync; unsaved edits of the settings form are kept. */
  private readonly refetch = refetchOnReconnect(() => this.load({ keepEdits: true }));
  readonly config = signal<DaemonConfigDto | null>(null);
  readonly loading = signal(true);
  readonly saving = signal(false);
  readonly busy = signal(false);
  readonly error = signal<ApiError | null>(null);
  readonly formError = signal<ApiError | null>(null);
  readonly saved = signal(false);
  readonly fmtDuration = formatDuration;
  readonly fmtTime = formatTime;
  /** Fields an environment variable sets (shown disabled, with the variable's name). */
  readonly pinned = signal<DaemonSettingsViewDto['pinnedByEnvironment']>({});

  readonly form = inject(FormBuilder).nonNullable.group({
    port: [873, [Validators.required, Validators.min(1), Validators.max(65535)]],
    address: ['', Validators.required],
    motd: [''],
    maxConnections: [0, [Validators.required, Validators.min(0)]],
    timeout: [0, [Validators.required, Validators.min(0), Validators.max(86400)]],
    reverseLookup: [false],
    hostsAllow: [''],
    hostsDeny: [''],
    publicHost: [''],
  });
  /** What connect snippets use now: publicHost, or the server's automatic default. */
  readonly publicHostEffective = signal<string | null>(null);

  constructor() {
    warnBeforeUnload(() => this.hasUnsavedChanges());
    this.live
      .on('daemon.status')
      .pipe(takeUntilDestroyed())
      .subscribe((s) => this.status.set(s));
  }

  ngOnInit(): void {
    void this.load();
  }

  /** Settings edited and not saved. */
  hasUnsavedChanges(): boolean {
    return this.form.dirty && !this.saving();
  }

  async load(opts: { keepEdits?: boolean } = {}): Promise<void> {
    this.loading.set(true);
    try {
      const [status, settings, config] = await Promise.all([this.api.daemon(), this.api.daemonSettings(), this.api.daemonConfig()]);
      this.status.set(status);
      this.config.set(config);
      if (!(opts.keepEdits && this.form.dirty)) this.fill(settings);
      this.error.set(null);
    } catch (err) {
      this.error.set(err as ApiError);
    } finally {
      this.loading.set(false);
    }
    if (!this.auth.canEdit()) this.form.disable();
  }

  private fill(s: DaemonSettingsViewDto): void {
    const { pinnedByEnvironment, ...settings } = s;
    this.form.reset({ ...settings, publicHost: s.publicHost ?? '', hostsAllow: s.hostsAllow.join('\n'), hostsDeny: s.hostsDeny.join('\n') });
    this.pinned.set(pinnedByEnvironment ?? {});
    for (const f of ['port', 'address'] as const) {
      if (this.pinned()[f]) this.form.controls[f].disable();
      else if (this.auth.canEdit()) this.form.controls[f].enable();
    }
    this.publicHostEffective.set(s.publicHostEffective ?? null);
  }

  async save(): Promise<void> {
    this.saved.set(false);
    if (this.form.invalid) {
      this.form.markAllAsTouched();
      focusFirstProblem(this.host.nativeElement, this.injector);
      return;
    }
    this.saving.set(true);
    this.formError.set(null);
    const v = this.form.getRawValue();
    try {
      const s = await this.api.updateDaemonSettings({
        ...v,
        port: Number(v.port),
        maxConnections: Number(v.maxConnections),
        timeout: Number(v.timeout),
        hostsAllow: splitList(v.hostsAllow),
        hostsDeny: splitList(v.hostsDeny),
      });
      this.fill(s);
      this.saved.set(true);
      const [status, config] = await Promise.all([this.api.daemon(), this.api.daemonConfig()]);
      this.status.set(status);
      this.config.set(config);
    } catch (err) {
      const e = err as ApiError;
      this.formError.set(bannerRemainder(e, applyServerErrors(this.form.controls, e, this.errorOptions)));
      focusFirstProblem(this.host.nativeElement, this.injector);
    } finally {
      this.saving.set(false);
    }
  }

  async action(a: 'start' | 'stop' | 'restart'): Promise<void> {
    // Stopping or restarting cuts every running transfer: ask first. Starting harms nobody.
    if (a !== 'start') {
      const data: ConfirmData =
        a === 'stop'
          ? { title: 'Stop the rsync daemon?', message: 'Running transfers are cut off, and no client can connect until it is started again.', confirmLabel: 'Stop daemon' }
          : { title: 'Restart the rsync daemon?', message: 'Running transfers are cut off; clients can connect again once it is back.', confirmLabel: 'Restart daemon' };
      const res = await firstValueFrom(this.dialog.open<ConfirmDialogComponent, ConfirmData, ConfirmResult>(ConfirmDialogComponent, { data }).afterClosed());
      if (!res?.confirmed) return;
    }
    this.busy.set(true);
    this.error.set(null);
    try {
      this.status.set(await this.api.daemonAction(a));
    } catch (err) {
      this.error.set(err as ApiError);
    } finally {
      this.busy.set(false);
    }
  }

  err(field: keyof typeof this.form.controls): string | null {
    const c = this.form.controls[field];
    if (!c.errors || !c.touched) return null;
    if (c.errors['server']) return String(c.errors['server']);
    if (c.errors['required']) return 'Required.';
    if (c.errors['min'] || c.errors['max']) return 'Out of range.';
    return null;
  }
}
