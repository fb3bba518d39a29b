/**
 * The agent's TLS transport: an in-process relay, one per rsync run of a `tls: true` remote.
 *
 * Why in-process: the earlier connector (a node process per run through RSYNC_CONNECT_PROG) paid node's start-up on
 * every push (~40 ms quiet, 600 ms under load) and relayed with 3x openssl's CPU per byte. The agent is already running;
 * a listen() and a TLS handshake cost nothing comparable.
 *
 * How one run goes (openTlsRelay):
 * - a listener on 127.0.0.1, random port, opened for this run only and closed as soon as one connection is accepted
 *   (and at the end of the run whatever happened): between runs nothing listens, so the kernel refuses a connection;
 * - the connection must come from the rsync process of this run (its pid, set with expect()): the socket's inode is
 *   looked up in /proc/net/tcp and must be one of that process's open files; any other local process is closed at once;
 * - the TLS connection to the real host is opened at the same time (its handshake overlaps rsync's start-up) and the
 *   server certificate is checked (pin / caFile + host name / system CAs + host name) BEFORE one byte is relayed: the
 *   local socket stays paused until then;
 * - then both directions are piped; rsync is pointed at rsync://user@127.0.0.1:PORT/module/.
 * A failure is kept as a TlsFailure (the same words and kinds as before) and written into the run's stderr as the
 * connector line (connectorLine), so classifyExit treats it as before: certificate refusals are kind `tls`, never retried
 * in plaintext. There is no plaintext path: rsync's only destination is this relay, and the relay speaks only TLS.
 */
import * as fs from 'node:fs';
import { MAX_PEM_BYTES } from './client-cert';
import * as net from 'node:net';
import * as tls from 'node:tls';
import { closedAfterHandshake, CONNECTOR_PREFIX, type ConnectSettings, explainTlsError, isClientCertAlert, pinMismatchMessage, type TlsFailure } from './tls-options';

/** The line added to a run's stderr for a TLS failure (the old connector's format); classifyExit (parseConnectorLine) reads it. */
export function connectorLine(f: TlsFailure): string {
  return `${CONNECTOR_PREFIX} ${f.kind}: ${f.message.replace(/\s*\n\s*/g, ' ')}`;
}

/** `127.0.0.1:port` as /proc/net/tcp writes it: little-endian hex address, big-endian hex port. */
function procAddr(port: number): string {
  return `0100007F:${port.toString(16).toUpperCase().padStart(4, '0')}`;
}

/**
 * Whether the connected socket whose client end is 127.0.0.1:clientPort (talking to 127.0.0.1:serverPort) is held by
 * process pid. null when /proc cannot tell (no /proc/net/tcp: not Linux).
 */
export function socketHeldBy(pid: number, clientPort: number, serverPort: number): boolean | null {
  let table: string;
  try {
    table = fs.readFileSync('/proc/net/tcp', 'latin1');
  } catch {
    return null;
  }
  const local = procAddr(clientPort);
  const remote = procAddr(serverPort);
  let inode: string | undefined;
  for (const line of table.split('\n')) {
    const f = line.trim().split(/\s+/);
    // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
    if (f[1] === local && f[2] === remote) {
      inode = f[9];
      break;
    }
  }
  if (!inode || inode === '0') return false;
  const want = `socket:[${inode}]`;
  let fds: string[];
  try {
    fds = fs.readdirSync(`/proc/${pid}/fd`);
  } catch {
    return false;
  }
  for (const fd of fds) {
    try {
      if (fs.readlinkSync(`/proc/${pid}/fd/${fd}`) === want) return true;
    } catch {
      // closed meanwhile
    }
  }
  return false;
}

export interface TlsRelayLease {
  /** The local port rsync connects to. */
  readonly port: number;
  /** Why the TLS side failed (certificate, handshake, connect), or null. */
  readonly failure: TlsFailure | null;
  /** Local connections refused because they did not come from this run's rsync (or came after the first). */
  readonly refused: number;
  /** Only a socket held by this process is relayed (the rsync of this run; set right after spawning it). */
  expect(pid: number | undefined): void;
  /** The run is over: stop listening, end the TLS connection (close_notify), drop what is left. */
  close(): void;
}

