/**
 * Alerts: rules the server evaluates, the alerts they raise, and the channels that deliver them
 * (`/api/v1/alerts`, `/api/v1/alerts/rules`, `/api/v1/alerts/channels`, `/api/v1/alerts/storage`).
 */

export type AlertSeverity = 'warning' | 'error' | 'critical';
export const ALERT_SEVERITIES: readonly AlertSeverity[] = ['warning', 'error', 'critical'];

/** firing: the condition holds now; resolved: it cleared (a new alert is raised if it comes back). */
export type AlertState = 'firing' | 'resolved';
export const ALERT_STATES: readonly AlertState[] = ['firing', 'resolved'];

export interface AlertDto {
  id: number;
  /** The rule that raised it, e.g. `daemon`, `transfer-failed`, `auth-burst`, `storage-low`. */
  rule: string;
  /** What the alert is about; one firing alert per key at a time (deduplication), e.g. `transfer-failed:backups`. */
  key: string;
  severity: AlertSeverity;
  state: AlertState;
  title: string;
  message: string;
  /** Rule-specific facts (module, exit code, free bytes, ...), as shown in the console and sent in payloads. */
  details: Record<string, unknown>;
  firstSeenAt: string;
  /** The last evaluation that found the condition still holding. */
  lastSeenAt: string;
  resolvedAt: string | null;
  /** How many times the rule saw the condition happen during this alert (e.g. failed transfers); at least 1. */
  occurrences: number;
  acknowledgedAt: string | null;
  acknowledgedBy: string | null;
}

export interface AlertQuery {
  state?: AlertState;
  rule?: string;
  /** `true`: only unacknowledged alerts. */
  unacknowledged?: string;
  cursor?: string;
  limit?: number;
}

/** One setting of a rule, described so the console can render a form for any rule. */
export interface AlertRuleFieldDto {
  name: string;
  label: string;
  type: 'boolean' | 'integer';
  min?: number;
  max?: number;
  /** e.g. `seconds`, `bytes`, `%`. */
  unit?: string;
  help?: string;
}

export type AlertRuleSettings = Record<string, number | boolean>;

export interface AlertRuleDto {
  id: string;
  title: string;
  description: string;
  fields: AlertRuleFieldDto[];
  /** Current values, always including `enabled`. */
  settings: AlertRuleSettings;
  defaults: AlertRuleSettings;
}

/** `PUT /api/v1/alerts/rules/:id`: any subset of the rule's fields. */
export type UpdateAlertRuleRequest = AlertRuleSettings;

export type AlertChannelType = 'webhook' | 'email';
export const ALERT_CHANNEL_TYPES: readonly AlertChannelType[] = ['webhook', 'email'];

/** json: RsyncHub's documented payload; slack: `{ "text": ... }`; ntfy: text body with Title/Priority/Tags headers. */
export type WebhookFormat = 'json' | 'slack' | 'ntfy';
export const WEBHOOK_FORMATS: readonly WebhookFormat[] = ['json', 'slack', 'ntfy'];

export interface WebhookChannelConfig {
  /**
   * http:// or https:// only. A secret (it may carry credentials or a token): sent in full only by the admin; the API
   * returns it redacted to scheme, host and port followed by `…` (e.g. `https://hooks.example.com/…`).
   */
  url: string;
  format: WebhookFormat;
}

/** tls: implicit TLS (port 465); starttls: upgrade required; none: plain (local relays only). */
export type SmtpSecurity = 'tls' | 'starttls' | 'none';

export interface EmailChannelConfig {
  host: string;
  port: number;
  security: SmtpSecurity;
  /** null: no SMTP authentication. */
  username: string | null;
  from: string;
  to: string[];
}

export interface AlertDeliveryDto {
  at: string;
  kind: 'firing' | 'resolved' | 'test';
  ok: boolean;
  error: string | null;
  alertId: number | null;
}

export interface AlertChannelDto {
  id: number;
  name: string;
  type: AlertChannelType;
  enabled: boolean;
  /** Alerts below this severity are not sent to this channel. */
  minSeverity: AlertSeverity;
  /** Also send a message when an alert resolves. */
  sendResolved: boolean;
  webhook: WebhookChannelConfig | null;
  /** The SMTP password is never returned; `passwordSet` says whether one is stored. */
  email: (EmailChannelConfig & { passwordSet: boolean }) | null;
  createdAt: string;
  updatedAt: string;
  lastDelivery: AlertDeliveryDto | null;
}

export interface CreateAlertChannelRequest {
  name: string;
  type: AlertChannelType;
  enabled?: boolean;
  minSeverity?: AlertSeverity;
  sendResolved?: boolean;
  webhook?: WebhookChannelConfig;
  /** `password` is write-only, stored encrypted. */
  email?: EmailChannelConfig & { password?: string };
}

/**
 * `webhook` / `email` replace the whole config; an absent email `password` keeps the stored one, `""` removes it; an
 * absent webhook `url`, or the redacted one the API returned, keeps the stored URL.
 */
export type UpdateAlertChannelRequest = Partial<Omit<CreateAlertChannelRequest, 'type' | 'webhook'>> & { webhook?: { url?: string; format: WebhookFormat } };

export interface AlertChannelTestResponse {
  ok: boolean;
  /** Why the test message was not accepted, as a fixed class (HTTP status, SMTP code, refused, timeout, TLS, ...), never the remote's text. */
  error: string | null;
}

/** Free space of the filesystem holding a storage root or a module path (`GET /api/v1/alerts/storage`). */
export interface StorageUsageEntry {
  kind: 'root' | 'module';
  /** The root's path, or the module's name. */
  name: string;
  path: string;
  /** Identifies the filesystem (device number); entries with the same one share their free space. */
  filesystem: string | null;
  freeBytes: number | null;
  totalBytes: number | null;
  freePercent: number | null;
  /** Below the storage-low rule's threshold. */
  low: boolean;
  error: string | null;
}

export interface StorageUsageDto {
  entries: StorageUsageEntry[];
  thresholds: { minFreePercent: number; minFreeBytes: number };
}

/**
 * The body of a `json`-format webhook (Content-Type: application/json). `event` is `firing` when an alert is raised,
 * `resolved` when its condition clears, `test` for the console's Send test button.
 */
export interface AlertWebhookPayload {
  version: 1;
  event: 'firing' | 'resolved' | 'test';
  alert: AlertDto;
  server: { hostname: string };
  sentAt: string;
}
