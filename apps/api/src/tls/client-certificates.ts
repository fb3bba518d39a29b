/**
 * Client certificates issued by the private CA (issue 11, optional item): one per source, presented by rsync-ssl
 * (RSYNC_SSL_CERT / RSYNC_SSL_KEY) or the agent, required by modules with `tlsClientCert`. Pure functions over PEM
 * text (plus WebCrypto for signing): the request checks, the CSR check and the issuing. The service keeps the rows
 * and the file of allowed fingerprints the TLS fronts read.
 */
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import * as crypto from 'node:crypto';
import type { FieldError } from '@rsynchub/contracts';
import type { PemPair } from './certificates';
import { compactFingerprint } from './certificates';

const DAY_MS = 86_400_000;
export const DEFAULT_CLIENT_CERT_DAYS = 825;
export const MAX_CLIENT_CERT_DAYS = 3650;
/** A PKCS#10 request for one EC or RSA-4096 key is well under 8 KB; anything far bigger is not one. */
export const MAX_CSR_CHARS = 16_384;
/** Letters, digits, `.`, `_`, `-`: safe as a certificate CN, a file name on the source and a log word. */
const NAME = /^[A-Za-z0-9._-]{1,64}$/;

export interface ClientCertRequest {
  name: string;
  csr?: string;
  days?: number;
}

/** What is wrong with the request's fields, before anything is parsed or signed (the CSR itself: checkCsr). */
export function clientCertRequestIssues(body: unknown): FieldError[] {
  const issues: FieldError[] = [];
  const b = (body ?? {}) as Record<string, unknown>;
  if (typeof b.name !== 'string') issues.push({ field: 'name', message: 'is required: 1-64 characters, letters, digits, ".", "_" or "-"' });
  else if (!NAME.test(b.name)) issues.push({ field: 'name', message: 'must be 1-64 characters, letters, digits, ".", "_" or "-" (no spaces, newlines or other characters)' });
  else if (b.name === '.' || b.name === '..') issues.push({ field: 'name', message: 'must not be "." or ".."' });
  if (b.csr !== undefined && b.csr !== null) {
    if (typeof b.csr !== 'string') issues.push({ field: 'csr', message: 'must be a PEM certificate request (text)' });
    else if (b.csr.length > MAX_CSR_CHARS) issues.push({ field: 'csr', message: `is longer than ${MAX_CSR_CHARS} characters: not a certificate request for an EC or RSA key` });
  }
  if (b.days !== undefined && b.days !== null) {
    if (typeof b.days !== 'number' || !Number.isInteger(b.days) || b.days < 1 || b.days > MAX_CLIENT_CERT_DAYS) {
      issues.push({ field: 'days', message: `must be a whole number of days from 1 to ${MAX_CLIENT_CERT_DAYS}` });
    }
  }
  for (const key of Object.keys(b)) {
    if (!['name', 'csr', 'days'].includes(key)) issues.push({ field: key, message: 'is not a field of a client certificate request (name, csr, days)' });
  }
  return issues;
}

/**
 * The public key of a PEM PKCS#10 request whose signature verifies (the source holds the private key), or why not.
 * Only the key is taken: the request's subject and extensions are ignored (the certificate names `name` and says
 * clientAuth, whatever was asked). Keys: EC P-256 / P-384, or RSA 2048-4096 bits: what OpenSSL's and Node's TLS
 * clients sign with; huge RSA keys (slow handshakes for the front) and odd curves are refused.
 */
