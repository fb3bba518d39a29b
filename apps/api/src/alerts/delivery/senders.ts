import * as nodemailer from 'nodemailer';
import type { AlertWebhookPayload, EmailChannelConfig, WebhookChannelConfig } from '@rsynchub/contracts';
import { emailMessage, webhookRequest } from './format';
import { WebhookStatusError } from './classify-delivery-error';

const TIMEOUT_MS = 10_000;

/** POSTs the message; resolves on a 2xx answer, throws WebhookStatusError (the status only) otherwise. */
export async function sendWebhook(config: WebhookChannelConfig, payload: AlertWebhookPayload): Promise<void> {
  const { body, headers } = webhookRequest(config.format, payload);
  const res = await fetch(config.url, { method: 'POST', body, headers: { 'user-agent': 'RsyncHub-alerts/1', ...headers }, signal: AbortSignal.timeout(TIMEOUT_MS), redirect: 'error' });
  if (!res.ok) {
    await res.arrayBuffer().catch(() => undefined);
    throw new WebhookStatusError(res.status);
  }
  await res.arrayBuffer().catch(() => undefined);
}

/** Sends one mail through the channel's SMTP server (nodemailer); the password arrives decrypted, only for this call. */
export async function sendEmail(config: EmailChannelConfig, password: string | null, payload: AlertWebhookPayload): Promise<void> {
  const transport = nodemailer.createTransport({
    host: config.host,
    port: config.port,
    secure: config.security === 'tls',
    requireTLS: config.security === 'starttls',
    ignoreTLS: config.security === 'none',
    auth: config.username ? { user: config.username, pass: password ?? '' } : undefined,
    connectionTimeout: TIMEOUT_MS,
    greetingTimeout: TIMEOUT_MS,
    socketTimeout: TIMEOUT_MS,
    logger: false,
    debug: false,
  });
  try {
    const { subject, text } = emailMessage(payload);
    await transport.sendMail({ from: config.from, to: config.to, subject, text });
  } finally {
    transport.close();
  }
}
