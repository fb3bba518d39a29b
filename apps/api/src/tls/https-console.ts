import { INestApplication, Logger, NestApplicationOptions } from '@nestjs/common';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type * as https from 'node:https';
import type { AppConfig } from '../config/app-config';
import { CertificateStore } from './certificate-store';
import { TlsService } from './tls.service';

/**
 * The console and API over HTTPS on the rsync listener's certificate. The certificate is needed before Nest creates
 * its HTTP server, so it is loaded here once; the TLS module's store takes over afterwards and every renewal or
 * re-issue it makes is swapped into the HTTPS server too (`setSecureContext`: new handshakes get it, no restart).
 */
export async function httpsOptionsFor(config: AppConfig): Promise<NestApplicationOptions['httpsOptions']> {
  if (!config.tls.https) return undefined;
  fs.mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  const logger = new Logger('TlsCertificates');
  const store = new CertificateStore(config.dataDir, config.tls, { log: (m) => logger.log(m), warn: (m) => logger.warn(m), error: (m) => logger.error(m) });
  const served = await store.load('');
  // Node's default minimum is TLS 1.2 already.
  return { cert: served.certPem, key: served.keyPem };
}

export function followCertificateRenewals(app: INestApplication): void {
  const server = app.getHttpServer() as https.Server;
  if (typeof server.setSecureContext !== 'function') return;
  app.get(TlsService).store.onChange((served) => server.setSecureContext({ cert: served.certPem, key: served.keyPem, minVersion: 'TLSv1.2' }));
}

/** Host part of a Host header (`[::1]:3000` -> `[::1]`), or null when it is not a plain host name or address. */
export function hostOnly(hostHeader: string | undefined): string | null {
  if (!hostHeader) return null;
  const m = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(:\d+)?$/.exec(hostHeader.trim());
  return m ? m[1]! : null;
}

/**
 * With HTTPS on, the plain HTTP port only redirects (308 keeps the method and body) to the same path on HTTPS. A
 * Host header that is not a plain host falls back to the configured bind host, never echoed as given.
 */
export function startHttpRedirect(config: AppConfig): Promise<http.Server> {
  const fallbackHost = config.httpHost === '0.0.0.0' || config.httpHost === '::' ? 'localhost' : config.httpHost.includes(':') ? `[${config.httpHost}]` : config.httpHost;
  const server = http.createServer((req, res) => {
    const host = hostOnly(req.headers.host) ?? fallbackHost;
    const port = config.tls.httpsPort === 443 ? '' : `:${config.tls.httpsPort}`;
    const target = `https://${host}${port}${(req.url ?? '/').startsWith('/') ? req.url : '/'}`;
    res.writeHead(308, { Location: target, 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store' });
    res.end(`RsyncHub is served over HTTPS: ${target}\n`);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.httpPort, config.httpHost, () => resolve(server));
  });
}
