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
import { webcrypto } from 'node:crypto';
import * as net from 'node:net';
import * as tls from 'node:tls';

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

  constructor(private readonly daemonPort: number, private readonly cert: TestServerCert) {}

  async start(): Promise<this> {
    this.terminator = tls.createServer({ cert: this.cert.certPem, key: this.cert.keyPem }, (clear) => {
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
    this.terminator.on('tlsClientError', () => undefined); // a refused handshake is what some tests are about
    await new Promise<void>((r) => this.terminator.listen(0, '127.0.0.1', () => r()));
    const innerPort = (this.terminator.address() as net.AddressInfo).port;
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
      new Promise<void>((r) => this.terminator?.close(() => r())),
    ]);
  }
}
