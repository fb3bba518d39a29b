import { Injectable, NotFoundException, OnModuleInit } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { Repository } from 'typeorm';
import * as os from 'node:os';
import type {
  AlertChannelDto,
  AlertChannelTestResponse,
  AlertDto,
  AlertSeverity,
  AlertWebhookPayload,
  CreateAlertChannelRequest,
  EmailChannelConfig,
  FieldError,
  UpdateAlertChannelRequest,
  WebhookChannelConfig,
} from '@rsynchub/contracts';
import { assertValid, conflict } from '../common/errors';
import { classifyDeliveryError } from './delivery/classify-delivery-error';
import { DbWriteQueue } from '../database/db-write-queue';
import { SecretBox } from '../rsync-users/secret-box';
import { AlertChannelEntity } from './alert-channel.entity';
import { AlertDeliveryEntity } from './alert-delivery.entity';
import { checkEmailConfig, checkWebhookUrl } from './delivery/format';
import { sendEmail, sendWebhook } from './delivery/senders';

/** A channel ready to send: config plus the decrypted SMTP password (kept in memory only for the send). */
export interface DeliverableChannel {
  id: number;
  name: string;
  type: 'webhook' | 'email';
  minSeverity: AlertSeverity;
  sendResolved: boolean;
  webhook: WebhookChannelConfig | null;
  email: EmailChannelConfig | null;
  password: string | null;
}

export interface ChannelChange {
  before: AlertChannelDto | null;
  after: AlertChannelDto | null;
}

const KEPT_DELIVERIES = 200;
const NAME = /^[^\u0000-\u001f\u007f]{1,64}$/;

export function alertPayload(event: AlertWebhookPayload['event'], alert: AlertDto): AlertWebhookPayload {
  return { version: 1, event, alert, server: { hostname: os.hostname() }, sentAt: new Date().toISOString() };
}

/** Delivery channels: CRUD, the encrypted SMTP password, sending, and the record of each delivery. */
@Injectable()
export class AlertChannelsService implements OnModuleInit {
  constructor(
    @InjectRepository(AlertChannelEntity) private readonly channels: Repository<AlertChannelEntity>,
    @InjectRepository(AlertDeliveryEntity) private readonly deliveries: Repository<AlertDeliveryEntity>,
    private readonly writes: DbWriteQueue,
    private readonly box: SecretBox,
  ) {}

  /** Webhook rows written before URLs were sealed: seal the URL now and keep only its redacted form in config_json. */
  async onModuleInit(): Promise<void> {
    const legacy = await this.channels.find({ where: { type: 'webhook' } });
    for (const r of legacy.filter((x) => x.secretEnc === null)) {
      const config = JSON.parse(r.configJson) as WebhookChannelConfig;
      await this.writes.run((em) =>
        em.getRepository(AlertChannelEntity).update({ id: r.id }, { secretEnc: this.box.encrypt(config.url), configJson: JSON.stringify(withoutSecret(config)) }),
      );
    }
  }

  async list(): Promise<AlertChannelDto[]> {
    const rows = await this.channels.find({ order: { id: 'ASC' } });
    return Promise.all(rows.map((r) => this.toDto(r)));
  }

  async get(id: number): Promise<AlertChannelDto> {
    return this.toDto(await this.findOrFail(id));
  }

  async create(body: CreateAlertChannelRequest): Promise<ChannelChange> {
    const issues = this.checkCommon(body);
    const config = this.configFor(body.type, body.webhook, body.email, issues);
    assertValid(issues);
    await this.assertNameFree(body.name, null);
    const now = new Date().toISOString();
    // The channel's secret: the SMTP password, or the whole webhook URL (it may carry credentials or a token).
    const secret = body.type === 'email' ? (body.email?.password || null) : (body.webhook?.url ?? null);
    const row: Omit<AlertChannelEntity, 'id'> = {
      name: body.name,
      type: body.type,
      enabled: body.enabled ?? true,
      minSeverity: body.minSeverity ?? 'warning',
      sendResolved: body.sendResolved ?? true,
      configJson: JSON.stringify(withoutSecret(config)),
      secretEnc: secret ? this.box.encrypt(secret) : null,
      createdAt: now,
      updatedAt: now,
    };
    const res = await this.writes.run((em) => em.getRepository(AlertChannelEntity).insert(row));
    return { before: null, after: await this.get(res.identifiers[0]!.id as number) };
  }

