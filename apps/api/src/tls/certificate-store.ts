import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { TlsConfig } from '../config/app-config';
import { writeFilesAtomically } from '../daemon/atomic-file';
import { CertificateInfo, createCa, describeCertificate, issueServerCertificate, reissueReason, serverNames } from './certificates';

export interface ServedCertificate {
  /** PEM chain the listeners present (leaf first). */
  certPem: string;
  keyPem: string;
  source: 'private-ca' | 'provided';
  leaf: CertificateInfo;
  /** The private CA's certificate; null with a provided certificate. */
  caPem: string | null;
  ca: CertificateInfo | null;
}

export type CertificateListener = (served: ServedCertificate) => void;

/** How often a provided certificate is re-read when no file event came (fs.watch misses some, e.g. on NFS). */
const POLL_MS = 5_000;

/** Where the private CA and the server certificate it issued live: `<data dir>/tls`, keys 0600. */
export function tlsDir(dataDir: string) {
  const dir = path.join(dataDir, 'tls');
  return {
    dir,
    caCert: path.join(dir, 'ca.pem'),
    caKey: path.join(dir, 'ca.key'),
    serverCert: path.join(dir, 'server.pem'),
    serverKey: path.join(dir, 'server.key'),
    /** Fingerprints of the client certificates not revoked (see client-certificates.ts), read by the TLS fronts. */
    clientAllowed: path.join(dir, 'client-certs.allowed'),
  };
}

/** One CA creation at a time per data dir: the server certificate and client certificates must share one CA. */
const caLoads = new Map<string, Promise<unknown>>();

/**
 * The private CA of `dataDir`, made on first use (keys 0600). Also with an admin-provided server certificate:
 * client certificates always come from this CA. Throws when the files are there but do not make a pair.
 */
export function loadOrCreateCa(dataDir: string, log: (m: string) => void = () => undefined): Promise<{ certPem: string; keyPem: string }> {
  const run = (caLoads.get(dataDir) ?? Promise.resolve()).then(async () => {
    const files = tlsDir(dataDir);
    fs.mkdirSync(files.dir, { recursive: true, mode: 0o700 });
    const ca = readPair(files.caCert, files.caKey);
    if (ca) {
      const problem = pairProblem(ca.certPem, ca.keyPem);
      if (problem) {
        throw new Error(`the private CA in ${files.dir} is damaged (${problem}); move ca.pem and ca.key away to make a new one (sources must then trust the new CA, client certificates be issued again)`);
      }
      return ca;
    }
    const made = await createCa({ commonName: `RsyncHub CA ${os.hostname()}`.slice(0, 64) });
    writeFilesAtomically([
      { file: files.caKey, content: made.keyPem },
      { file: files.caCert, content: made.certPem },
    ]);
    log(`made a private CA in ${files.dir} (${describeCertificate(made.certPem).fingerprint256})`);
    return made;
  });
  caLoads.set(dataDir, run.catch(() => undefined));
  return run;
}

function readPair(certFile: string, keyFile: string): { certPem: string; keyPem: string } | null {
  try {
    return { certPem: fs.readFileSync(certFile, 'utf8'), keyPem: fs.readFileSync(keyFile, 'utf8') };
  } catch {
    return null;
  }
}

/** Why a certificate and key cannot be served together, or null. */
export function pairProblem(certPem: string, keyPem: string): string | null {
  let cert: crypto.X509Certificate;
  try {
    cert = new crypto.X509Certificate(certPem);
  } catch (err) {
    return `the certificate cannot be read: ${(err as Error).message}`;
  }
  let key: crypto.KeyObject;
  try {
    key = crypto.createPrivateKey(keyPem);
  } catch (err) {
    return `the private key cannot be read: ${(err as Error).message}`;
  }
  if (!cert.checkPrivateKey(key)) return 'the private key does not belong to the certificate';
  return null;
}

/**
 * Why a certificate is not valid now (expired, or not yet valid), or null. A renewal that swaps in such a file (a
 * restored backup, a clock-skewed issuer) would break every client while the previous certificate still works.
 */
export function validityProblem(certPem: string, now = new Date()): string | null {
  const { notBefore, notAfter } = describeCertificate(certPem);
  if (notAfter.getTime() <= now.getTime()) return `the certificate expired on ${notAfter.toISOString()}`;
  if (notBefore.getTime() > now.getTime()) return `the certificate is not valid before ${notBefore.toISOString()}`;
  return null;
}

/**
 * The certificate both TLS listeners (rsync and, when on, HTTPS) present. Either the admin's files (re-read when they
 * change: a renewed Let's Encrypt certificate is picked up without a restart; a half-written or mismatched pair is
 * refused and the previous one kept), or a private CA made at first start that issues the server certificate for
 * this machine's names, issued anew when a name is added (public host setting, a new address) or it nears expiry.
 * Plain class (not a Nest provider) so main.ts can load it before the application exists.
 */
export class CertificateStore {
  private served: ServedCertificate | null = null;
  private readonly listeners: CertificateListener[] = [];
  private watchers: fs.FSWatcher[] = [];
  private pollTimer: NodeJS.Timeout | null = null;
  private lastProvided = '';
  private publicHost = '';
  lastError: string | null = null;

  constructor(
    private readonly dataDir: string,
    private readonly config: Pick<TlsConfig, 'certFile' | 'keyFile'>,
    private readonly log: { log(m: string): void; warn(m: string): void; error(m: string): void } = console,
  ) {}

  get current(): ServedCertificate | null {
    return this.served;
  }

  get provided(): boolean {
    return this.config.certFile !== undefined;
  }

