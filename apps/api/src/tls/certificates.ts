/**
 * The private CA and the server certificate it issues, made with @peculiar/x509 on Node's WebCrypto (no openssl
 * child process, no temp files). ECDSA P-256: supported by every TLS client that matters (openssl s_client, which
 * rsync-ssl runs, Node, stunnel) and cheap to generate at start-up. Reading certificates uses Node's own X509Certificate.
 */
// @peculiar/x509 resolves its parts through tsyringe, which needs the Reflect metadata API loaded first.
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import * as crypto from 'node:crypto';
import * as net from 'node:net';
import type { NetworkInterfaceInfo } from 'node:os';

type CryptoKey = crypto.webcrypto.CryptoKey;
type CryptoKeyPair = crypto.webcrypto.CryptoKeyPair;

x509.cryptoProvider.set(crypto.webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

const KEY_ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const SIGNING_ALGORITHM = { name: 'ECDSA', hash: 'SHA-256' } as const;
const DAY_MS = 86_400_000;

export interface PemPair {
  certPem: string;
  keyPem: string;
}

export interface CertificateInfo {
  subject: string;
  issuer: string;
  notBefore: Date;
  notAfter: Date;
  /** DNS names and IP addresses the certificate is valid for (subjectAltName). */
  dnsNames: string[];
  ipAddresses: string[];
  /** `AB:CD:...` as `openssl x509 -fingerprint -sha256` prints it (and Node's `fingerprint256`). */
  fingerprint256: string;
  isCa: boolean;
}

function serial(): string {
  // Positive 16-byte serial: the high bit cleared so DER does not read it as negative.
  const bytes = crypto.randomBytes(16);
  bytes[0] = bytes[0]! & 0x7f;
  return bytes.toString('hex');
}

async function newKeys(): Promise<CryptoKeyPair> {
  return (await crypto.webcrypto.subtle.generateKey(KEY_ALGORITHM, true, ['sign', 'verify'])) as CryptoKeyPair;
}

function keyPem(key: CryptoKey): string {
  return crypto.KeyObject.from(key).export({ type: 'pkcs8', format: 'pem' }).toString();
}

async function importSigningKey(pem: string): Promise<CryptoKey> {
  const der = crypto.createPrivateKey(pem).export({ type: 'pkcs8', format: 'der' });
  return crypto.webcrypto.subtle.importKey('pkcs8', der, KEY_ALGORITHM, false, ['sign']);
}

/** Which names go into a subjectAltName entry of which kind. Host names are lower-cased, duplicates dropped. */
export function splitNames(names: string[]): { dns: string[]; ip: string[] } {
  const dns = new Set<string>();
  const ip = new Set<string>();
  for (const raw of names) {
    const name = raw.trim().replace(/\.$/, '');
    if (name === '') continue;
    if (net.isIP(name) !== 0) ip.add(name.toLowerCase());
    else dns.add(name.toLowerCase());
  }
  return { dns: [...dns].sort(), ip: [...ip].sort() };
}

/**
 * The names a source may use to reach this server: the public host setting, this machine's host name, `localhost`
 * and every address of every interface (loopback included, so a same-machine source verifies too). Link-local IPv6
 * addresses carry a zone and are left out.
 */
export function serverNames(publicHost: string, hostname: string, interfaces: NodeJS.Dict<NetworkInterfaceInfo[]>): string[] {
  const addresses = Object.values(interfaces)
    .flatMap((list) => list ?? [])
    .map((i) => i.address)
    .filter((a) => !a.toLowerCase().startsWith('fe80:'));
  const { dns, ip } = splitNames([publicHost, hostname, 'localhost', ...addresses]);
  return [...dns, ...ip];
}

export async function createCa(opts: { commonName: string; now?: Date; validDays?: number }): Promise<PemPair> {
  const now = opts.now ?? new Date();
  const keys = await newKeys();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: [{ CN: [opts.commonName] }, { O: ['RsyncHub'] }],
    notBefore: new Date(now.getTime() - 5 * 60_000),
    notAfter: new Date(now.getTime() + (opts.validDays ?? 3650) * DAY_MS),
    keys,
    signingAlgorithm: SIGNING_ALGORITHM,
    extensions: [
      // pathLenConstraint 0: this CA signs server certificates only, never another CA.
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { certPem: cert.toString('pem') + '\n', keyPem: keyPem(keys.privateKey) };
}

/**
 * A server certificate for `names` signed by the CA. `notBefore`/`notAfter` may be given outright (tests make
 * expired certificates this way); otherwise it is valid from 5 minutes ago (clock skew) for `validDays`.
 */
export async function issueServerCertificate(opts: {
  ca: PemPair;
  names: string[];
  now?: Date;
  validDays?: number;
  notBefore?: Date;
  notAfter?: Date;
}): Promise<PemPair> {
  const { dns, ip } = splitNames(opts.names);
  if (dns.length + ip.length === 0) throw new Error('a server certificate needs at least one name');
  const now = opts.now ?? new Date();
  const caCert = new x509.X509Certificate(opts.ca.certPem);
  const keys = await newKeys();
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: [{ CN: [dns[0] ?? ip[0]!] }, { O: ['RsyncHub'] }],
    issuer: caCert.subject,
    notBefore: opts.notBefore ?? new Date(now.getTime() - 5 * 60_000),
    notAfter: opts.notAfter ?? new Date(now.getTime() + (opts.validDays ?? 825) * DAY_MS),
    publicKey: keys.publicKey,
    signingKey: await importSigningKey(opts.ca.keyPem),
    signingAlgorithm: SIGNING_ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth], false),
      // Each address twice: as an IP entry (what RFC 6125 clients such as Node check) and as a DNS entry, because
      // rsync-ssl runs `openssl s_client -verify_hostname HOST`, which compares an address given as HOST with the DNS
      // entries only; without it `rsync-ssl user@192.0.2.7::module` would fail verification.
      new x509.SubjectAlternativeNameExtension(
        [...dns.map((value) => ({ type: 'dns' as const, value })), ...ip.map((value) => ({ type: 'ip' as const, value })), ...ip.map((value) => ({ type: 'dns' as const, value }))],
        false,
      ),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(caCert.publicKey),
    ],
  });
  return { certPem: cert.toString('pem') + '\n', keyPem: keyPem(keys.privateKey) };
}

