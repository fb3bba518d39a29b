/**
 * The agent's TLS connector: rsync runs it as RSYNC_CONNECT_PROG (see rsync(1), "CONNECTING TO AN RSYNC DAEMON") in
 * place of opening a TCP connection to the daemon, and speaks the daemon protocol over its stdin/stdout (a socketpair).
 * It opens a TLS connection, checks the server certificate (pinned SHA-256 fingerprint, or CA file plus host name, or
 * the system CAs plus host name) BEFORE one byte of rsync's protocol leaves, then relays both ways. On any failure it
 * writes one line `rsynchub-agent tls <verify|handshake|connect>: <what and the fix>` to stderr (rsync passes it on to
 * the agent, see parseConnectorLine) and exits: rsync then fails; there is no path to a plaintext connection, because
 * with RSYNC_CONNECT_PROG set rsync opens no socket itself.
 *
 * Start-up cost matters (one connector per rsync run): this file loads node's tls, net and fs and the import-free
 * tls-options.ts, nothing else of the agent.
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as tls from 'node:tls';
import { CONNECT_SETTINGS_ENV, CONNECTOR_PREFIX, type ConnectSettings, explainTlsError, pinMismatchMessage, type TlsFailureKind } from './tls-options';

function fail(kind: TlsFailureKind, message: string): never {
  // One line: rsync forwards it, the agent finds it by its prefix.
  fs.writeSync(2, `${CONNECTOR_PREFIX} ${kind}: ${message.replace(/\s*\n\s*/g, ' ')}\n`);
  process.exit(kind === 'connect' ? 2 : 3);
}

function readSettings(): ConnectSettings {
  const raw = process.env[CONNECT_SETTINGS_ENV];
  if (!raw) fail('connect', `${CONNECT_SETTINGS_ENV} is not set: this program is run by the agent through rsync (RSYNC_CONNECT_PROG), not by hand`);
  try {
    const s = JSON.parse(raw) as ConnectSettings;
    if (typeof s.host !== 'string' || !Number.isInteger(s.port)) throw new Error('host and port required');
    return s;
  } catch (e) {
    return fail('connect', `${CONNECT_SETTINGS_ENV} is not valid: ${(e as Error).message}`);
  }
}

/** rsync's end of the connection: the socketpair on fd 0 (and 1), or stdin/stdout when run by hand. */
function localStream(): { input: NodeJS.ReadableStream; output: NodeJS.WritableStream } {
  let socket = false;
  try {
    socket = fs.fstatSync(0).isSocket();
  } catch {
    // no fd 0: the stdio fallback fails on its own
  }
  if (socket) {
    // One duplex socket: ending our writing side shuts the socket down for writing (rsync sees EOF) while we still read.
    const s = new net.Socket({ fd: 0, readable: true, writable: true, allowHalfOpen: true });
    return { input: s, output: s };
  }
  return { input: process.stdin, output: process.stdout };
}

function main(): void {
  const s = readSettings();
  const where = `${s.host}:${s.port}`;
  let ca: Buffer | undefined;
  if (s.caFile) {
    try {
      ca = fs.readFileSync(s.caFile);
    } catch (e) {
      fail('verify', `cannot read caFile ${s.caFile} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); not retried in plaintext`);
    }
  }
  const pinOnly = s.fingerprint !== undefined && ca === undefined;
  const options: tls.ConnectionOptions = {
    host: s.host,
    port: s.port,
    minVersion: 'TLSv1.2',
    // SNI and the name check take a host name; an IP address is checked against the certificate's IP names.
    ...(net.isIP(s.host) ? {} : { servername: s.host }),
    ...(ca ? { ca } : {}),
    // A pin is the trust anchor on its own (the certificate may be self-signed, for any name): checked below, before
    // any data is sent. Otherwise the chain and the host name are verified by node (CA file, or the system CAs).
    ...(pinOnly ? { rejectUnauthorized: false, checkServerIdentity: () => undefined } : { rejectUnauthorized: true }),
  };
  const timer = setTimeout(() => fail('connect', `no TLS connection to ${where} within ${Math.round(s.timeoutMs / 1000)}s (connectTimeoutSec)`), s.timeoutMs);
  const remote = tls.connect(options);
  let established = false;
  remote.on('error', (e: Error & { code?: string; reason?: string; cert?: tls.PeerCertificate }) => {
    if (established) fail('connect', `connection to ${where} lost (${e.code ?? 'error'}: ${e.message})`);
    const cert = e.cert ?? (remote.getPeerCertificate?.() as tls.PeerCertificate | undefined);
    const f = explainTlsError(e, s, cert && cert.subjectaltname !== undefined ? { altNames: cert.subjectaltname, validTo: cert.valid_to } : cert?.valid_to ? { validTo: cert.valid_to } : undefined);
    fail(f.kind, f.message);
  });
  remote.once('secureConnect', () => {
    clearTimeout(timer);
    if (s.fingerprint !== undefined) {
      const got = remote.getPeerCertificate().fingerprint256;
      if (got !== s.fingerprint) {
        remote.destroy();
        fail('verify', pinMismatchMessage(where, got ?? '(none)', s.fingerprint));
      }
    }
    established = true;
    // rsync's protocol start is many small writes, each waiting on the peer: no Nagle delay (see rsync-runner.ts).
    remote.setNoDelay(true);
    const { input, output } = localStream();
    input.pipe(remote);
    remote.pipe(output);
    // rsync closed its end: it is done (or was killed) and reads nothing more. Exit once our close_notify is flushed
    // rather than wait for the server's close: the agent's run ends when this process does (it holds rsync's stderr).
    input.once('end', () => {
      remote.end(() => process.exit(0));
      setTimeout(() => process.exit(0), 2000).unref();
    });
    input.once('error', () => remote.destroy());
  });
}

main();
