import { Component, DestroyRef, OnInit, computed, inject, signal } from '@angular/core';
import { takeUntilDestroyed } from '@angular/core/rxjs-interop';
import { FormBuilder, FormGroupDirective, ReactiveFormsModule, Validators } from '@angular/forms';
import { MatButtonModule } from '@angular/material/button';
import { MatCheckboxModule } from '@angular/material/checkbox';
import { MatFormFieldModule } from '@angular/material/form-field';
import { MatInputModule } from '@angular/material/input';
import { MatProgressBarModule } from '@angular/material/progress-bar';
import { MatSelectModule } from '@angular/material/select';
import {
  ALERT_SEVERITIES,
  WEBHOOK_FORMATS,
  type AlertChannelDto,
  type AlertChannelTestResponse,
  type AlertDto,
  type AlertRuleDto,
  type AlertRuleSettings,
  type AlertState,
  type CreateAlertChannelRequest,
  type StorageUsageDto,
} from '@rsynchub/contracts';
import { AuthService } from '../../core/auth.service';
import { type ApiError } from '../../core/api-error';
import { formatTime, splitList } from '../../core/format';
import { LiveEventsService } from '../../core/live-events.service';
import { ErrorBannerComponent } from '../../shared/error-banner.component';
import { AlertsApiService } from './alerts-api.service';
import { formatFree, upsertAlert } from './alert-list';

/**
 * Alerts: what is firing now (with acknowledgement), the history, the rules and their thresholds, the delivery
 * channels with a Send test button, and free space per storage root and module. Alert changes arrive live.
 */
@Component({
  selector: 'rh-alerts-page',
  imports: [ReactiveFormsModule, MatButtonModule, MatCheckboxModule, MatFormFieldModule, MatInputModule, MatProgressBarModule, MatSelectModule, ErrorBannerComponent],
  templateUrl: './alerts.page.html',
  styleUrl: './alerts.page.css',
})
export class AlertsPage implements OnInit {
  private readonly api = inject(AlertsApiService);
  private readonly live = inject(LiveEventsService);
  private readonly destroyRef = inject(DestroyRef);
  readonly auth = inject(AuthService);

  readonly alerts = signal<AlertDto[]>([]);
  readonly historyState = signal<AlertState | ''>('');
  readonly rules = signal<AlertRuleDto[]>([]);
  readonly channels = signal<AlertChannelDto[]>([]);
  readonly storage = signal<StorageUsageDto | null>(null);
  readonly loading = signal(true);
  readonly error = signal<ApiError | null>(null);
  readonly ruleErrors = signal<Record<string, ApiError | null>>({});
  readonly ruleSaved = signal<string | null>(null);
  readonly drafts = signal<Record<string, AlertRuleSettings>>({});
  readonly channelError = signal<ApiError | null>(null);
  readonly editingChannel = signal<AlertChannelDto | null>(null);
  readonly testResults = signal<Record<number, AlertChannelTestResponse | 'sending'>>({});
  readonly fmt = formatTime;
  readonly fmtFree = formatFree;
  readonly severities = ALERT_SEVERITIES;
  readonly formats = WEBHOOK_FORMATS;

  readonly firing = computed(() => this.alerts().filter((a) => a.state === 'firing'));
  readonly history = computed(() => {
    const s = this.historyState();
    return s ? this.alerts().filter((a) => a.state === s) : this.alerts();
  });

  readonly channelForm = inject(FormBuilder).nonNullable.group({
    name: ['', [Validators.required, Validators.maxLength(64)]],
    type: ['webhook' as 'webhook' | 'email'],
    minSeverity: ['warning' as (typeof ALERT_SEVERITIES)[number]],
    sendResolved: [true],
    enabled: [true],
    url: [''],
    format: ['json' as (typeof WEBHOOK_FORMATS)[number]],
    host: [''],
    port: [587],
    security: ['starttls' as 'tls' | 'starttls' | 'none'],
    username: [''],
    password: [''],
    from: [''],
    to: [''],
  });

  constructor() {
    this.live
      .on('alert.changed')
      .pipe(takeUntilDestroyed(this.destroyRef))
      .subscribe((a) => this.alerts.update((list) => upsertAlert(list, a)));
    // After a reconnect or a resync the stream may have missed changes (or the server restarted): fetch the truth
    // again. Rule drafts being edited are kept; alerts, channels and free space are replaced.
    this.live.refetch$.pipe(takeUntilDestroyed(this.destroyRef)).subscribe(() => void this.reloadLive());
  }

  ngOnInit(): void {
    void this.load();
  }

  async load(): Promise<void> {
    this.loading.set(true);
    try {
      const [rules, channels, storage] = await Promise.all([this.api.rules(), this.api.channels(), this.api.storage()]);
      await this.loadAlerts();
      this.rules.set(rules);
      this.drafts.set(Object.fromEntries(rules.map((r) => [r.id, { ...r.settings }])));
      this.channels.set(channels);
      this.storage.set(storage);
      this.error.set(null);
    } catch (err) {
      this.error.set(err as ApiError);
    } finally {
      this.loading.set(false);
    }
  }

