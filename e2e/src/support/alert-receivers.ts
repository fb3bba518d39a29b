import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';

export interface ReceivedWebhook {
  path: string;
  headers: http.IncomingHttpHeaders;
  body: string;
  json: any;
}

/** A real HTTP endpoint that records every POST it receives; `status` sets what it answers. */
export async function startWebhookReceiver(): Promise<{ url: string; received: ReceivedWebhook[]; status: { code: number }; close: () => Promise<void> }> {
  const received: ReceivedWebhook[] = [];
  const status = { code: 200 };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      let json: unknown = null;
      try {
        json = JSON.parse(body);
      } catch {
        /* ntfy format is plain text */
      }
      received.push({ path: req.url ?? '', headers: req.headers, body, json });
      res.writeHead(status.code, { 'content-type': 'text/plain' });
      res.end(status.code < 300 ? 'ok' : 'nope');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    received,
    status,
    close: () => new Promise((r) => server.close(() => r())),
  };
}

export interface ReceivedMail {
  from: string;
  to: string[];
  user: string | null;
  raw: string;
  subject: string;
}

/** A real SMTP listener (smtp-server) that requires the given login and records every message. */
export async function startSmtpReceiver(login: { user: string; pass: string }): Promise<{ port: number; received: ReceivedMail[]; authFailures: string[]; close: () => Promise<void> }> {
  const received: ReceivedMail[] = [];
  const authFailures: string[] = [];
  const server = new SMTPServer({
    secure: false,
    disabledCommands: ['STARTTLS'],
    allowInsecureAuth: true,
    authOptional: false,
    logger: false,
    onAuth(auth, _session, cb) {
      if (auth.username === login.user && auth.password === login.pass) cb(null, { user: auth.username });
      else {
        authFailures.push(auth.username ?? '');
        cb(new Error('Invalid username or password'));
      }
    },
    onData(stream, session, cb) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        const subject = /^Subject: (.*(?:\r?\n[ \t].*)*)/im.exec(raw)?.[1]?.replace(/\r?\n[ \t]/g, ' ') ?? '';
        received.push({
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((r) => r.address),
          user: (session.user as string | undefined) ?? null,
          raw,
          subject,
        });
        cb();
      });
    },
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.server.address() as AddressInfo).port;
  return { port, received, authFailures, close: () => new Promise((r) => server.close(() => r())) };
}