  /** The CA that issues client certificates and that the TLS fronts verify them with (the private CA, always). */
  clientCa(): Promise<{ certPem: string; keyPem: string }> {
    return loadOrCreateCa(this.dataDir, (m) => this.log.log(m));
  }

  /** Where the allowed client-certificate fingerprints are written (see ClientCertsService). */
  get clientAllowedFile(): string {
    return tlsDir(this.dataDir).clientAllowed;
  }

  onChange(listener: CertificateListener): void {
    this.listeners.push(listener);
  }

  /** Loads (or first makes) the certificate; throws when a provided one cannot be served at all. */
  async load(publicHost = this.publicHost): Promise<ServedCertificate> {
    this.publicHost = publicHost;
    if (this.provided) {
      const pair = readPair(this.config.certFile!, this.config.keyFile!);
      if (!pair) throw new Error(`cannot read RSYNCHUB_TLS_CERT (${this.config.certFile}) or RSYNCHUB_TLS_KEY (${this.config.keyFile})`);
      const problem = pairProblem(pair.certPem, pair.keyPem);
      if (problem) throw new Error(`RSYNCHUB_TLS_CERT / RSYNCHUB_TLS_KEY: ${problem}`);
      this.lastProvided = pair.certPem + pair.keyPem;
      this.serve({ ...pair, source: 'provided', leaf: describeCertificate(pair.certPem), caPem: null, ca: null });
      return this.served!;
    }
    await this.ensurePrivateCa();
    return this.served!;
  }

  /** The public host setting changed (or a periodic check): the private CA re-issues if a name is missing. */
  async refreshNames(publicHost: string): Promise<void> {
    this.publicHost = publicHost;
    if (this.provided) return;
    try {
      await this.ensurePrivateCa();
    } catch (err) {
      this.lastError = `could not issue the server certificate: ${(err as Error).message}`;
      this.log.error(this.lastError);
    }
  }

  /** Starts watching a provided certificate's files (fs.watch on their directories, plus a poll). */
  watch(): void {
    if (!this.provided || this.pollTimer) return;
    const dirs = new Set([path.dirname(this.config.certFile!), path.dirname(this.config.keyFile!)]);
    for (const dir of dirs) {
      try {
        // The directory, not the file: renewals replace files (rename, symlink swap), which a file watch loses.
        const w = fs.watch(dir, () => this.reloadProvided());
        w.on('error', () => undefined);
        this.watchers.push(w);
      } catch (err) {
        this.log.warn(`cannot watch ${dir} (${(err as Error).message}); polling every ${POLL_MS / 1000}s only`);
      }
    }
    this.pollTimer = setInterval(() => this.reloadProvided(), POLL_MS);
    this.pollTimer.unref();
  }

  close(): void {
    for (const w of this.watchers) w.close();
    this.watchers = [];
    if (this.pollTimer) clearInterval(this.pollTimer);
    this.pollTimer = null;
  }

  private reloadProvided(): void {
    const pair = readPair(this.config.certFile!, this.config.keyFile!);
    if (!pair || pair.certPem + pair.keyPem === this.lastProvided) return;
    const problem = pairProblem(pair.certPem, pair.keyPem) ?? validityProblem(pair.certPem);
    if (problem) {
      // Often a renewal half done (the certificate written, the key not yet): keep serving the old pair, try again.
      const message = `new RSYNCHUB_TLS_CERT / RSYNCHUB_TLS_KEY not loaded (${problem}); still serving the previous certificate`;
      if (this.lastError !== message) this.log.warn(message);
      this.lastError = message;
      return;
    }
    this.lastProvided = pair.certPem + pair.keyPem;
    this.lastError = null;
    const leaf = describeCertificate(pair.certPem);
    this.log.log(`reloaded the TLS certificate (${leaf.subject}, ${leaf.fingerprint256}, valid until ${leaf.notAfter.toISOString()})`);
    this.serve({ ...pair, source: 'provided', leaf, caPem: null, ca: null });
  }

  private async ensurePrivateCa(): Promise<void> {
    const files = tlsDir(this.dataDir);
    const ca = await loadOrCreateCa(this.dataDir, (m) => this.log.log(m));
    const names = serverNames(this.publicHost, os.hostname(), os.networkInterfaces());
    let server = readPair(files.serverCert, files.serverKey);
    let why: string | null = server ? null : 'none yet';
    if (server) {
      const problem = pairProblem(server.certPem, server.keyPem);
      const signedByCa = !problem && new crypto.X509Certificate(server.certPem).checkIssued(new crypto.X509Certificate(ca.certPem));
      why = problem ?? (signedByCa ? reissueReason(describeCertificate(server.certPem), names) : 'issued by another CA');
    }
    if (why !== null || !server) {
      server = await issueServerCertificate({ ca, names });
      writeFilesAtomically([
        { file: files.serverKey, content: server.keyPem },
        { file: files.serverCert, content: server.certPem },
      ]);
      this.log.log(`issued the server certificate (${why}) for ${names.join(', ')}`);
    }
    const leaf = describeCertificate(server.certPem);
    if (this.served && this.served.leaf.fingerprint256 === leaf.fingerprint256) return;
    this.lastError = null;
    this.serve({ certPem: server.certPem, keyPem: server.keyPem, source: 'private-ca', leaf, caPem: ca.certPem, ca: describeCertificate(ca.certPem) });
  }

  private serve(served: ServedCertificate): void {
    this.served = served;
    for (const listener of this.listeners) {
      try {
        listener(served);
      } catch (err) {
        this.log.error(`certificate listener failed: ${(err as Error).message}`);
      }
    }
  }
}
