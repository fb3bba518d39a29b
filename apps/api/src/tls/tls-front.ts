import * as net from 'node:net';
import * as tls from 'node:tls';
import { proxyV1Header, unmapIpv4 } from './proxy-header';

/** A TLS handshake that does not finish within this is dropped (a slow-loris on the handshake holds nothing long). */
const HANDSHAKE_TIMEOUT_MS = 10_000;
/** Open TLS connections at most; more are refused at accept (each one holds a daemon process too). */
const MAX_CONNECTIONS = 1_000;
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
  /** Where the proxy-protocol daemon listens now (null: not running, connections are closed). */
  backend: () => { host: string; port: number } | null;
}

/**
 * The rsync-over-TLS listener: terminates TLS (what `rsync-ssl` and the agent speak), opens a loopback connection to
 * the daemon running with `proxy protocol = yes`, sends the PROXY line with the client's real address, then copies
 * bytes both ways. `proxy protocol hosts = 127.0.0.1` keeps remote hosts from sending a PROXY line, but NOT other
 * local processes: anything on this machine can connect to the loopback port and name any client address (see the
 * README's known limitation). Plain rsync keeps its own daemon with no Node in its path.
 */
export class TlsFront {
  private server: tls.Server | null = null;
  private readonly sockets = new Set<net.Socket>();
  /** Open connections (from TCP accept, before the handshake) per client address. */
  private readonly perAddress = new Map<string, number>();
  /** Connections closed at accept because their address already had MAX_CONNECTIONS_PER_ADDRESS open. */
  refusedPerAddress = 0;
  accepted = 0;
  handshakeFailures = 0;

  get active(): number {
    return this.sockets.size;
  }

  get listening(): boolean {
    return this.server?.listening ?? false;
  }

  async start(opts: TlsFrontOptions): Promise<void> {
    await this.stop();
    const server = tls.createServer({
      cert: opts.cert,
      key: opts.key,
      minVersion: 'TLSv1.2',
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
    this.server?.setSecureContext({ cert, key, minVersion: 'TLSv1.2' });
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = null;
    if (!server) return;
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
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
    const backend = opts.backend();
    if (!backend) {
      client.destroy();
      return;
    }
    this.accepted++;
    client.setNoDelay(true);
    const upstream = net.connect({ host: backend.host, port: backend.port });
    upstream.setNoDelay(true);
    this.sockets.add(client);
    const closeBoth = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', closeBoth);
    upstream.on('error', closeBoth);
    client.on('close', () => {
      upstream.destroy();
      this.sockets.delete(client);
    });
    // The daemon hung up: what it sent last is still queued for the client, so end (flush + close_notify), never
    // destroy; a client that then does not close its side is dropped after a while.
    upstream.on('close', () => {
      client.end();
      setTimeout(() => client.destroy(), 30_000).unref();
    });
    upstream.once('connect', () => {
      upstream.write(proxyV1Header({ address: client.remoteAddress, port: client.remotePort }, { address: client.localAddress, port: client.localPort }));
      client.pipe(upstream);
      upstream.pipe(client);
    });
  }
}
