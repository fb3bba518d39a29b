import type { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as tls from 'node:tls';
import { connectedLoopbackPair, spawnInetdDaemon } from '@rsynchub/rsyncd';
import { proxyV1Header, unmapIpv4 } from './proxy-header';

/**
 * The same choices as the native front (native/rsynchub-tls-front.c): TLS 1.2 at least, and the TLS 1.3 suites in
 * Mozilla's "intermediate" order as the server's preference, AES-128-GCM first (~1.5x cheaper than AES-256-GCM with
 * AES-NI; client and front share the CPUs of a small target). TLS 1.2 keeps Node's default list.
 */
const TLS_SETTINGS = {
  minVersion: 'TLSv1.2' as const,
  ciphers: ['TLS_AES_128_GCM_SHA256', 'TLS_AES_256_GCM_SHA384', 'TLS_CHACHA20_POLY1305_SHA256', ...tls.DEFAULT_CIPHERS.split(':').filter((c) => !c.startsWith('TLS_'))].join(':'),
  honorCipherOrder: true,
};

/** A TLS handshake that does not finish within this is dropped (a slow-loris on the handshake holds nothing long). */
export const HANDSHAKE_TIMEOUT_MS = 10_000;
/** Open TLS connections at most; more are refused at accept (each one holds a daemon process too). */
export const MAX_CONNECTIONS = 1_000;
/**
 * Open TLS connections per client address. Each one holds a forked rsync daemon waiting for the client's greeting
 * (the daemon has no time limit there), so without this one host could take all MAX_CONNECTIONS and lock every
 * other source out. An agent pushes over one connection per run; 32 leaves room for many targets and manual runs.
 */
export const MAX_CONNECTIONS_PER_ADDRESS = 32;

export interface TlsFrontOptions {
  host: string;
  port: number;
  cert: string;
  key: string;
  /**
   * The private CA (PEM) client certificates must chain to. Given: every client is asked for a certificate
   * (optional: a client without one still connects).
   */
  clientCa?: string;
  /** The daemon to run for a connection (null: none to run now, the connection is closed). */
  daemon: () => DaemonFiles | null;
}

export interface DaemonFiles {
  rsyncPath: string;
  /** rsyncd-tls.conf: connections without a verified client certificate. */
  configFile: string;
  /** rsyncd-tls-cert.conf: connections whose certificate chains to clientCa, is valid now and is listed in allowedFile. */
  certConfigFile?: string;
  /** One lower-case SHA-256 hex fingerprint per line (client-certs.allowed), read per connection. */
  allowedFile?: string;
}

/** The allowed file is tiny (65 bytes a certificate); anything much bigger is not ours, and no certificate passes. */
const MAX_ALLOWED_FILE_BYTES = 4 * 1024 * 1024;

/**
 * Whether a presented client certificate passes: verified against the CA by the handshake (`authorized`: chains to
 * the CA, valid now, clientAuth), and its fingerprint in the allowed file, read now (a revocation holds for the next
 * connection). A certificate that does not pass is the same as none: the connection gets rsyncd-tls.conf, where
 * tlsClientCert modules refuse it ("access denied") and every other module works as for any TLS client. The file
 * is opened without following a symbolic link and must be a regular file: otherwise nothing passes.
 */
export async function clientCertPasses(client: tls.TLSSocket, allowedFile: string): Promise<boolean> {
  if (!client.authorized) return false;
  const peer = client.getPeerCertificate();
  if (!peer || !peer.fingerprint256) return false;
  const hex = peer.fingerprint256.replace(/:/g, '').toLowerCase();
  let handle: fs.promises.FileHandle | null = null;
  try {
    handle = await fs.promises.open(allowedFile, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
    const st = await handle.stat();
    if (!st.isFile() || st.size > MAX_ALLOWED_FILE_BYTES) return false;
    const text = await handle.readFile('utf8');
    return text.split('\n').some((line) => line.trim() === hex);
  } catch {
    return false;
  } finally {
    await handle?.close();
  }
}

/** A per-connection daemon still running this long after a stop was asked for is killed. */
const STOP_GRACE_MS = 5_000;

/**
 * The rsync-over-TLS listener: terminates TLS (what `rsync-ssl` and the agent speak), then, per connection, starts
 * one `rsync --daemon` in inetd mode (config with `proxy protocol = yes`) on a private, already-connected loopback
 * pair, writes the PROXY line with the client's real address on Node's end and copies bytes both ways. No daemon
 * that trusts a PROXY line listens anywhere, so no other local process can name a client address (review F1).
 * Plain rsync keeps its own daemon with no Node in its path.
 * The fallback front (RSYNCHUB_TLS_FRONT=node, or the native one not built): the default is the native process
 * supervised by tls-front-native.ts, which does the same per connection without Node in the data path.
 */
export class TlsFront {
  readonly kind = 'node' as const;
  private server: tls.Server | null = null;
  private readonly sockets = new Set<net.Socket>();
  /** Open connections (from TCP accept, before the handshake) per client address. */
  private readonly perAddress = new Map<string, number>();
  /** Connections closed at accept because their address already had MAX_CONNECTIONS_PER_ADDRESS open. */
  refusedPerAddress = 0;
  accepted = 0;
  handshakeFailures = 0;
  /** The per-connection daemons running now. */
  private readonly children = new Set<ChildProcess>();
  /** What the last per-connection daemon that failed to start said (cleared by the next one that starts). */
  lastDaemonError: string | null = null;

  get daemons(): number {
    return this.children.size;
  }

  get active(): number {
    return this.sockets.size;
  }

  get listening(): boolean {
    return this.server?.listening ?? false;
  }

  async start(opts: TlsFrontOptions): Promise<void> {
    await this.stop();
    this.clientCa = opts.clientCa;
    const server = tls.createServer({
      cert: opts.cert,
      key: opts.key,
      ...this.clientAuthSettings(),
      ...TLS_SETTINGS,
      handshakeTimeout: HANDSHAKE_TIMEOUT_MS,
      // rsync sends its greeting only after ours: no client data is expected before the daemon speaks.
      allowHalfOpen: false,
    });
    server.maxConnections = MAX_CONNECTIONS;
    server.on('tlsClientError', (_err, socket) => {
      this.handshakeFailures++;
      socket.destroy();
    });
    // Counted at TCP accept, before the handshake: a refused connection costs no TLS work.
    server.on('connection', (socket: net.Socket) => this.admit(socket));
    server.on('secureConnection', (client) => this.relay(client, opts));
    server.on('error', () => undefined);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: opts.host, port: opts.port, exclusive: true }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.server = server;
  }

  /** A renewed or re-issued certificate: new handshakes use it, open connections keep theirs. */
  setCertificate(cert: string, key: string): void {
    this.server?.setSecureContext({ cert, key, ...(this.clientCa ? { ca: this.clientCa } : {}), ...TLS_SETTINGS });
  }

  private clientCa: string | undefined;

  /**
   * Ask every client for a certificate chained to the private CA, but let one without (or with a bad one) in:
   * `authorized` then says whether it verified, and the connection's daemon config is chosen from that.
   */
  private clientAuthSettings(): Partial<tls.TlsOptions> {
    return this.clientCa ? { requestCert: true, rejectUnauthorized: false, ca: this.clientCa } : {};
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = null;
    if (!server) return;
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await this.stopDaemons();
  }

  /** Each daemon's whole group (it forks the transfer processes): SIGTERM, SIGKILL after a grace period. */
  private async stopDaemons(): Promise<void> {
    const children = [...this.children];
    const signal = (child: ChildProcess, sig: NodeJS.Signals) => {
      try {
        process.kill(-child.pid!, sig);
      } catch {
        /* already gone */
      }
    };
    const exits = children.map((c) => (c.exitCode !== null || c.signalCode !== null ? Promise.resolve() : new Promise<void>((r) => c.once('exit', () => r()))));
    for (const c of children) signal(c, 'SIGTERM');
    const timer = setTimeout(() => children.forEach((c) => signal(c, 'SIGKILL')), STOP_GRACE_MS);
    await Promise.all(exits);
    clearTimeout(timer);
    for (const c of children) signal(c, 'SIGKILL'); // transfer processes that outlived their parent
  }

  private admit(socket: net.Socket): void {
    const address = unmapIpv4(socket.remoteAddress ?? '');
    const open = this.perAddress.get(address) ?? 0;
    if (open >= MAX_CONNECTIONS_PER_ADDRESS) {
      this.refusedPerAddress++;
      socket.destroy();
      return;
    }
    this.perAddress.set(address, open + 1);
    socket.once('close', () => {
      const left = (this.perAddress.get(address) ?? 1) - 1;
      if (left <= 0) this.perAddress.delete(address);
      else this.perAddress.set(address, left);
    });
  }

  private relay(client: tls.TLSSocket, opts: TlsFrontOptions): void {
    const daemon = opts.daemon();
    if (!daemon) {
      client.destroy();
      return;
    }
    this.accepted++;
    client.setNoDelay(true);
    this.sockets.add(client);
    client.on('error', () => client.destroy());
    client.on('close', () => this.sockets.delete(client));
    // The client's first bytes wait in the TLS socket (nothing reads it before the pipe below).
    const withCert = daemon.certConfigFile && daemon.allowedFile ? clientCertPasses(client, daemon.allowedFile) : Promise.resolve(false);
    Promise.all([connectedLoopbackPair(), withCert]).then(
      ([pair, passed]) => this.startDaemon(client, pair, { rsyncPath: daemon.rsyncPath, configFile: passed ? daemon.certConfigFile! : daemon.configFile }),
      (err: Error) => {
        this.lastDaemonError = `cannot connect a daemon for a TLS connection: ${err.message}`;
        client.destroy();
      },
    );
  }

  private startDaemon(client: tls.TLSSocket, pair: Awaited<ReturnType<typeof connectedLoopbackPair>>, daemon: { rsyncPath: string; configFile: string }): void {
    if (client.destroyed || !this.server) {
      pair.ours.destroy();
      pair.theirs.destroy();
      return;
    }
    const upstream = pair.ours;
    const child = spawnInetdDaemon(pair, { rsyncPath: daemon.rsyncPath, configFile: daemon.configFile, stderr: 'pipe' });
    this.children.add(child);
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString('utf8')).slice(-1000)));
    child.once('error', (err) => {
      this.lastDaemonError = `cannot start rsync for a TLS connection: ${err.message}`;
      upstream.destroy();
    });
    child.once('exit', () => {
      this.children.delete(child);
      // rsync writes to stderr only when it cannot get going at all (its log file takes the rest).
      if (stderr.trim()) this.lastDaemonError = `rsync for a TLS connection: ${stderr.trim().split('\n').slice(-3).join(' | ')}`;
    });
    child.once('spawn', () => {
      if (!stderr) this.lastDaemonError = null;
    });
    const closeBoth = () => {
      client.destroy();
      upstream.destroy();
    };
    upstream.on('error', closeBoth);
    client.on('close', () => upstream.destroy());
    // The daemon hung up: what it sent last is still queued for the client, so end (flush + close_notify), never
    // destroy; a client that then does not close its side is dropped after a while.
    upstream.on('close', () => {
      client.end();
      setTimeout(() => client.destroy(), 30_000).unref();
    });
    upstream.write(proxyV1Header({ address: client.remoteAddress, port: client.remotePort }, { address: client.localAddress, port: client.localPort }));
    relayBatched(client, upstream);
    upstream.pipe(client);
  }
}

/**
 * `from.pipe(to)`, but the TLS records decrypted in one turn of the event loop (up to 16 KB each) go to the daemon
 * in one writev instead of one write each: fewer system calls on the push path, the heavy direction.
 */
function relayBatched(from: net.Socket, to: net.Socket): void {
  let corked = false;
  const flush = () => {
    corked = false;
    to.uncork();
  };
  from.on('data', (chunk: Buffer) => {
    if (!corked) {
      corked = true;
      to.cork();
      setImmediate(flush);
    }
    if (!to.write(chunk)) from.pause();
  });
  to.on('drain', () => from.resume());
  from.on('end', () => to.end());
}
