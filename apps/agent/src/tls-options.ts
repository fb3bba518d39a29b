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
  /** Client certificate (PEM file) presented to the server, with its key (clientKey); a module may require one. */
  clientCert?: string;
  clientKey?: string;
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

/** Where a client certificate is issued, and the settings that present one (named in the messages about it). */
export const CLIENT_CERT_FIX = `issue one on the console's Encryption page ("Client certificates") and set the remote's clientCert and clientKey (--tls-client-cert / --tls-client-key)`;

/**
 * The TLS alerts a server sends when it refuses the client's certificate (or its lack of one), in node's form
 * (`ERR_SSL_` + OpenSSL's reason): with TLS 1.3 they arrive after the handshake, on the first read.
 */
const CLIENT_CERT_ALERT = /^ERR_SSL_(TLSV13_ALERT_CERTIFICATE_REQUIRED|SSLV3_ALERT_BAD_CERTIFICATE|SSLV3_ALERT_CERTIFICATE_REVOKED|SSLV3_ALERT_CERTIFICATE_EXPIRED|SSLV3_ALERT_CERTIFICATE_UNKNOWN|SSLV3_ALERT_UNSUPPORTED_CERTIFICATE|TLSV1_ALERT_UNKNOWN_CA|TLSV1_ALERT_ACCESS_DENIED)$/;

/** Whether a TLS error code is the server refusing the client certificate (see CLIENT_CERT_ALERT). */
export function isClientCertAlert(code: string | undefined): boolean {
  return CLIENT_CERT_ALERT.test(code ?? '');
}

/**
 * The message for a server that refused this client's certificate, or wanted one and got none (also: a TLS 1.2
 * handshake failure after the server asked for a certificate, which the native connector can tell).
 */
export function clientCertRefused(code: string, s: Pick<ConnectSettings, 'host' | 'port' | 'clientCert'>): TlsFailure {
  const where = `${s.host}:${s.port}`;
  const why = code.replace(/^ERR_SSL_(TLSV13_|SSLV3_|TLSV1_)ALERT_/, '').toLowerCase().replace(/_/g, ' ') + (/HANDSHAKE_FAILURE/.test(code) ? ' after the server asked for one' : '');
  if (!s.clientCert) {
    return { kind: 'verify', message: `the server ${where} requires a client certificate and this remote presents none (${code}: ${why}): ${CLIENT_CERT_FIX}; not retried in plaintext` };
  }
  const reason = /UNKNOWN_CA/.test(code) ? 'it was not issued by the CA this server trusts (a certificate from another RsyncHub?)'
    : /REVOKED/.test(code) ? 'it has been revoked'
      : /EXPIRED/.test(code) ? 'it has expired'
        : `the server refused it (${why})`;
  return { kind: 'verify', message: `the server ${where} refused the client certificate ${s.clientCert}: ${reason} (${code}): issue a new one on the console's Encryption page ("Client certificates") of this server and put it in clientCert / clientKey; not retried in plaintext` };
}

/**
 * The server ended the connection right after the TLS handshake, before the rsync daemon's greeting (its first bytes):
 * a TLS front that checks the client certificate after the handshake and closes without an alert (node's, for one)
 * does this, and so does a front whose daemon is down. Both causes are named, neither claimed; retried like a
 * connection error (over TLS only), since the daemon may come back.
 */
export function closedAfterHandshake(s: Pick<ConnectSettings, 'host' | 'port' | 'clientCert'>): TlsFailure {
  const where = `${s.host}:${s.port}`;
  const cert = s.clientCert
    ? `it refused the client certificate ${s.clientCert} (revoked, expired, or not issued by the CA this server trusts: issue a new one on the console's Encryption page ("Client certificates") of this server and put it in clientCert / clientKey)`
    : `it requires a client certificate and this remote presents none (${CLIENT_CERT_FIX})`;
  return { kind: 'connect', message: `the server ${where} closed the connection right after the TLS handshake, before the rsync greeting: either ${cert}, or its rsync daemon is down; never retried in plaintext` };
}

/** What a tls.connect error means for `host:port`, in words naming the fix. */
export function explainTlsError(err: { code?: string; message: string; reason?: string }, s: Pick<ConnectSettings, 'host' | 'port' | 'caFile' | 'fingerprint' | 'clientCert'>, peer?: { altNames?: string; validTo?: string }): TlsFailure {
  const where = `${s.host}:${s.port}`;
  const code = err.code ?? '';
  // Before the certificate branch below: these codes name certificates too, but the refused one is ours.
  if (isClientCertAlert(code)) return clientCertRefused(code, s);
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
    // TLS 1.2: a server requiring a client certificate aborts the handshake with this generic alert when none comes.
    const maybeCert = code === 'ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE' && !s.clientCert
      ? ` the server may require a client certificate (this remote presents none): if so, ${CLIENT_CERT_FIX}; otherwise:` : '';
    return {
      kind: 'handshake',
      // node's `reason` is OpenSSL's phrase ("wrong version number") without the library's error-stack noise.
      message: `TLS handshake with ${where} failed (${code || 'error'}: ${err.reason ?? err.message}):${maybeCert} is ${s.port} the server's TLS port? RsyncHub listens for TLS on RSYNCHUB_RSYNC_TLS_PORT (8874 by default), rsync-ssl setups on 874; a plain rsync port (873) cannot be used with tls: true; not retried in plaintext`,
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
