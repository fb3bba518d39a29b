/**
 * Test helpers for the TLS transport (not shipped behaviour): certificates made with @peculiar/x509, and a TLS
 * terminator in front of a real `rsync --daemon` that records what crossed the wire.
 *
 *   agent's TLS relay --TLS--> [capture: raw TCP, counts connections, keeps the bytes] --> [tls.Server] --plain--> daemon
 *
 * The capture front lets a test prove that nothing went in plaintext: every connection must start with a TLS
 * handshake record (0x16), and the bytes must not contain what the rsync protocol sends in the clear (`@RSYNCD:`, the
 * user name, file contents). The terminator opens its connection to the daemon only when the client sends data after
 * the handshake, so a client that refuses the certificate leaves the daemon untouched (its log shows no connection).
 */
import 'reflect-metadata'; // @peculiar/x509 resolves its algorithm providers with tsyringe, which needs it
import * as x509 from '@peculiar/x509';
import assert from 'node:assert/strict';
import { randomBytes, webcrypto } from 'node:crypto';
import { type ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tls from 'node:tls';
import type { Agent } from './agent';
import type { RsyncDaemon } from './e2e-support';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
const DAY = 86_400_000;

export interface TestCa {
  certPem: string;
  keys: webcrypto.CryptoKeyPair;
  cert: x509.X509Certificate;
}

export interface TestServerCert {
  certPem: string;
  keyPem: string;
  /** Canonical SHA-256 fingerprint (AB:CD:..., as node reports it). */
  fingerprint: string;
}

export async function makeCa(name = 'RsyncHub test CA'): Promise<TestCa> {
  const keys = await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify']) as webcrypto.CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '01', name: `CN=${name}`, notBefore: new Date(Date.now() - DAY), notAfter: new Date(Date.now() + 30 * DAY), keys, signingAlgorithm: ALG,
    extensions: [new x509.BasicConstraintsExtension(true, undefined, true), new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true)],
  });
  return { certPem: cert.toString('pem'), keys, cert };
}

/** A server certificate signed by `ca` for the given names (`dns:` / `ip:` prefixed), optionally already expired. */
export async function makeServerCert(ca: TestCa, names: string[], opts: { expired?: boolean } = {}): Promise<TestServerCert> {
  const keys = await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify']) as webcrypto.CryptoKeyPair;
  const notAfter = opts.expired ? new Date(Date.now() - DAY) : new Date(Date.now() + 30 * DAY);
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: String(Date.now() % 1e9), subject: `CN=${names[0]!.replace(/^\w+:/, '')}`, issuer: ca.cert.subject,
    notBefore: new Date(notAfter.getTime() - 60 * DAY), notAfter, signingKey: ca.keys.privateKey, publicKey: keys.publicKey, signingAlgorithm: ALG,
    extensions: [
      new x509.SubjectAlternativeNameExtension(names.map((n) => {
        const [type, value] = n.split(/:(.*)/s) as [string, string];
        return { type: type as 'dns' | 'ip', value };
      })),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
    ],
  });
  const keyPem = x509.PemConverter.encode(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey), 'PRIVATE KEY');
  const fingerprint = new (await import('node:crypto')).X509Certificate(cert.toString('pem')).fingerprint256;
  return { certPem: cert.toString('pem'), keyPem, fingerprint };
}

export interface TestClientCert {
  certPem: string;
  /** PKCS#8 PEM, unencrypted. */
  keyPem: string;
}

/** A client certificate signed by `ca` for the subject CN `name` (what the console issues per source). */
export async function makeClientCert(ca: TestCa, name: string): Promise<TestClientCert> {
  const keys = await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify']) as webcrypto.CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: String(Date.now() % 1e9), subject: `CN=${name}`, issuer: ca.cert.subject,
    notBefore: new Date(Date.now() - DAY), notAfter: new Date(Date.now() + 30 * DAY), signingKey: ca.keys.privateKey, publicKey: keys.publicKey, signingAlgorithm: ALG,
    extensions: [
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth]),
    ],
  });
  const keyPem = x509.PemConverter.encode(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey), 'PRIVATE KEY');
  return { certPem: cert.toString('pem'), keyPem };
}

export interface TlsRelayOptions {
  /**
   * Require a client certificate signed by this CA (PEM): `requestCert` + `rejectUnauthorized`, as a TLS front in
   * front of a module that requires one. A client without one, or with one from another CA, fails the handshake.
   */
  clientCa?: string;
  /** 'TLSv1.2': the refusal then comes in the handshake; with TLS 1.3 (the default) only after it, on the first read. */
  maxVersion?: 'TLSv1.2';
  /**
   * Who terminates TLS: node's tls.Server (default; it checks a client certificate after the handshake and closes the
   * connection without an alert), or Debian's stunnel4 (`verify = 2` + `CAfile`: OpenSSL refuses in the handshake
   * with an alert: `certificate required`, `unknown ca`).
   */
  terminator?: 'node' | 'stunnel';
}