  async reloadLive(): Promise<void> {
    try {
      const [channels, storage] = await Promise.all([this.api.channels(), this.api.storage(), this.loadAlerts()]);
      this.channels.set(channels);
      this.storage.set(storage);
      if (this.rules().length === 0) await this.load();
      this.error.set(null);
    } catch (err) {
      this.error.set(err as ApiError);
    }
  }

  async loadAlerts(): Promise<void> {
    const page = await this.api.alerts({ limit: 200 });
    this.alerts.set(page.items);
  }

  async acknowledge(a: AlertDto): Promise<void> {
    try {
      const after = await this.api.acknowledge(a.id);
      this.alerts.update((list) => upsertAlert(list, after));
    } catch (err) {
      this.error.set(err as ApiError);
    }
  }

  // rules ---------------------------------------------------------------------------------------------------------

  setDraft(rule: string, field: string, value: number | boolean): void {
    this.drafts.update((d) => ({ ...d, [rule]: { ...d[rule], [field]: value } }));
  }

  numberValue(event: Event): number {
    const raw = (event.target as HTMLInputElement).value;
    return raw === '' ? NaN : Number(raw);
  }

  async saveRule(rule: AlertRuleDto): Promise<void> {
    this.ruleSaved.set(null);
    try {
      const after = await this.api.updateRule(rule.id, this.drafts()[rule.id] ?? {});
      this.rules.update((list) => list.map((r) => (r.id === after.id ? after : r)));
      this.drafts.update((d) => ({ ...d, [after.id]: { ...after.settings } }));
      this.ruleErrors.update((e) => ({ ...e, [rule.id]: null }));
      this.ruleSaved.set(rule.id);
      if (rule.id === 'storage-low') this.storage.set(await this.api.storage());
    } catch (err) {
      this.ruleErrors.update((e) => ({ ...e, [rule.id]: err as ApiError }));
    }
  }

  // channels ------------------------------------------------------------------------------------------------------

  editChannel(c: AlertChannelDto): void {
    this.editingChannel.set(c);
    this.channelError.set(null);
    this.channelForm.reset({
      name: c.name,
      type: c.type,
      minSeverity: c.minSeverity,
      sendResolved: c.sendResolved,
      enabled: c.enabled,
      url: c.webhook?.url ?? '',
      format: c.webhook?.format ?? 'json',
      host: c.email?.host ?? '',
      port: c.email?.port ?? 587,
      security: c.email?.security ?? 'starttls',
      username: c.email?.username ?? '',
      password: '',
      from: c.email?.from ?? '',
      to: (c.email?.to ?? []).join(', '),
    });
  }

  /** `dir` resets the submitted flag too, so the emptied form does not show 'required' errors. */
  cancelEdit(dir?: FormGroupDirective): void {
    this.editingChannel.set(null);
    this.channelError.set(null);
    dir?.resetForm();
    this.channelForm.reset();
  }

  async saveChannel(dir?: FormGroupDirective): Promise<void> {
    if (this.channelForm.invalid) {
      this.channelForm.markAllAsTouched();
      return;
    }
    const v = this.channelForm.getRawValue();
    const editing = this.editingChannel();
    const body: CreateAlertChannelRequest = {
      name: v.name,
      type: v.type,
      minSeverity: v.minSeverity,
      sendResolved: v.sendResolved,
      enabled: v.enabled,
      ...(v.type === 'webhook'
        ? { webhook: { url: v.url.trim(), format: v.format } }
        : {
            email: {
              host: v.host.trim(),
              port: Number(v.port),
              security: v.security,
              username: v.username.trim() || null,
              from: v.from.trim(),
              to: splitList(v.to),
              // Empty on edit keeps the stored password.
              ...(v.password || !editing ? { password: v.password } : {}),
            },
          }),
    };
    try {
      if (editing) {
        const { type: _type, ...update } = body;
        await this.api.updateChannel(editing.id, update);
      } else {
        await this.api.createChannel(body);
      }
      this.cancelEdit(dir);
      this.channels.set(await this.api.channels());
    } catch (err) {
      this.channelError.set(err as ApiError);
    }
  }

  async deleteChannel(c: AlertChannelDto): Promise<void> {
    if (!confirm(`Delete the alert channel "${c.name}"?`)) return;
    try {
      await this.api.deleteChannel(c.id);
      this.channels.set(await this.api.channels());
    } catch (err) {
      this.error.set(err as ApiError);
    }
  }

  async testChannel(c: AlertChannelDto): Promise<void> {
    this.testResults.update((r) => ({ ...r, [c.id]: 'sending' }));
    try {
      const res = await this.api.testChannel(c.id);
      this.testResults.update((r) => ({ ...r, [c.id]: res }));
      this.channels.set(await this.api.channels());
    } catch (err) {
      this.testResults.update((r) => ({ ...r, [c.id]: { ok: false, error: (err as ApiError).message } }));
    }
  }

  testResult(id: number): AlertChannelTestResponse | 'sending' | undefined {
    return this.testResults()[id];
  }

  detailsText(a: AlertDto): string {
    return JSON.stringify(a.details, null, 2);
  }
}
