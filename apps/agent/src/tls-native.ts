/**
 * The agent's native TLS connector (native/rsynchub-tls.c, built next to the agent into dist/) and how a run uses it.
 *
 * Why: the in-process node relay (tls-relay.ts) costs node stream overhead per byte (161 MB/s against 773 MB/s
 * plaintext, measured under load). The connector relays with OpenSSL in C; rsync runs it as RSYNC_CONNECT_PROG, so
 * it talks to rsync over a private socketpair (no loopback listener, no peer check needed) and to the server over
 * TLS only, after checking the certificate exactly as the node relay does.
 *
 * When the connector was not built (no C compiler or no OpenSSL headers) or does not run here, the agent uses the node
 * relay and says so at start; RSYNCHUB_AGENT_TLS_RELAY=node chooses the node relay on purpose.
 */
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { clientCertRefused, closedAfterHandshake, type ConnectSettings, explainTlsError, pinMismatchMessage, type TlsFailure } from './tls-options';
import { connectorLine } from './tls-relay';

/** Where the build puts the connector: next to the compiled agent. */
export const NATIVE_TLS_CONNECTOR = path.join(__dirname, 'rsynchub-tls');

/** Prefix of the connector's failure line on stderr (tab-separated key=value fields follow). */
export const NATIVE_PREFIX = 'rsynchub-agent tls-native:';

export interface TlsRelayChoice {
  /** Path of the native connector, or null: the node relay. */
  connector: string | null;
  /** Why the node relay is used (for the start-up log line), when it is. */
  reason?: string;
}

const probed = new Map<string, TlsRelayChoice>();

/**
 * Which relay the TLS runs use: the native connector at `file` when it exists and runs (`--version`, probed once per
 * path), unless `RSYNCHUB_AGENT_TLS_RELAY=node` says otherwise.
 */
export function chooseTlsRelay(file = NATIVE_TLS_CONNECTOR, env: NodeJS.ProcessEnv = process.env): TlsRelayChoice {
  const wanted = env.RSYNCHUB_AGENT_TLS_RELAY ?? '';
  if (wanted === 'node') return { connector: null, reason: 'RSYNCHUB_AGENT_TLS_RELAY=node' };
  let choice = probed.get(file);
  if (!choice) {
    const r = spawnSync(file, ['--version'], { encoding: 'utf8', timeout: 5000, stdio: ['ignore', 'pipe', 'pipe'] });
    choice = r.status === 0 && r.stdout.startsWith('rsynchub-tls ')
      ? { connector: file }
      : {
        connector: null,
        reason: r.error && (r.error as NodeJS.ErrnoException).code === 'ENOENT'
          ? `native connector not built (${file} missing: it needs a C compiler and OpenSSL's headers, Debian libssl-dev)`
          : `native connector ${file} does not run (${r.error?.message ?? (r.stderr.trim() || `exit ${r.status}`)})`,
      };
    probed.set(file, choice);
  }
  return choice;
}

/**
 * A word for rsync's RSYNC_CONNECT_PROG, which rsync runs with `sh -c` after replacing `%H` (host) and `%%`: single
 * quotes for the shell, and every `%` doubled for rsync.
 */
export function shellWord(word: string): string {
  return `'${word.replace(/'/g, `'\\''`)}'`.replace(/%/g, '%%');
}

/**
 * rsync's environment for a run through the native connector: `base` (already without the user's RSYNC_CONNECT_PROG,
 * RSYNC_SHELL, RSYNC_PROXY: tlsRunEnv) plus the connector as RSYNC_CONNECT_PROG (`exec`: the shell leaves no process
 * of its own) and its settings. With RSYNC_CONNECT_PROG set, rsync opens no socket itself: no plaintext path.
 */
export function nativeRunEnv(connector: string, s: ConnectSettings, base: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    ...base,
    RSYNC_CONNECT_PROG: `exec ${shellWord(connector)}`,
    RSYNCHUB_TLS_HOST: s.host,
    RSYNCHUB_TLS_PORT: String(s.port),
    RSYNCHUB_TLS_TIMEOUT_MS: String(Math.max(0, Math.round(s.timeoutMs))),
  };
  delete env.RSYNCHUB_TLS_FINGERPRINT;
  delete env.RSYNCHUB_TLS_CA_FILE;
  delete env.RSYNCHUB_TLS_CERT_FILE;
  delete env.RSYNCHUB_TLS_KEY_FILE;
  if (s.fingerprint) env.RSYNCHUB_TLS_FINGERPRINT = s.fingerprint;
  if (s.caFile) env.RSYNCHUB_TLS_CA_FILE = s.caFile;
  if (s.clientCert && s.clientKey) {
    env.RSYNCHUB_TLS_CERT_FILE = s.clientCert;
    env.RSYNCHUB_TLS_KEY_FILE = s.clientKey;
  }
  return env;
}

/** The connector's failure line, in the agent's words (the same as the node relay's for the same failure). */
export function nativeFailure(fields: Record<string, string>, s: ConnectSettings): TlsFailure {
  const where = `${s.host}:${s.port}`;
  const code = fields.code ?? '';
  const message = fields.message ?? 'failed';
  if (code === 'PIN_MISMATCH') return { kind: 'verify', message: pinMismatchMessage(where, fields.got ?? '(none)', s.fingerprint ?? '(none)') };
  if (code === 'TIMEOUT') return { kind: 'connect', message: `no TLS connection to ${where} within ${Math.round(s.timeoutMs / 1000)}s (connectTimeoutSec)` };
  if (code === 'ECAFILE') return { kind: 'verify', message: `${message}; not retried in plaintext` };
  // The client certificate or key could not be loaded (the agent checked them at start: changed since).
  if (code === 'ECLIENTCERT') return { kind: 'verify', message: `${message}; not retried in plaintext` };
  if (code === 'ECLOSED_AFTER_HANDSHAKE') return closedAfterHandshake(s);
  // TLS 1.2: the server asked for a client certificate, none was set, and the handshake failed: that is why.
  if (code === 'ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE' && fields.certrequested === '1' && !s.clientCert) return clientCertRefused(code, s);
  const peer = fields.alt !== undefined || fields.validto !== undefined ? { altNames: fields.alt, validTo: fields.validto } : undefined;
  const f = explainTlsError({ code, message }, s, peer);
  // The connector says when the certificate was refused: such a failure is never taken for a network error.
  if (fields.kind === 'verify' && f.kind !== 'verify') {
    return { kind: 'verify', message: `server certificate of ${where} was refused (${code}: ${message}); not retried in plaintext` };
  }
  return f;
}

/** The fields of a connector failure line (`rsynchub-agent tls-native:\tcode=...\tmessage=...`), or null. */
export function parseNativeLine(line: string): Record<string, string> | null {
  if (!line.startsWith(NATIVE_PREFIX)) return null;
  const fields: Record<string, string> = {};
  for (const part of line.slice(NATIVE_PREFIX.length).split('\t')) {
    const eq = part.indexOf('=');
    if (eq > 0) fields[part.slice(0, eq)] = part.slice(eq + 1);
  }
  return fields;
}

/** A run's stderr with the connector's failure line replaced by the agent's connector line (classifyExit reads it). */
export function translateNativeStderr(stderr: string, s: ConnectSettings): string {
  if (!stderr.includes(NATIVE_PREFIX)) return stderr;
  return stderr.split('\n').map((line) => {
    const fields = parseNativeLine(line.trim());
    return fields ? connectorLine(nativeFailure(fields, s)) : line;
  }).join('\n');
}

