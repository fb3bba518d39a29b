import { Inject, Injectable, Logger, NotFoundException, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { Subscription } from 'rxjs';
import { IsNull, Repository } from 'typeorm';
import type { AlertDto, AlertQuery, AlertRuleDto, AlertRuleSettings, DaemonStatusDto, Page, StorageUsageDto } from '@rsynchub/contracts';
import { assertValid } from '../common/errors';
import { decodeCursor, encodeCursor, parseLimit } from '../common/pagination';
import { DbWriteQueue } from '../database/db-write-queue';
import { LiveEventsHub } from '../events/live-events.hub';
import { AlertEntity } from './alert.entity';
import { AlertInputsCollector } from './alert-inputs.service';
import { AlertNotifier } from './alert-notifier.service';
import { AlertRuleSettingsEntity } from './alert-rule-settings.entity';
import { ALERTS_CONFIG, AlertsConfig } from './alerts-config';
import { nextTriggeredStart } from './evaluation-pacing';
import { ALERT_RULES, AlertCondition, AlertRule, checkRuleSettings, effectiveSettings, OpenAlert, reconcile } from './rules';

/** Events after which an evaluation runs at once (debounced), instead of waiting for the next tick. */
const TRIGGERS = new Set(['daemon.status', 'session.ended', 'auth.failed', 'source.heartbeat', 'config.drift']);
const DEBOUNCE_MS = 200;
/** Event-triggered evaluations start at most this often, so a busy ingest (a session ending every few ms) stays cheap. */
const MIN_GAP_MS = 1_000;
/** Event-triggered evaluations (and ones asked for while one runs) keep evaluating to at most this share of the time. */
const MAX_BUSY_SHARE = 0.2;
/** A rule naming more conditions than this in one evaluation is cut (a flood of distinct keys is itself a problem). */
const MAX_CONDITIONS_PER_RULE = 100;

export function alertToDto(e: AlertEntity): AlertDto {
  return {
    id: e.id,
    rule: e.rule,
    key: e.key,
    severity: e.severity,
    state: e.state,
    title: e.title,
    message: e.message,
    details: JSON.parse(e.detailsJson) as Record<string, unknown>,
    firstSeenAt: e.firstSeenAt,
    lastSeenAt: e.lastSeenAt,
    resolvedAt: e.resolvedAt,
    occurrences: e.occurrences,
    acknowledgedAt: e.acknowledgedAt,
    acknowledgedBy: e.acknowledgedBy,
  };
}

/**
 * The alert engine: evaluates every rule on a timer and right after relevant live events, raises one alert per
 * condition key while it holds (deduplicated), resolves it when it clears, streams each change on the WebSocket
 * (`alert.changed`) and hands firing/resolved messages to the notifier.
 */
@Injectable()
export class AlertsService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(AlertsService.name);
  private timer: NodeJS.Timeout | null = null;
  private debounce: NodeJS.Timeout | null = null;
  private subscription: Subscription | null = null;
  private running: Promise<void> | null = null;
  private again = false;
  private stopped = false;
  /** performance.now() (monotonic: a clock step must not hold triggered evaluations back) of the last start and end. */
  private lastStart = 0;
  private lastEnd = 0;
  /** The next evaluation samples free space afresh (the periodic one, or one asked for with evaluateNow). */
  private storageDue = true;
  /** evaluateNow() is waiting: the evaluation after the running one starts at once, unpaced. */
  private urgent = false;

  constructor(
    @InjectRepository(AlertEntity) private readonly alerts: Repository<AlertEntity>,
    @InjectRepository(AlertRuleSettingsEntity) private readonly settings: Repository<AlertRuleSettingsEntity>,
    private readonly writes: DbWriteQueue,
    private readonly hub: LiveEventsHub,
    private readonly inputs: AlertInputsCollector,
    private readonly notifier: AlertNotifier,
    @Inject(ALERTS_CONFIG) private readonly config: AlertsConfig,
  ) {}

  onApplicationBootstrap(): void {
    this.subscription = this.hub.events.subscribe((e) => {
      if (e.type === 'daemon.status') this.inputs.observeDaemon(e.data as DaemonStatusDto);
      if (TRIGGERS.has(e.type)) this.soon();
    });
    this.timer = setInterval(() => {
      this.storageDue = true;
      this.kick();
    }, this.config.intervalMs);
    this.timer.unref();
    this.soon();
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopped = true;
    this.subscription?.unsubscribe();
    if (this.timer) clearInterval(this.timer);
    if (this.debounce) clearTimeout(this.debounce);
    await this.running;
  }

  /** Runs an evaluation now (or right after the one in progress) and waits for it. */
  async evaluateNow(): Promise<void> {
    this.storageDue = true;
    this.urgent = true;
    this.kick();
    while (this.running) await this.running;
  }

  async list(q: AlertQuery): Promise<Page<AlertDto>> {
    const limit = parseLimit(q.limit);
    const qb = this.alerts.createQueryBuilder('a').orderBy('a.id', 'DESC');
    const cursor = decodeCursor(q.cursor);
    if (cursor !== null) qb.andWhere('a.id < :cursor', { cursor });
    if (q.state) qb.andWhere('a.state = :state', { state: q.state });
    if (q.rule) qb.andWhere('a.rule = :rule', { rule: q.rule });
    if (q.unacknowledged === 'true') qb.andWhere('a.acknowledged_at IS NULL');
    const rows = await qb.take(limit + 1).getMany();
    const items = rows.slice(0, limit).map(alertToDto);
    return { items, nextCursor: rows.length > limit ? encodeCursor(items[items.length - 1]!.id) : null };
  }

  async get(id: number): Promise<AlertDto> {
    const row = await this.alerts.findOneBy({ id });
    if (!row) throw new NotFoundException(`alert ${id} does not exist`);
    return alertToDto(row);
  }

  /** Marks an alert as seen by `by`. Idempotent: a second acknowledgement keeps the first one's name and time. */
  async acknowledge(id: number, by: string): Promise<{ before: AlertDto; after: AlertDto }> {
    const before = await this.get(id);
    if (before.acknowledgedAt) return { before, after: before };
    await this.writes.run((em) => em.getRepository(AlertEntity).update({ id, acknowledgedAt: IsNull() }, { acknowledgedAt: new Date().toISOString(), acknowledgedBy: by }));
    const after = await this.get(id);
    this.hub.publish('alert.changed', after);
    return { before, after };
  }

  async rules(): Promise<AlertRuleDto[]> {
    const stored = await this.storedSettings();
    return ALERT_RULES.map((r) => ({
      id: r.id,
      title: r.title,
      description: r.description,
      fields: [{ name: 'enabled', label: 'Enabled', type: 'boolean' as const }, ...r.fields],
      settings: effectiveSettings(r, stored.get(r.id)),
      defaults: { enabled: true, ...r.defaults },
    }));
  }

  async updateRule(id: string, update: unknown): Promise<{ before: AlertRuleDto; after: AlertRuleDto }> {
    const rule = ALERT_RULES.find((r) => r.id === id);
    if (!rule) throw new NotFoundException(`alert rule "${id}" does not exist (rules: ${ALERT_RULES.map((r) => r.id).join(', ')})`);
    assertValid(checkRuleSettings(rule, update));
    const before = (await this.rules()).find((r) => r.id === id)!;
    const merged = { ...before.settings, ...(update as AlertRuleSettings) };
    await this.writes.run((em) =>
      em.query(
        `INSERT INTO alert_rule_settings (rule, settings_json, updated_at) VALUES (?,?,?)
         ON CONFLICT(rule) DO UPDATE SET settings_json = excluded.settings_json, updated_at = excluded.updated_at`,
        [id, JSON.stringify(merged), new Date().toISOString()],
      ),
    );
    const after = (await this.rules()).find((r) => r.id === id)!;
    this.soon();
    return { before, after };
  }

  async storage(): Promise<StorageUsageDto> {
    const rule = ALERT_RULES.find((r) => r.id === 'storage-low')!;
    const s = effectiveSettings(rule, (await this.storedSettings()).get(rule.id));
    const thresholds = { minFreePercent: s.enabled ? Number(s.minFreePercent) : 0, minFreeBytes: s.enabled ? Number(s.minFreeBytes) : 0 };
    const inputs = await this.inputs.collect(0, thresholds);
    return { entries: inputs.storage ?? [], thresholds };
  }

  private soon(): void {
    if (this.stopped || this.debounce) return;
    // Never later than the periodic evaluation would come anyway.
    const paced = nextTriggeredStart(this.lastStart, this.lastEnd, MIN_GAP_MS, MAX_BUSY_SHARE) - performance.now();
    const wait = Math.max(DEBOUNCE_MS, Math.min(paced, this.config.intervalMs));
    this.debounce = setTimeout(() => {
      this.debounce = null;
      this.kick();
    }, wait);
    this.debounce.unref();
  }

  private kick(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.lastStart = performance.now();
    this.running = this.evaluate()
      .catch((err: unknown) => this.logger.error(`alert evaluation failed: ${(err as Error).message}`))
      .finally(() => {
        this.running = null;
        this.lastEnd = performance.now();
        if (this.again) {
          this.again = false;
          // Paced like an event-triggered one: asked for back to back, slow evaluations would otherwise fill a core.
          if (this.urgent) this.kick();
          else this.soon();
        }
      });
  }

  private async storedSettings(): Promise<Map<string, Record<string, unknown>>> {
    const rows = await this.settings.find();
    const out = new Map<string, Record<string, unknown>>();
    for (const r of rows) {
      try {
        out.set(r.rule, JSON.parse(r.settingsJson) as Record<string, unknown>);
      } catch {
        /* unreadable: defaults apply */
      }
    }
    return out;
  }

  private async evaluate(): Promise<void> {
    const storageMaxAgeMs = this.storageDue ? 0 : this.config.intervalMs;
    this.storageDue = false;
    this.urgent = false;
    const stored = await this.storedSettings();
    const active = ALERT_RULES.map((rule) => ({ rule, settings: effectiveSettings(rule, stored.get(rule.id)) }));
    const lookback = Math.max(0, ...active.filter((a) => a.settings.enabled).map((a) => a.rule.lookbackSeconds?.(a.settings) ?? 0));
    const storage = active.find((a) => a.rule.id === 'storage-low')!.settings;
    const inputs = await this.inputs.collect(lookback, { minFreePercent: Number(storage.minFreePercent), minFreeBytes: Number(storage.minFreeBytes) }, storageMaxAgeMs);
    const open = await this.alerts.findBy({ state: 'firing' });
    const nowIso = new Date(inputs.now).toISOString();
    for (const { rule, settings } of active) {
      let conditions: AlertCondition[] | null;
      try {
        conditions = settings.enabled ? rule.evaluate(inputs, settings) : [];
      } catch (err) {
        this.logger.error(`alert rule ${rule.id} failed: ${(err as Error).message}`);
        conditions = null;
      }
      if (conditions && conditions.length > MAX_CONDITIONS_PER_RULE) conditions = conditions.slice(0, MAX_CONDITIONS_PER_RULE);
      await this.apply(rule, open.filter((a) => a.rule === rule.id), conditions, nowIso);
    }
  }

  private async apply(rule: AlertRule, open: AlertEntity[], conditions: AlertCondition[] | null, nowIso: string): Promise<void> {
    const byId = new Map(open.map((a) => [a.id, a]));
    const r = reconcile(open.map(toOpen), conditions);
    for (const c of r.fire) {
      const row: Omit<AlertEntity, 'id'> = {
        rule: rule.id,
        key: c.key,
        severity: c.severity,
        state: 'firing',
        title: c.title,
        message: c.message,
        detailsJson: JSON.stringify(c.details),
        firstSeenAt: nowIso,
        lastSeenAt: nowIso,
        resolvedAt: null,
        occurrences: Math.max(1, c.occurrences),
        acknowledgedAt: null,
        acknowledgedBy: null,
      };
      const res = await this.writes.run((em) => em.getRepository(AlertEntity).insert(row));
      const dto = alertToDto({ ...row, id: res.identifiers[0]!.id as number });
      this.logger.warn(`alert #${dto.id} firing: ${dto.title}`);
      this.hub.publish('alert.changed', dto);
      this.notifier.notify(dto, 'firing');
    }
    for (const { alert, condition: c } of r.update) {
      const patch = { severity: c.severity, title: c.title, message: c.message, detailsJson: JSON.stringify(c.details), occurrences: Math.max(1, c.occurrences), lastSeenAt: nowIso };
      await this.writes.run((em) => em.getRepository(AlertEntity).update({ id: alert.id }, patch));
      this.hub.publish('alert.changed', alertToDto({ ...byId.get(alert.id)!, ...patch }));
    }
    if (r.unchanged.length > 0) {
      const ids = r.unchanged.map((a) => a.id);
      await this.writes.run((em) => em.createQueryBuilder().update(AlertEntity).set({ lastSeenAt: nowIso }).whereInIds(ids).execute());
    }
    for (const alert of r.resolve) {
      const patch = { state: 'resolved' as const, resolvedAt: nowIso };
      await this.writes.run((em) => em.getRepository(AlertEntity).update({ id: alert.id }, patch));
      const dto = alertToDto({ ...byId.get(alert.id)!, ...patch });
      this.logger.log(`alert #${dto.id} resolved: ${dto.title}`);
      this.hub.publish('alert.changed', dto);
      this.notifier.notify(dto, 'resolved');
    }
  }
}

function toOpen(a: AlertEntity): OpenAlert {
  return { id: a.id, key: a.key, severity: a.severity, title: a.title, message: a.message, occurrences: a.occurrences, detailsJson: a.detailsJson };
}
