import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import type { AddressInfo } from 'node:net';
import type { AlertWebhookPayload } from '@rsynchub/contracts';
import { classifyDeliveryError, WebhookStatusError } from './classify-delivery-error';
import { sendEmail, sendWebhook } from './senders';

const payload: AlertWebhookPayload = {
  version: 1,
  event: 'firing',
  alert: {
    id: 7, rule: 'daemon', key: 'daemon-down', severity: 'critical', state: 'firing', title: 'rsync daemon is stopped', message: 'It is stopped.',
    details: {}, firstSeenAt: '2026-12-01T10:00:00.000Z', lastSeenAt: '2026-12-01T10:00:00.000Z', resolvedAt: null, occurrences: 1,
    acknowledgedAt: null, acknowledgedBy: null,
  },
  server: { hostname: 'hub1' },
  sentAt: '2026-12-01T10:00:01.000Z',
};

function codeError(fields: Record<string, unknown>): Error {
  return Object.assign(new Error(String(fields.message ?? 'x')), fields);
}

/** A TCP server that greets with `greeting` (and answers every line with `reply`), like a service on a probed port. */
async function fakeService(greeting: string, reply = ''): Promise<{ port: number; close: () => Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('error', () => undefined);
    s.write(greeting);
    if (reply) s.on('data', () => s.write(reply));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>((r) => { for (const s of sockets) s.destroy(); server.close(() => r()); }),
  };
}

describe('classifyDeliveryError', () => {
  const table: [string, unknown, string][] = [
    ['refused (nodemailer)', codeError({ code: 'ESOCKET', message: 'connect ECONNREFUSED 10.0.0.5:25' }), 'connection refused'],
    ['refused (fetch cause)', Object.assign(new TypeError('fetch failed'), { cause: codeError({ code: 'ECONNREFUSED' }) }), 'connection refused'],
    ['timeout', codeError({ code: 'ETIMEDOUT', message: 'Greeting never received' }), 'timed out'],
    ['fetch timeout', codeError({ name: 'TimeoutError', message: 'The operation was aborted due to timeout' }), 'timed out'],
    ['dns', codeError({ code: 'EDNS', message: 'getaddrinfo ENOTFOUND mail.internal' }), 'host not found'],
    ['auth', codeError({ code: 'EAUTH', responseCode: 535, message: 'Invalid login: 535 5.7.8 secret-banner text' }), 'authentication failed'],
    ['tls', codeError({ code: 'ETLS', message: 'self signed certificate' }), 'TLS failed'],
    ['rejected', codeError({ code: 'EENVELOPE', responseCode: 554, message: '554 relay denied by internal-host-7' }), 'rejected by the server (SMTP 554)'],
    ['not smtp', codeError({ code: 'EPROTOCOL', message: 'Invalid greeting. response=SSH-2.0-OpenSSH_9.6' }), 'the server did not answer as an SMTP server'],
    ['webhook status', new WebhookStatusError(502), 'HTTP 502'],
    ['anything else', new Error('weird: https://user:pass@hooks.example/x'), 'delivery failed'],
  ];
  for (const [name, err, expected] of table) {
    it(name, () => assert.equal(classifyDeliveryError(err), expected));
  }

  it('a probed non-SMTP service: the answer names the class, never the banner', async () => {
    const ssh = await fakeService('SSH-2.0-OpenSSH_9.6p1 internal-build-42\r\n');
    try {
      const err = await sendEmail({ host: '127.0.0.1', port: ssh.port, security: 'none', from: 'a@example.org', to: ['b@example.org'], username: null } as never, null, payload).then(() => null, (e: unknown) => e);
      assert.ok(err, 'sending must fail');
      const text = classifyDeliveryError(err);
      assert.doesNotMatch(text, /OpenSSH|internal-build/);
      assert.equal(text, 'the server did not answer as an SMTP server');
    } finally {
      await ssh.close();
    }
  });

  it('an SMTP server refusing the mail: its error line is not returned', async () => {
    const smtp = await fakeService('220 mail.internal ESMTP Postfix-secret-version\r\n', '554 5.7.1 internal-relay-host-9 says no\r\n');
    try {
      const err = await sendEmail({ host: '127.0.0.1', port: smtp.port, security: 'none', from: 'a@example.org', to: ['b@example.org'], username: null } as never, null, payload).then(() => null, (e: unknown) => e);
      const text = classifyDeliveryError(err);
      assert.doesNotMatch(text, /Postfix|internal-relay|says no/);
      assert.match(text, /^rejected by the server \(SMTP 554\)$|^the server did not answer as an SMTP server$/);
    } finally {
      await smtp.close();
    }
  });

  it('a webhook answering 500 with a body: only the status comes back', async () => {
    const http = await fakeService('HTTP/1.1 500 Internal Server Error\r\ncontent-length: 23\r\nconnection: close\r\n\r\ninternal-secret-details');
    try {
      const err = await sendWebhook({ url: `http://127.0.0.1:${http.port}/hook`, format: 'json' } as never, payload).then(() => null, (e: unknown) => e);
      assert.equal(classifyDeliveryError(err), 'HTTP 500');
    } finally {
      await http.close();
    }
  });
});