/** rsync's daemon URL pointed at the relay: `rsync://user@127.0.0.1:PORT/module/`. */
export function relayUrl(r: { user?: string; module: string }, port: number): string {
  return `rsync://${r.user ? `${r.user}@` : ''}127.0.0.1:${port}/${r.module}/`;
}

/** Large reads: fewer, fuller TLS records and fewer syscalls per MiB (node's default is 16 KiB). */
const HIGH_WATER = 256 * 1024;

/**
 * Node's host name check without its fallback to the subject CN (which node still takes when a certificate has no
 * subjectAltName): only subjectAltName names count, as with the native connector (X509_CHECK_FLAG_NEVER_CHECK_SUBJECT).
 */
export function checkSanIdentity(host: string, cert: tls.PeerCertificate): Error | undefined {
  if (!cert.subjectaltname) {
    return Object.assign(new Error(`Hostname/IP does not match certificate's altnames: Host: ${host}. is not in the cert's altnames: (none)`), {
      code: 'ERR_TLS_CERT_ALTNAME_INVALID', reason: 'the certificate has no subjectAltName (a name in the subject CN alone is not accepted)', host, cert,
    });
  }
  return tls.checkServerIdentity(host, cert);
}

export async function openTlsRelay(s: ConnectSettings): Promise<TlsRelayLease> {
  const where = `${s.host}:${s.port}`;
  let failure: TlsFailure | null = null;
  let refused = 0;
  let expectedPid: number | undefined;
  let local: net.Socket | null = null;
  let verified = false;
  let received = false;
  /** rsync closed its side first (it ended or was killed): an end without a byte from the server is then no refusal. */
  let rsyncEnded = false;
  let closed = false;
  let remote: tls.TLSSocket | null = null;
  let timer: NodeJS.Timeout | undefined;

  const fail = (f: TlsFailure) => {
    if (!failure) failure = f;
    if (timer) clearTimeout(timer);
    remote?.destroy();
    local?.destroy();
  };

  const startRelay = () => {
    if (!local || !remote || !verified || closed) return;
    const l = local;
    const r = remote;
    // Errors end both sides; rsync sees its connection close and reports it (a run-time loss is a retryable error).
    l.on('error', () => r.destroy());
    r.on('error', () => l.destroy());
    l.pipe(r);
    r.pipe(l);
    // The daemon speaks first: an end before any byte from the server is a refusal after the handshake (below).
    r.once('data', () => (received = true));
    l.once('end', () => (rsyncEnded = true));
    l.resume();
  };

  let ca: Buffer | undefined;
  if (s.caFile) {
    try {
      ca = fs.readFileSync(s.caFile);
    } catch (e) {
      failure = { kind: 'verify', message: `cannot read caFile ${s.caFile} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); not retried in plaintext` };
    }
  }
  // The client certificate, read per run (a renewed file is used from the next push on; checked at start: agent.ts).
  let clientCert: { cert: Buffer; key: Buffer } | undefined;
  if (!failure && s.clientCert && s.clientKey) {
    let file = s.clientCert;
    // Bounded: the start check allowed 1 MiB, and a file replaced since must not make each run read something huge.
    const read = (f: string) => {
      if (fs.statSync(f).size > MAX_PEM_BYTES) throw Object.assign(new Error(`larger than ${MAX_PEM_BYTES} bytes`), { code: 'EFBIG' });
      return fs.readFileSync(f);
    };
    try {
      const cert = read(file);
      file = s.clientKey;
      clientCert = { cert, key: read(file) };
    } catch (e) {
      failure = { kind: 'verify', message: `cannot read ${file === s.clientCert ? 'clientCert' : 'clientKey'} ${file} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); not retried in plaintext` };
    }
    // A key that does not fit its certificate (files changed since the start check) would make tls.connect throw.
    try {
      if (clientCert) tls.createSecureContext(clientCert);
    } catch (e) {
      clientCert = undefined;
      failure = { kind: 'verify', message: `clientCert ${s.clientCert} / clientKey ${s.clientKey} cannot be used (${(e as Error).message}); not retried in plaintext` };
    }
  }

  const server = net.createServer({ pauseOnConnect: true, noDelay: true, highWaterMark: HIGH_WATER } as net.ServerOpts, (sock) => {
    // Cheap checks first (a flood of connections costs no /proc reads once rsync is in). socketHeldBy null: no /proc to
    // ask (not Linux); the listener's short life and the one-connection rule still hold.
    if (local || closed || expectedPid === undefined || socketHeldBy(expectedPid, sock.remotePort ?? 0, port) === false) {
      refused++;
      sock.destroy();
      return;
    }
    local = sock;
    // One connection per run: nobody else gets in, even while this run lasts.
    server.close();
    sock.setNoDelay(true);
    sock.on('error', () => remote?.destroy());
    if (failure) sock.destroy();
    else startRelay();
  });
  server.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: 0, backlog: 4 }, () => resolve());
  });
  const port = (server.address() as net.AddressInfo).port;

  if (!failure) {
    const pinOnly = s.fingerprint !== undefined && ca === undefined;
    const r = tls.connect({
      host: s.host,
      port: s.port,
      minVersion: 'TLSv1.2',
      highWaterMark: HIGH_WATER,
      // SNI and the name check take a host name; an IP address is checked against the certificate's IP names.
      ...(net.isIP(s.host) ? {} : { servername: s.host }),
      ...(ca ? { ca } : {}),
      ...(clientCert ?? {}),
      // A pin is the trust anchor on its own (the certificate may be self-signed, for any name): checked below, before
      // any byte is relayed. Otherwise the chain and the host name are verified by node (CA file, or the system CAs).
      ...(pinOnly ? { rejectUnauthorized: false, checkServerIdentity: () => undefined } : { rejectUnauthorized: true, checkServerIdentity: checkSanIdentity }),
    } as unknown as tls.ConnectionOptions);
    remote = r;
    if (s.timeoutMs > 0) {
      timer = setTimeout(() => fail({ kind: 'connect', message: `no TLS connection to ${where} within ${Math.round(s.timeoutMs / 1000)}s (connectTimeoutSec)` }), s.timeoutMs);
    }
    r.on('error', (e: Error & { code?: string; reason?: string; cert?: tls.PeerCertificate }) => {
      // Relaying: the pipe's own handler ends the local side. Except a refused client certificate: with TLS 1.3 the
      // server says so only after the handshake, on the first read; that is a refusal to report, not a network loss.
      if (verified && !isClientCertAlert(e.code)) return;
      const cert = e.cert ?? (r.getPeerCertificate?.() as tls.PeerCertificate | undefined);
      fail(explainTlsError(e, s, cert && cert.subjectaltname !== undefined ? { altNames: cert.subjectaltname, validTo: cert.valid_to } : cert?.valid_to ? { validTo: cert.valid_to } : undefined));
    });
    // The server ended the connection after the handshake without sending a byte (and without a client-certificate
    // alert, which the error handler above reports): see closedAfterHandshake.
    r.once('close', () => {
      if (verified && !received && !rsyncEnded && !closed) fail(closedAfterHandshake(s));
    });
    r.once('secureConnect', () => {
      if (timer) clearTimeout(timer);
      if (s.fingerprint !== undefined) {
        const got = r.getPeerCertificate().fingerprint256;
        if (got !== s.fingerprint) {
          fail({ kind: 'verify', message: pinMismatchMessage(where, got ?? '(none)', s.fingerprint) });
          return;
        }
      }
      verified = true;
      // rsync's protocol start is many small writes, each waiting on the peer: no Nagle delay (see rsync-runner.ts).
      r.setNoDelay(true);
      startRelay();
    });
  }

  return {
    port,
    get failure() {
      return failure;
    },
    get refused() {
      return refused;
    },
    expect(pid) {
      expectedPid = pid;
    },
    close() {
      if (closed) return;
      closed = true;
      if (timer) clearTimeout(timer);
      server.close();
      local?.destroy();
      const r = remote;
      if (r && !r.destroyed) {
        // rsync has exited: say goodbye properly (close_notify), but do not wait on the server.
        r.end();
        setTimeout(() => r.destroy(), 2000).unref();
      }
    },
  };
}