export async function checkCsr(pem: string): Promise<{ ok: true; publicKey: x509.PublicKey } | { ok: false; message: string }> {
  const text = pem.trim();
  if (!/^-----BEGIN (NEW )?CERTIFICATE REQUEST-----\r?\n[A-Za-z0-9+/=\r\n]+-----END (NEW )?CERTIFICATE REQUEST-----$/.test(text)) {
    return { ok: false, message: 'must be one PEM certificate request (-----BEGIN CERTIFICATE REQUEST----- ... -----END CERTIFICATE REQUEST-----)' };
  }
  let csr: x509.Pkcs10CertificateRequest;
  try {
    csr = new x509.Pkcs10CertificateRequest(text.replace(/NEW CERTIFICATE REQUEST/g, 'CERTIFICATE REQUEST'));
  } catch (err) {
    return { ok: false, message: `cannot be read as a PKCS#10 certificate request (${(err as Error).message})` };
  }
  let key: crypto.KeyObject;
  try {
    key = crypto.createPublicKey({ key: Buffer.from(csr.publicKey.rawData), format: 'der', type: 'spki' });
  } catch (err) {
    return { ok: false, message: `has a public key that cannot be read (${(err as Error).message})` };
  }
  const details = key.asymmetricKeyDetails ?? {};
  if (key.asymmetricKeyType === 'ec') {
    if (details.namedCurve !== 'prime256v1' && details.namedCurve !== 'secp384r1') {
      return { ok: false, message: `has an EC key on curve ${details.namedCurve ?? 'unknown'}: use P-256 or P-384` };
    }
  } else if (key.asymmetricKeyType === 'rsa') {
    const bits = details.modulusLength ?? 0;
    if (bits < 2048 || bits > 4096) return { ok: false, message: `has a ${bits}-bit RSA key: use 2048 to 4096 bits (or EC P-256)` };
  } else {
    return { ok: false, message: `has a ${key.asymmetricKeyType ?? 'unknown'} key: use EC P-256/P-384 or RSA 2048-4096` };
  }
  let verified = false;
  try {
    verified = await csr.verify();
  } catch (err) {
    return { ok: false, message: `has a signature that cannot be checked (${(err as Error).message})` };
  }
  if (!verified) return { ok: false, message: 'has a signature that does not verify (the request was altered, or not signed with its own key)' };
  return { ok: true, publicKey: csr.publicKey };
}

function serial(): string {
  const bytes = crypto.randomBytes(16);
  bytes[0] = bytes[0]! & 0x7f;
  return bytes.toString('hex');
}

export interface IssuedClientCert {
  certificate: string;
  /** Only when the server made the key pair (no CSR). */
  privateKey?: string;
  fingerprint: string;
  serial: string;
  notBefore: Date;
  notAfter: Date;
}

/**
 * A client certificate signed by the CA: CN = `name`, EKU clientAuth only (a server certificate or this one cannot
 * stand in for the other), the given public key or a fresh ECDSA P-256 pair. `notBefore`/`notAfter` may be given
 * outright (tests make expired certificates this way); else valid from 5 minutes ago (clock skew) for `days`.
 */
export async function issueClientCertificate(opts: {
  ca: PemPair;
  name: string;
  publicKey?: x509.PublicKey;
  days?: number;
  now?: Date;
  notBefore?: Date;
  notAfter?: Date;
}): Promise<IssuedClientCert> {
  const now = opts.now ?? new Date();
  const caCert = new x509.X509Certificate(opts.ca.certPem);
  let privateKey: string | undefined;
  let publicKey: x509.PublicKey | crypto.webcrypto.CryptoKey;
  if (opts.publicKey) publicKey = opts.publicKey;
  else {
    const keys = (await crypto.webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify'])) as crypto.webcrypto.CryptoKeyPair;
    publicKey = keys.publicKey;
    privateKey = crypto.KeyObject.from(keys.privateKey).export({ type: 'pkcs8', format: 'pem' }).toString();
  }
  const caKeyDer = crypto.createPrivateKey(opts.ca.keyPem).export({ type: 'pkcs8', format: 'der' });
  const signingKey = await crypto.webcrypto.subtle.importKey('pkcs8', caKeyDer, { name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign']);
  const notBefore = opts.notBefore ?? new Date(now.getTime() - 5 * 60_000);
  const notAfter = opts.notAfter ?? new Date(now.getTime() + (opts.days ?? DEFAULT_CLIENT_CERT_DAYS) * DAY_MS);
  const serialNumber = serial();
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber,
    subject: [{ CN: [opts.name] }, { O: ['RsyncHub'] }],
    issuer: caCert.subject,
    notBefore,
    notAfter,
    publicKey,
    signingKey,
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth], false),
      await x509.SubjectKeyIdentifierExtension.create(publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(caCert.publicKey),
    ],
  });
  const certificate = cert.toString('pem') + '\n';
  const node = new crypto.X509Certificate(certificate);
  return {
    certificate,
    privateKey,
    fingerprint: compactFingerprint(node.fingerprint256),
    serial: node.serialNumber.toLowerCase(),
    notBefore: new Date(node.validFrom),
    notAfter: new Date(node.validTo),
  };
}

/**
 * The file of allowed client certificates the TLS fronts read per connection: one lower-case SHA-256 hex digest
 * (of the DER) per line, sorted. An empty file (no certificate issued, or all revoked) lets none through.
 */
export function allowedFingerprintsText(fingerprints: string[]): string {
  const hex = fingerprints.map((f) => f.replace(/^sha256:/, '').toLowerCase()).filter((f) => /^[0-9a-f]{64}$/.test(f));
  return [...new Set(hex)].sort().map((f) => `${f}\n`).join('');
}