/** TLS terminator + wire capture in front of a daemon's plain port (see the file comment). */
export class TlsRelay {
  /** Port the agent connects to (the capture front). */
  port = 0;
  /** Connections accepted at the front, and the first byte each one sent (0x16 = TLS handshake). */
  readonly firstBytes: number[] = [];
  connections = 0;
  /** Connections the terminator opened to the daemon's plain port. */
  upstreamConnections = 0;
  /** Every byte clients sent to the front, as it crossed the wire (ciphertext when all is well). */
  private readonly captured: Buffer[] = [];
  private front!: net.Server;
  private terminator!: tls.Server;
  private readonly sockets = new Set<net.Socket>();

  /** Client certificates the terminator accepted (their subject CN), one per connection that got through. */
  readonly clientNames: string[] = [];
  /** Handshakes the terminator refused (a missing or untrusted client certificate, among others). */
  handshakeFailures = 0;

  constructor(private readonly daemonPort: number, private readonly cert: TestServerCert, private readonly opts: TlsRelayOptions = {}) {}

  private stunnel?: ChildProcess;
  private stunnelDir?: string;
  private counter?: net.Server;

  /** stunnel4 in front of a connection-counting proxy to the daemon; resolves with stunnel's port. */
  private async startStunnel(): Promise<number> {
    this.counter = net.createServer((c) => {
      this.upstreamConnections++;
      const up = net.connect(this.daemonPort, '127.0.0.1');
      for (const s of [c, up]) {
        this.sockets.add(s);
        s.once('close', () => this.sockets.delete(s));
      }
      c.pipe(up);
      up.pipe(c);
      c.on('error', () => up.destroy());
      up.on('error', () => c.destroy());
    });
    await new Promise<void>((r) => this.counter!.listen(0, '127.0.0.1', () => r()));
    const dir = this.stunnelDir = fs.mkdtempSync(path.join(os.tmpdir(), 'rsynchub-stunnel-'));
    fs.writeFileSync(path.join(dir, 'server.crt'), this.cert.certPem);
    fs.writeFileSync(path.join(dir, 'server.key'), this.cert.keyPem, { mode: 0o600 });
    const port = await new Promise<number>((resolve, reject) => {
      const s = net.createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as net.AddressInfo).port;
        s.close(() => resolve(p));
      }).on('error', reject);
    });
    const conf = [
      'foreground = yes', 'pid =', 'syslog = no', 'debug = 4', '[rsync]', `accept = 127.0.0.1:${port}`,
      `connect = 127.0.0.1:${(this.counter.address() as net.AddressInfo).port}`,
      `cert = ${path.join(dir, 'server.crt')}`, `key = ${path.join(dir, 'server.key')}`,
    ];
    if (this.opts.clientCa) {
      fs.writeFileSync(path.join(dir, 'client-ca.pem'), this.opts.clientCa);
      conf.push(`CAfile = ${path.join(dir, 'client-ca.pem')}`, 'verify = 2');
    }
    if (this.opts.maxVersion) conf.push('sslVersionMax = TLSv1.2');
    fs.writeFileSync(path.join(dir, 'stunnel.conf'), conf.join('\n') + '\n');
    const child = this.stunnel = spawn('/usr/bin/stunnel4', [path.join(dir, 'stunnel.conf')], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
      // stunnel logs each refused handshake ("peer did not return a certificate", "certificate verify failed"); not
      // the readiness probe below ("Peer suddenly disconnected").
      this.handshakeFailures += (d.toString().match(/SSL_accept: .*(certificate|verify)/g) ?? []).length;
    });
    const deadline = Date.now() + 10_000;
    for (;;) {
      const up = await new Promise<boolean>((resolve) => {
        const s = net.connect(port, '127.0.0.1', () => { s.destroy(); resolve(true); });
        s.on('error', () => resolve(false));
      });
      if (up) return port;
      if (Date.now() > deadline || child.exitCode !== null) throw new Error(`stunnel4 did not start: ${err}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async start(): Promise<this> {
    if (this.opts.terminator === 'stunnel') return this.startFront(await this.startStunnel());
    const clientAuth = {
      ...(this.opts.clientCa ? { requestCert: true, rejectUnauthorized: true, ca: this.opts.clientCa } : {}),
      ...(this.opts.maxVersion ? { maxVersion: this.opts.maxVersion } : {}),
    };
    this.terminator = tls.createServer({ cert: this.cert.certPem, key: this.cert.keyPem, ...clientAuth }, (clear) => {
      if (this.opts.clientCa) this.clientNames.push(String(clear.getPeerCertificate().subject?.CN ?? ''));
      this.sockets.add(clear);
      clear.once('close', () => this.sockets.delete(clear));
      clear.once('data', (first) => {
        clear.pause();
        this.upstreamConnections++;
        const up = net.connect(this.daemonPort, '127.0.0.1', () => {
          up.setNoDelay(true);
          up.write(first);
          clear.pipe(up);
          up.pipe(clear);
          clear.resume();
        });
        this.sockets.add(up);
        up.once('close', () => this.sockets.delete(up));
        up.on('error', () => clear.destroy());
        clear.on('error', () => up.destroy());
      });
      clear.on('error', () => clear.destroy());
    });
    this.terminator.on('tlsClientError', () => this.handshakeFailures++); // a refused handshake is what some tests are about
    await new Promise<void>((r) => this.terminator.listen(0, '127.0.0.1', () => r()));
    return this.startFront((this.terminator.address() as net.AddressInfo).port);
  }

  /** The capture front: raw TCP to the terminator at innerPort, keeping every byte clients send. */
  private async startFront(innerPort: number): Promise<this> {
    this.front = net.createServer((client) => {
      this.connections++;
      this.sockets.add(client);
      client.once('close', () => this.sockets.delete(client));
      let first = true;
      const inner = net.connect(innerPort, '127.0.0.1');
      this.sockets.add(inner);
      inner.once('close', () => this.sockets.delete(inner));
      client.on('data', (d: Buffer) => {
        if (first) this.firstBytes.push(d[0]!);
        first = false;
        this.captured.push(Buffer.from(d));
      });
      client.pipe(inner);
      inner.pipe(client);
      client.on('error', () => inner.destroy());
      inner.on('error', () => client.destroy());
    });
    await new Promise<void>((r) => this.front.listen(0, '127.0.0.1', () => r()));
    this.port = (this.front.address() as net.AddressInfo).port;
    return this;
  }

  /** All bytes the clients sent, concatenated. */
  wire(): Buffer {
    return Buffer.concat(this.captured);
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await Promise.all([
      new Promise<void>((r) => this.front?.close(() => r())),
      new Promise<void>((r) => (this.terminator ? this.terminator.close(() => r()) : r())),
      new Promise<void>((r) => (this.counter ? this.counter.close(() => r()) : r())),
    ]);
    if (this.stunnel && this.stunnel.exitCode === null) {
      const gone = new Promise<void>((r) => this.stunnel!.once('exit', () => r()));
      this.stunnel.kill();
      await gone;
    }
    if (this.stunnelDir) fs.rmSync(this.stunnelDir, { recursive: true, force: true });
  }
}

/** Connections in a test daemon's own log (`connect from ...`), the readiness probe included. */
export function daemonConnections(daemon: RsyncDaemon): number {
  let log = '';
  try {
    log = fs.readFileSync(path.join(daemon.dir, 'rsyncd.log'), 'utf8');
  } catch {
    // no connection ever: the daemon writes its log on the first one
  }
  return (log.match(/connect from/g) ?? []).length;
}

/** A small tree (two directories, text that holds `secret`, 200 KB of random bytes) to find or miss on the wire. */
export function writeSecretTree(src: string, secret: string): void {
  fs.mkdirSync(path.join(src, 'dir/sub'), { recursive: true });
  fs.writeFileSync(path.join(src, 'a.txt'), `${secret} a\n`);
  fs.writeFileSync(path.join(src, 'dir/sub/b.txt'), `${secret} b\n`.repeat(1000));
  fs.writeFileSync(path.join(src, 'dir/c.bin'), randomBytes(200_000));
}

/** Nothing crossed the TLS port in the clear: handshakes only, no rsync greeting, and none of `clear` (user, contents). */
export function assertAllEncrypted(relay: TlsRelay, clear: string[]): void {
  assert.ok(relay.connections > 0, 'the agent connected to the TLS port');
  assert.deepEqual(relay.firstBytes.filter((b) => b !== 0x16), [], 'every connection starts with a TLS handshake record (0x16)');
  const wire = relay.wire();
  for (const c of ['@RSYNCD', ...clear]) assert.equal(wire.indexOf(c), -1, `"${c}" crossed the wire in the clear`);
}

/**
 * An agent made by `make` with one of its two TLS relays: the relay is chosen when the agent builds its queues
 * (tls-native.ts chooseTlsRelay, native unless RSYNCHUB_AGENT_TLS_RELAY=node), so the variable is set for that only.
 */
export function withTlsRelayChoice(backend: 'native' | 'node', make: () => Agent): Agent {
  const saved = process.env.RSYNCHUB_AGENT_TLS_RELAY;
  process.env.RSYNCHUB_AGENT_TLS_RELAY = backend === 'node' ? 'node' : '';
  try {
    return make();
  } finally {
    if (saved === undefined) delete process.env.RSYNCHUB_AGENT_TLS_RELAY;
    else process.env.RSYNCHUB_AGENT_TLS_RELAY = saved;
  }
}
