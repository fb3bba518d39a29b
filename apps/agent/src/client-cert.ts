/**
 * A remote's client certificate (`clientCert` / `clientKey`, issued by the console per source; a module may require
 * one): the checks at start. Edge (reads the files): a mistake here must stop the agent with the fix named, not show up
 * later as a TLS failure on every push.
 */
import { createPrivateKey, type KeyObject, X509Certificate } from 'node:crypto';
import * as fs from 'node:fs';

/** No certificate or key file is anywhere near this large; a bigger one is the wrong file (and is not read whole). */
export const MAX_PEM_BYTES = 1024 * 1024;

/** Where certificates are issued (named in every message about one). */
export const CLIENT_CERT_SOURCE = `the console's Encryption page ("Client certificates")`;

type Read = { text: string } | { problem: string };

/** The text of a PEM file, or why it cannot be used. `what` names the setting (`clientCert /etc/x.crt`). */
function readPem(file: string, what: string): Read {
  let st: fs.Stats;
  try {
    st = fs.statSync(file); // follows a link: what counts is the file OpenSSL will open
  } catch (e) {
    return { problem: `${what} cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})` };
  }
  if (st.isDirectory()) return { problem: `${what} is a directory; give the PEM file itself` };
  if (!st.isFile()) return { problem: `${what} is not a regular file` };
  if (st.size > MAX_PEM_BYTES) return { problem: `${what} is ${st.size} bytes; a PEM certificate or key is a few KiB (is it the right file?)` };
  try {
    return { text: fs.readFileSync(file, 'latin1') };
  } catch (e) {
    return { problem: `${what} cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})` };
  }
}

/** The mode problem of a client key file (what rsync asks of a password file, and ssh of a key), or null. */
export function clientKeyModeProblem(file: string, mode: number): string | null {
  if ((mode & 0o077) === 0) return null;
  return `clientKey ${file} has mode ${(mode & 0o777).toString(8).padStart(4, '0')}; a private key must not be readable by group or others (chmod 600 ${file})`;
}

/**
 * Why a remote's client certificate and key cannot be used, or []: both regular files under 1 MiB, the key not
 * readable by group or others, the certificate a PEM certificate, the key an unencrypted PEM private key, and the key
 * the certificate's own.
 */
export function clientCertProblems(certFile: string, keyFile: string): string[] {
  const problems: string[] = [];
  const cert = readPem(certFile, `clientCert ${certFile}`);
  const key = readPem(keyFile, `clientKey ${keyFile}`);
  if ('problem' in cert) problems.push(cert.problem);
  if ('problem' in key) problems.push(key.problem);
  else {
    const p = clientKeyModeProblem(keyFile, fs.statSync(keyFile).mode);
    if (p) problems.push(p);
  }
  if ('problem' in cert || 'problem' in key) return problems;

  const certBlock = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(cert.text);
  const keyIsCert = /-----BEGIN CERTIFICATE-----/.test(key.text) && !/PRIVATE KEY-----/.test(key.text);
  if (!certBlock && /PRIVATE KEY-----/.test(cert.text) && keyIsCert) {
    problems.push(`clientCert ${certFile} holds a private key and clientKey ${keyFile} a certificate: the two are swapped`);
    return problems;
  }
  let x509: X509Certificate | undefined;
  try {
    if (!certBlock) throw new Error(/PRIVATE KEY-----/.test(cert.text) ? 'it holds a private key, not a certificate' : 'no "BEGIN CERTIFICATE" block');
    x509 = new X509Certificate(certBlock[0]);
  } catch (e) {
    problems.push(`clientCert ${certFile} holds no PEM certificate (${(e as Error).message}): use the certificate ${CLIENT_CERT_SOURCE} issued`);
  }
  let pkey: KeyObject | undefined;
  if (keyIsCert) {
    problems.push(`clientKey ${keyFile} holds a certificate, not a private key: give the key the certificate request was made with`);
  } else if (/ENCRYPTED/.test(key.text)) {
    // The agent runs unattended: nobody is there to type a passphrase (and rsync's connector could not ask for one).
    problems.push(`clientKey ${keyFile} is encrypted with a passphrase; the agent needs it unencrypted: openssl pkey -in ${keyFile} -out NEW.key, then chmod 600 NEW.key and use it`);
  } else {
    try {
      if (!/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(key.text)) throw new Error('no "BEGIN PRIVATE KEY" block');
      pkey = createPrivateKey({ key: key.text, format: 'pem' });
    } catch (e) {
      problems.push(`clientKey ${keyFile} holds no PEM private key (${(e as Error).message.split('\n')[0]})`);
    }
  }
  if (x509 && pkey && !x509.checkPrivateKey(pkey)) {
    problems.push(`clientKey ${keyFile} is not the private key of clientCert ${certFile} (they do not belong together): use the key the certificate request was made with, or issue a new certificate on ${CLIENT_CERT_SOURCE}`);
  }
  return problems;
}