  async update(id: number, body: UpdateAlertChannelRequest): Promise<ChannelChange> {
    const existing = await this.findOrFail(id);
    const before = await this.toDto(existing);
    const issues = this.checkCommon(body);
    if (existing.type === 'webhook' && body.email) issues.push({ field: 'email', message: 'this is a webhook channel' });
    if (existing.type === 'email' && body.webhook) issues.push({ field: 'webhook', message: 'this is an email channel' });
    let configJson = existing.configJson;
    let secretEnc = existing.secretEnc;
    if (existing.type === 'webhook' && body.webhook) {
      // Left out, or sent back as the API showed it (redacted): the stored URL stays.
      const storedUrl = this.webhookUrlOf(existing);
      const keep = body.webhook.url === undefined || body.webhook.url === redactWebhookUrl(storedUrl);
      const url = keep ? storedUrl : body.webhook.url!;
      configJson = JSON.stringify(withoutSecret(this.configFor('webhook', { url, format: body.webhook.format }, undefined, issues)));
      if (!keep) secretEnc = this.box.encrypt(url);
      else if (secretEnc === null) secretEnc = this.box.encrypt(storedUrl); // a row from before URLs were sealed
    } else if (existing.type === 'email' && body.email) {
      configJson = JSON.stringify(this.configFor('email', undefined, body.email, issues));
      if (body.email.password !== undefined) secretEnc = body.email.password === '' ? null : this.box.encrypt(body.email.password);
    }
    assertValid(issues);
    if (body.name !== undefined) await this.assertNameFree(body.name, id);
    await this.writes.run((em) =>
      em.getRepository(AlertChannelEntity).update(
        { id },
        {
          name: body.name ?? existing.name,
          enabled: body.enabled ?? existing.enabled,
          minSeverity: body.minSeverity ?? existing.minSeverity,
          sendResolved: body.sendResolved ?? existing.sendResolved,
          configJson,
          secretEnc,
          updatedAt: new Date().toISOString(),
        },
      ),
    );
    return { before, after: await this.get(id) };
  }

  async remove(id: number): Promise<ChannelChange> {
    const before = await this.get(id);
    await this.writes.run(async (em) => {
      await em.getRepository(AlertDeliveryEntity).delete({ channelId: id });
      await em.getRepository(AlertChannelEntity).delete({ id });
    });
    return { before, after: null };
  }

  /** Enabled channels, with their secrets decrypted for sending. */
  async deliverable(): Promise<DeliverableChannel[]> {
    const rows = await this.channels.find({ where: { enabled: true }, order: { id: 'ASC' } });
    return rows.map((r) => this.toDeliverable(r));
  }

  /** Sends one message now; throws with the reason when the channel did not accept it. */
  async send(channel: DeliverableChannel, payload: AlertWebhookPayload): Promise<void> {
    if (channel.type === 'webhook' && channel.webhook) await sendWebhook(channel.webhook, payload);
    else if (channel.type === 'email' && channel.email) await sendEmail(channel.email, channel.password, payload);
    else throw new Error('channel has no configuration');
  }

  /** Records the outcome; only the newest KEPT_DELIVERIES per channel are kept (the console shows the last one). */
  async recordDelivery(channelId: number, alertId: number | null, kind: AlertDeliveryEntity['kind'], error: string | null): Promise<void> {
    await this.writes
      .run(async (em) => {
        await em.getRepository(AlertDeliveryEntity).insert({ channelId, alertId, kind, at: new Date().toISOString(), ok: error === null, error });
        await em.query(
          `DELETE FROM alert_deliveries WHERE channel_id = ? AND id <= (SELECT id FROM alert_deliveries WHERE channel_id = ? ORDER BY id DESC LIMIT 1 OFFSET ?)`,
          [channelId, channelId, KEPT_DELIVERIES],
        );
      })
      .catch(() => undefined); // the channel may have been deleted meanwhile
  }

  /** The console's "Send test": a sample alert through this channel, even when it is disabled. */
  async test(id: number, sample: AlertDto): Promise<AlertChannelTestResponse> {
    const channel = this.toDeliverable(await this.findOrFail(id));
    let error: string | null = null;
    try {
      await this.send(channel, alertPayload('test', sample));
    } catch (err) {
      error = describeError(err);
    }
    await this.recordDelivery(id, null, 'test', error);
    return { ok: error === null, error };
  }