/** The first certificate of a PEM file (a full chain starts with the leaf). */
export function describeCertificate(pem: string): CertificateInfo {
  const cert = new crypto.X509Certificate(pem);
  const dnsNames: string[] = [];
  const ipAddresses: string[] = [];
  for (const entry of (cert.subjectAltName ?? '').split(/,\s*/)) {
    // Addresses also written as DNS entries (see issueServerCertificate) are listed once, as addresses.
    if (entry.startsWith('DNS:')) {
      if (net.isIP(entry.slice(4)) === 0) dnsNames.push(entry.slice(4));
    }
    else if (entry.startsWith('IP Address:')) ipAddresses.push(compactIp(entry.slice(11)));
  }
  return {
    subject: cert.subject.replace(/\n/g, ', '),
    issuer: cert.issuer.replace(/\n/g, ', '),
    notBefore: new Date(cert.validFrom),
    notAfter: new Date(cert.validTo),
    dnsNames,
    ipAddresses,
    fingerprint256: cert.fingerprint256,
    isCa: cert.ca,
  };
}

/** Why the server certificate must be issued anew, or null: a wanted name is missing, or it expires within 30 days. */
export function reissueReason(cert: CertificateInfo, wantedNames: string[], now: Date = new Date()): string | null {
  const { dns, ip } = splitNames(wantedNames);
  const have = cert.ipAddresses.map(normaliseIp);
  const missing = [...dns.filter((n) => !cert.dnsNames.includes(n)), ...ip.filter((a) => !have.includes(normaliseIp(a)))];
  if (missing.length > 0) return `names added: ${missing.join(', ')}`;
  if (cert.notAfter.getTime() - now.getTime() < 30 * DAY_MS) return `expires ${cert.notAfter.toISOString()}`;
  return null;
}

/** Node prints IPv6 SANs expanded without zero padding (`0:0:0:0:0:0:0:1`); compare in that form. */
export function normaliseIp(address: string): string {
  if (!net.isIPv6(address) || address.includes('.')) return address.toLowerCase();
  const [head, tail] = address.toLowerCase().split('::') as [string, string | undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  return groups.map((g) => parseInt(g, 16).toString(16)).join(':');
}

/** The usual short spelling of an address (`0:0:0:0:0:0:0:1` -> `::1`), as the WHATWG URL parser writes it. */
export function compactIp(address: string): string {
  return net.isIPv6(address) ? new URL(`http://[${address}]/`).hostname.slice(1, -1) : address;
}

/** `sha256:ab12...` (lower-case hex, no colons) from the `AB:12:...` form. */
export function compactFingerprint(fingerprint256: string): string {
  return `sha256:${fingerprint256.replace(/:/g, '').toLowerCase()}`;
}
