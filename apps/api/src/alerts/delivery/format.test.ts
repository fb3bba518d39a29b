import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { AlertWebhookPayload } from '@rsynchub/contracts';
import { checkEmailConfig, checkWebhookUrl, emailMessage, webhookRequest } from './format';

const payload: AlertWebhookPayload = {
  version: 1,
  event: 'firing',
  alert: {
    id: 7, rule: 'daemon', key: 'daemon-down', severity: 'critical', state: 'firing', title: 'rsync daemon is stopped', message: 'It is stopped.',
    details: { state: 'stopped' }, firstSeenAt: '2026-12-01T10:00:00.000Z', lastSeenAt: '2026-12-01T10:00:00.000Z', resolvedAt: null, occurrences: 1,
    acknowledgedAt: null, acknowledgedBy: null,
  },
  server: { hostname: 'hub1' },
  sentAt: '2026-12-01T10:00:01.000Z',
};

describe('webhook formats', () => {
  test('json is the documented payload itself', () => {
    const r = webhookRequest('json', payload);
    assert.deepEqual(JSON.parse(r.body), payload);
    assert.equal(r.headers['content-type'], 'application/json');
  });
  test('slack sends {text} with the severity and title first', () => {
    const body = JSON.parse(webhookRequest('slack', payload).body);
    assert.deepEqual(Object.keys(body), ['text']);
    assert.match(body.text, /^\*\[CRITICAL\] rsync daemon is stopped\*\nIt is stopped\./);
  });
  test('ntfy sends text with Title/Priority/Tags headers; resolved is priority 3', () => {
    const r = webhookRequest('ntfy', payload);
    assert.equal(r.headers.title, '[CRITICAL] rsync daemon is stopped');
    assert.equal(r.headers.priority, '5');
    const resolved = webhookRequest('ntfy', { ...payload, event: 'resolved', alert: { ...payload.alert, state: 'resolved', resolvedAt: '2026-12-01T10:05:00.000Z' } });
    assert.equal(resolved.headers.priority, '3');
    assert.match(resolved.headers.title!, /^\[RESOLVED\]/);
    assert.match(resolved.body, /Resolved at 2026-12-01T10:05:00.000Z/);
  });
  test('ntfy headers stay ASCII (HTTP headers cannot carry the rest)', () => {
    const r = webhookRequest('ntfy', { ...payload, alert: { ...payload.alert, title: 'Module café failed' } });
    assert.equal(r.headers.title, '[CRITICAL] Module caf? failed');
  });
  test('email subject has no line breaks (header injection)', () => {
    const m = emailMessage({ ...payload, alert: { ...payload.alert, title: 'a\r\nBcc: x@evil.test' } });
    assert.doesNotMatch(m.subject, /[\r\n]/);
  });
});

describe('channel validation', () => {
  const urls: [string, boolean][] = [
    ['https://hooks.slack.com/services/T/B/X', true],
    ['http://127.0.0.1:8080/hook', true],
    ['ftp://example.com/x', false],
    ['file:///etc/passwd', false],
    ['javascript:alert(1)', false],
    ['not a url', false],
    ['https://example.com/a\nb', false],
    ['', false],
  ];
  for (const [url, ok] of urls) test(`webhook url ${JSON.stringify(url)} ${ok ? 'accepted' : 'refused'}`, () => assert.equal(checkWebhookUrl(url).length === 0, ok));
  test('email config: every bad field named', () => {
    const issues = checkEmailConfig({ host: 'bad host', port: 0, from: 'nobody', to: ['ok@example.com', 'x\r\n@y'] });
    assert.deepEqual(issues.map((i) => i.field), ['email.host', 'email.port', 'email.from', 'email.to[1]']);
  });
  test('email config: a good one passes', () => {
    assert.deepEqual(checkEmailConfig({ host: 'smtp.example.com', port: 587, from: 'hub@example.com', to: ['ops@example.com'], username: null }), []);
  });
});
