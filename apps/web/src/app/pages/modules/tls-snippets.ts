/**
 * Connect snippets for the encrypted path (issue 11): the stock `rsync-ssl` script and the agent with `tls: true`.
 * Pure, so they are unit-tested as text, like connect-snippets.ts.
 */
import { DEFAULT_PASSWORD_FILE, agentConfig, shellQuote, type ConnectTarget } from './connect-snippets';

export interface TlsTarget {
  /** The TLS listener's port (RSYNCHUB_RSYNC_TLS_PORT). */
  port: number;
  /** `sha256:...` of the certificate the listener presents (what the agent pins). */
  fingerprint: string | null;
  /** Whether a private CA exists to download (false with an admin-provided certificate: trust its public CA). */
  privateCa: boolean;
  /** The module requires a client certificate (tlsClientCert): the snippets present one. */
  clientCert?: boolean;
}

/** Where the snippets put the client certificate and key: rsync-ssl runs from the current directory, the agent needs absolute paths. */
export const CLIENT_CERT_FILES = { rsyncSsl: { cert: 'client.crt', key: 'client.key' }, agent: { cert: '/etc/rsynchub/client.crt', key: '/etc/rsynchub/client.key' } } as const;

export const DEFAULT_CA_FILE = '/etc/rsynchub-ca.pem';
/** rsync-ssl's own default port; RSYNC_SSL_PORT is only needed for another. */
const RSYNC_SSL_DEFAULT_PORT = 874;

/** Writes the CA certificate (public data) where the source reads it. */
export function caFileCommand(caPem: string, file = DEFAULT_CA_FILE): string {
  return `cat > ${shellQuote(file)} <<'EOF'\n${caPem.trim()}\nEOF`;
}

function sourceDir(source: string): string {
  const s = source.trim() || '/data/source';
  return s.endsWith('/') ? s : `${s}/`;
}

/** The environment rsync-ssl reads: our CA (unless the certificate comes from a public CA) and a non-default port. */
function rsyncSslEnv(tls: TlsTarget, caFile: string): string {
  const env: string[] = [];
  if (tls.privateCa) env.push(`RSYNC_SSL_CA_CERT=${shellQuote(caFile)}`);
  if (tls.port !== RSYNC_SSL_DEFAULT_PORT) env.push(`RSYNC_SSL_PORT=${tls.port}`);
  if (tls.clientCert) env.push(`RSYNC_SSL_CERT=${CLIENT_CERT_FILES.rsyncSsl.cert}`, `RSYNC_SSL_KEY=${CLIENT_CERT_FILES.rsyncSsl.key}`);
  return env.length > 0 ? `${env.join(' ')} ` : '';
}

function remote(t: ConnectTarget): string {
  // rsync-ssl hands the host to openssl as is: no brackets (it refuses them); an IPv6 literal cannot be used there.
  return `${t.user ? `${t.user}@` : ''}${t.host}::${t.module}`;
}

/** `RSYNC_SSL_CA_CERT=/etc/rsynchub-ca.pem RSYNC_SSL_PORT=8874 rsync-ssl -artuz --password-file=... SRC/ USER@HOST::MODULE` */
export function rsyncSslCommand(t: ConnectTarget, tls: TlsTarget, caFile = DEFAULT_CA_FILE): string {
  const pw = t.user ? ` --password-file=${shellQuote(t.passwordFile ?? DEFAULT_PASSWORD_FILE)}` : '';
  return `${rsyncSslEnv(tls, caFile)}rsync-ssl -artuz${pw} ${shellQuote(sourceDir(t.source))} ${shellQuote(remote(t))}`;
}

/** The pull form, for a read-only module. */
export function rsyncSslPullCommand(t: ConnectTarget, tls: TlsTarget, caFile = DEFAULT_CA_FILE): string {
  const pw = t.user ? ` --password-file=${shellQuote(t.passwordFile ?? DEFAULT_PASSWORD_FILE)}` : '';
  return `${rsyncSslEnv(tls, caFile)}rsync-ssl -artuz${pw} ${shellQuote(`${remote(t)}/`)} ${shellQuote(sourceDir(t.source))}`;
}

/**
 * The agent config with every remote over TLS: `tls: true`, the listener's port, and the server certificate's
 * fingerprint pinned (or, without one, the CA file with host-name verification).
 */
export function agentTlsConfig(t: ConnectTarget, tls: TlsTarget, caFile = DEFAULT_CA_FILE): string {
  const cfg = JSON.parse(agentConfig({ ...t, port: tls.port })) as { watches: { remotes: Record<string, unknown>[] }[] };
  for (const w of cfg.watches) {
    w.remotes = w.remotes.map((r) => {
      const { host, port, module, ...rest } = r;
      return {
        host, port, module, ...rest, tls: true, ...(tls.fingerprint ? { fingerprint: tls.fingerprint } : { caFile }),
        ...(tls.clientCert ? { clientCert: CLIENT_CERT_FILES.agent.cert, clientKey: CLIENT_CERT_FILES.agent.key } : {}),
      };
    });
  }
  return JSON.stringify(cfg, null, 2);
}
