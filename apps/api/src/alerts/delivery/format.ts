import type { AlertSeverity, AlertWebhookPayload, FieldError, WebhookFormat } from '@rsynchub/contracts';

const NTFY_PRIORITY: Record<AlertSeverity, string> = { warning: '3', error: '4', critical: '5' };

function headline(p: AlertWebhookPayload): string {
  const a = p.alert;
  const prefix = p.event === 'test' ? '[TEST] ' : p.event === 'resolved' ? '[RESOLVED] ' : `[${a.severity.toUpperCase()}] `;
  return `${prefix}${a.title}`;
}

/** Plain text of a message, shared by Slack, ntfy and email. */
export function messageText(p: AlertWebhookPayload): string {
  const a = p.alert;
  const lines = [a.message];
  if (p.event === 'resolved' && a.resolvedAt) lines.push(`Resolved at ${a.resolvedAt} (first seen ${a.firstSeenAt}).`);
  else lines.push(`First seen ${a.firstSeenAt}${a.occurrences > 1 ? `, ${a.occurrences} occurrences` : ''}.`);
  lines.push(`Alert #${a.id} · rule ${a.rule} · server ${p.server.hostname}`);
  return lines.join('\n');
}

/** The HTTP request a webhook channel sends, per format. */
export function webhookRequest(format: WebhookFormat, p: AlertWebhookPayload): { body: string; headers: Record<string, string> } {
  switch (format) {
    case 'json':
      return { body: JSON.stringify(p), headers: { 'content-type': 'application/json' } };
    case 'slack':
      // Slack incoming webhooks (and Mattermost, Rocket.Chat, Discord's /slack endpoint) take `text` as mrkdwn.
      return { body: JSON.stringify({ text: `*${headline(p)}*\n${messageText(p)}` }), headers: { 'content-type': 'application/json' } };
    case 'ntfy':
      // ntfy: POST the message to https://ntfy.example/TOPIC; title, priority and tags as headers (ASCII only there).
      return {
        body: messageText(p),
        headers: {
          'content-type': 'text/plain; charset=utf-8',
          title: headline(p).replace(/[^\x20-\x7e]/g, '?').slice(0, 250),
          priority: p.event === 'resolved' || p.event === 'test' ? '3' : NTFY_PRIORITY[p.alert.severity],
          tags: p.event === 'resolved' ? 'white_check_mark' : p.event === 'test' ? 'test_tube' : p.alert.severity === 'warning' ? 'warning' : 'rotating_light',
        },
      };
  }
}

export function emailMessage(p: AlertWebhookPayload): { subject: string; text: string } {
  return { subject: `RsyncHub: ${headline(p)}`.replace(/[\r\n]+/g, ' ').slice(0, 200), text: `${messageText(p)}\n\nDetails:\n${JSON.stringify(p.alert.details, null, 2)}\n` };
}

/** http/https only, with a host, no whitespace or control characters. */
export function checkWebhookUrl(url: unknown, field = 'webhook.url'): FieldError[] {
  if (typeof url !== 'string' || url.length === 0) return [{ field, message: 'must be an http:// or https:// URL' }];
  if (url.length > 2000) return [{ field, message: 'must be at most 2000 characters' }];
  if (/[\s\u0000-\u001f\u007f]/.test(url)) return [{ field, message: 'must not contain spaces or control characters' }];
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return [{ field, message: 'must be an http:// or https:// URL' }];
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') return [{ field, message: `must use http or https, not ${parsed.protocol.replace(/:$/, '')}` }];
  if (!parsed.hostname) return [{ field, message: 'must name a host' }];
  return [];
}

const EMAIL = /^[^\s@<>(),;:"\\[\]]+@[A-Za-z0-9.-]+$/;
const HOST = /^[A-Za-z0-9.-]+$|^\[?[0-9A-Fa-f:.]+\]?$/;

export function checkEmailConfig(c: { host?: unknown; port?: unknown; from?: unknown; to?: unknown; username?: unknown }): FieldError[] {
  const issues: FieldError[] = [];
  if (typeof c.host !== 'string' || c.host.length === 0 || c.host.length > 253 || !HOST.test(c.host)) issues.push({ field: 'email.host', message: 'must be a host name or IP address' });
  if (typeof c.port !== 'number' || !Number.isInteger(c.port) || c.port < 1 || c.port > 65535) issues.push({ field: 'email.port', message: 'must be an integer from 1 to 65535' });
  if (typeof c.from !== 'string' || c.from.length > 254 || !EMAIL.test(c.from)) issues.push({ field: 'email.from', message: 'must be an email address like rsynchub@example.com' });
  if (!Array.isArray(c.to) || c.to.length === 0 || c.to.length > 20) issues.push({ field: 'email.to', message: 'must list 1 to 20 email addresses' });
  else c.to.forEach((t, i) => {
    if (typeof t !== 'string' || t.length > 254 || !EMAIL.test(t)) issues.push({ field: `email.to[${i}]`, message: 'must be an email address like ops@example.com' });
  });
  if (c.username !== null && c.username !== undefined && (typeof c.username !== 'string' || c.username.length > 254 || /[\u0000-\u001f\u007f]/.test(c.username))) {
    issues.push({ field: 'email.username', message: 'must be at most 254 characters without control characters' });
  }
  return issues;
}