  private toDeliverable(r: AlertChannelEntity): DeliverableChannel {
    const config = JSON.parse(r.configJson) as WebhookChannelConfig | EmailChannelConfig;
    return {
      id: r.id,
      name: r.name,
      type: r.type,
      minSeverity: r.minSeverity,
      sendResolved: r.sendResolved,
      webhook: r.type === 'webhook' ? { ...(config as WebhookChannelConfig), url: this.webhookUrlOf(r) } : null,
      email: r.type === 'email' ? (config as EmailChannelConfig) : null,
      password: r.type === 'email' && r.secretEnc ? this.box.decrypt(r.secretEnc) : null,
    };
  }

  private checkCommon(body: { name?: string }): FieldError[] {
    const issues: FieldError[] = [];
    if (body.name !== undefined && (!NAME.test(body.name) || body.name.trim() !== body.name)) {
      issues.push({ field: 'name', message: 'must be 1 to 64 characters, no control characters or leading/trailing spaces' });
    }
    return issues;
  }

  /** The secret-free config to store, checking it against the channel type. */
  private configFor(
    type: string,
    webhook: WebhookChannelConfig | undefined,
    email: (EmailChannelConfig & { password?: string }) | undefined,
    issues: FieldError[],
  ): WebhookChannelConfig | EmailChannelConfig | null {
    if (type === 'webhook') {
      if (!webhook) {
        issues.push({ field: 'webhook', message: 'is required for a webhook channel ({ "url": "https://…", "format": "json" })' });
        return null;
      }
      if (email) issues.push({ field: 'email', message: 'must be absent for a webhook channel' });
      issues.push(...checkWebhookUrl(webhook.url));
      return { url: webhook.url, format: webhook.format };
    }
    if (!email) {
      issues.push({ field: 'email', message: 'is required for an email channel' });
      return null;
    }
    if (webhook) issues.push({ field: 'webhook', message: 'must be absent for an email channel' });
    issues.push(...checkEmailConfig(email));
    return { host: email.host, port: email.port, security: email.security, username: email.username || null, from: email.from, to: email.to };
  }

  private async assertNameFree(name: string, exceptId: number | null): Promise<void> {
    const other = await this.channels.createQueryBuilder('c').where('c.name = :name COLLATE NOCASE', { name }).getOne();
    if (other && other.id !== exceptId) throw conflict(`an alert channel named "${name}" already exists`);
  }

  /** The full webhook URL: sealed in secret_enc (rows written before URLs were sealed keep it in config_json). */
  private webhookUrlOf(r: AlertChannelEntity): string {
    return r.secretEnc ? this.box.decrypt(r.secretEnc) : (JSON.parse(r.configJson) as WebhookChannelConfig).url;
  }

  private async findOrFail(id: number): Promise<AlertChannelEntity> {
    const row = await this.channels.findOneBy({ id });
    if (!row) throw new NotFoundException(`alert channel ${id} does not exist`);
    return row;
  }

  private async toDto(r: AlertChannelEntity): Promise<AlertChannelDto> {
    const config = JSON.parse(r.configJson) as WebhookChannelConfig | EmailChannelConfig;
    const last = await this.deliveries.findOne({ where: { channelId: r.id }, order: { id: 'DESC' } });
    return {
      id: r.id,
      name: r.name,
      type: r.type,
      enabled: r.enabled,
      minSeverity: r.minSeverity,
      sendResolved: r.sendResolved,
      webhook: r.type === 'webhook' ? { format: (config as WebhookChannelConfig).format, url: redactWebhookUrl((config as WebhookChannelConfig).url) } : null,
      email: r.type === 'email' ? { ...(config as EmailChannelConfig), passwordSet: r.secretEnc !== null } : null,
      createdAt: r.createdAt,
      updatedAt: r.updatedAt,
      lastDelivery: last ? { at: last.at, kind: last.kind, ok: last.ok, error: last.error, alertId: last.alertId } : null,
    };
  }
}

/**
 * A webhook URL as the API shows it: scheme, host and port, then `…`. The path, query and user info may hold a token
 * or credentials, so they are never returned, logged or audited.
 */
export function redactWebhookUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}/…`;
  } catch {
    return '…';
  }
}

/** The config as stored in config_json: a webhook's URL only in its redacted form (the full one is sealed). */
function withoutSecret(config: WebhookChannelConfig | EmailChannelConfig | null): WebhookChannelConfig | EmailChannelConfig | null {
  if (config && 'url' in config) return { ...config, url: redactWebhookUrl(config.url) };
  return config;
}

/** A delivery error in fixed words (see classifyDeliveryError): never the remote server's text, never the URL. */
export function describeError(err: unknown): string {
  return classifyDeliveryError(err);
}
