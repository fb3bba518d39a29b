/**
 * TLS transport of a remote, the pure half: fingerprint parsing, the relay's settings (tls-relay.ts), and the words for
 * each way a TLS connection fails.
 */

/** rsync-ssl's port (`RSYNC_SSL_PORT` default). RsyncHub's own TLS listener defaults to 8874 when not run as root. */
export const DEFAULT_TLS_PORT = 874;

/** Prefix of the line the relay adds to a run's stderr when TLS failed; classifyExit recognises TLS failures by it. */
export const CONNECTOR_PREFIX = 'rsynchub-agent tls';

/** Where to copy a fingerprint from (named in every verification error). */
export const FINGERPRINT_SOURCE = "the console's Encryption page";

export interface ConnectSettings {
  host: string;
  port: number;
  /** Pinned SHA-256 of the server certificate, canonical form (uppercase hex pairs joined by ':', as Node reports it). */
  fingerprint?: string;
  /** PEM file of the CA(s) that must have signed the server certificate; the host name is verified too. */
  caFile?: string;
  /** Give up on the TCP connect + TLS handshake after this long (the relay's side; rsync's --contimeout only covers its local connection). */
  timeoutMs: number;
}

/**
 * The canonical form of a SHA-256 fingerprint (`AB:CD:...`, 32 pairs, what Node's `fingerprint256` gives), or a message
 * saying what is wrong. Accepted: `sha256:<hex>`, bare hex, the colon-separated form `openssl x509 -fingerprint
 * -sha256` prints (also with its `sha256 Fingerprint=` prefix), any case, surrounding spaces ignored.
 */
export function parseFingerprint(input: string): { fingerprint: string } | { error: string } {
  let s = input.trim();
  s = s.replace(/^sha-?256\s+fingerprint\s*=\s*/i, '').replace(/^sha-?256\s*:\s*/i, '');
  let hex: string;
  if (/^[0-9a-f]{2}(:[0-9a-f]{2})*$/i.test(s)) hex = s.replace(/:/g, '');
  else if (/^[0-9a-f]+$/i.test(s)) hex = s;
  else return { error: 'must be a SHA-256 fingerprint: sha256:<64 hex digits>, 64 hex digits, or AB:CD:... (openssl x509 -noout -fingerprint -sha256)' };
  if (hex.length === 40) return { error: 'has 40 hex digits: that is a SHA-1 fingerprint; give the SHA-256 one (openssl x509 -noout -fingerprint -sha256)' };
  if (hex.length !== 64) return { error: `has ${hex.length} hex digits; a SHA-256 fingerprint has 64 (sha256:<64 hex digits>)` };
  return { fingerprint: hex.toUpperCase().match(/../g)!.join(':') };
}

/** How a fingerprint is shown in messages: `sha256:AB:CD:...`, which parseFingerprint accepts back as it is. */
export function showFingerprint(canonical: string): string {
  return `sha256:${canonical}`;
}

export type TlsFailureKind = 'verify' | 'handshake' | 'connect';

export interface TlsFailure {
  /**
   * verify: the certificate is not the one we trust (pin, CA, name, dates): retrying cannot help until someone acts;
   * handshake: not TLS there, or no common protocol (a wrong port most likely): the same;
   * connect: refused, unreachable, timed out: retried like any connection error.
   */
  kind: TlsFailureKind;
  message: string;
}

/** What a tls.connect error means for `host:port`, in words naming the fix. */
export function explainTlsError(err: { code?: string; message: string; reason?: string }, s: Pick<ConnectSettings, 'host' | 'port' | 'caFile' | 'fingerprint'>, peer?: { altNames?: string; validTo?: string }): TlsFailure {
  const where = `${s.host}:${s.port}`;
  const code = err.code ?? '';
  const trust = s.caFile ? `the CA in caFile ${s.caFile}` : s.fingerprint ? 'the pinned fingerprint' : "the system's trusted CAs";
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    return {
      kind: 'verify',
      message: `server certificate of ${where} is not valid for the name "${s.host}"${peer?.altNames ? ` (it names ${peer.altNames})` : ''}: ` +
        'use a host name the certificate holds (the server\'s public host setting), add this name to the server\'s certificate, or pin its fingerprint instead of caFile; not retried in plaintext',
    };
  }
  if (code === 'CERT_HAS_EXPIRED' || code === 'CERT_NOT_YET_VALID') {
    return {
      kind: 'verify',
      message: `server certificate of ${where} ${code === 'CERT_HAS_EXPIRED' ? 'has expired' : 'is not valid yet'}${peer?.validTo ? ` (valid to ${peer.validTo})` : ''}: renew it on the server (or fix the clock); not retried in plaintext`,
    };
  }
  if (/CERT|SIGNATURE|ISSUER|SELF_SIGNED|UNABLE_TO_(GET|VERIFY)|CHAIN/.test(code)) {
    const fix = s.caFile
      ? `download the server's CA certificate from ${FINGERPRINT_SOURCE} into ${s.caFile}, or pin the server's fingerprint instead`
      : `set caFile to the server's CA certificate or fingerprint to the server's certificate fingerprint (both on ${FINGERPRINT_SOURCE})`;
    return { kind: 'verify', message: `server certificate of ${where} is not trusted by ${trust} (${code}: ${err.message}): ${fix}; not retried in plaintext` };
  }
  if (/^ERR_SSL_|^ERR_TLS_|EPROTO/.test(code) || /wrong version number|packet length too long|unknown protocol|handshake/i.test(err.message)) {
    return {
      kind: 'handshake',
      // node's `reason` is OpenSSL's phrase ("wrong version number") without the library's error-stack noise.
      message: `TLS handshake with ${where} failed (${code || 'error'}: ${err.reason ?? err.message}): is ${s.port} the server's TLS port? RsyncHub listens for TLS on RSYNCHUB_RSYNC_TLS_PORT (8874 by default), rsync-ssl setups on 874; a plain rsync port (873) cannot be used with tls: true; not retried in plaintext`,
    };
  }
  return { kind: 'connect', message: `cannot connect to ${where} (${code || 'error'}: ${err.message})` };
}

/** The message for a server certificate whose fingerprint is not the pinned one. */
export function pinMismatchMessage(where: string, got: string, pinned: string): string {
  return `server certificate fingerprint ${showFingerprint(got)} of ${where} does not match the pinned ${showFingerprint(pinned)}; ` +
    `if the server's certificate changed, copy the new fingerprint from ${FINGERPRINT_SOURCE} into the remote's fingerprint setting (never retried in plaintext)`;
}

/** A relay failure line (connectorLine) as it appears in a run's stderr, parsed back: `rsynchub-agent tls verify: ...`. */
export function parseConnectorLine(stderr: string): TlsFailure | null {
  const lines = stderr.split('\n');
  for (let i = lines.length - 1; i >= 0; i--) {
    const m = new RegExp(`^${CONNECTOR_PREFIX} (verify|handshake|connect): (.*)$`).exec(lines[i]!.trim());
    if (m) return { kind: m[1] as TlsFailureKind, message: m[2]! };
  }
  return null;
}
