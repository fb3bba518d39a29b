/**
 * Client certificates (issue 11, optional item), the pure half: status, the request command, downloads, the name rule.
 */
import type { TlsClientCertDto } from '@rsynchub/contracts';

export type ClientCertStatus = 'active' | 'revoked' | 'expired';

/** Revoked wins over expired: it was an admin's decision. */
export function clientCertStatus(c: Pick<TlsClientCertDto, 'revokedAt' | 'notAfter'>, now = Date.now()): ClientCertStatus {
  if (c.revokedAt) return 'revoked';
  return Date.parse(c.notAfter) <= now ? 'expired' : 'active';
}

/** The server's rule (CreateTlsClientCertRequest.name), as a quick hint before sending. */
export const CLIENT_CERT_NAME_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;

export function clientCertNameProblem(name: string): string | null {
  if (!name) return 'Required.';
  if (!CLIENT_CERT_NAME_PATTERN.test(name)) return 'Use 1-64 letters, digits, ".", "_" or "-".';
  return null;
}

/** The request a source makes so its key never leaves it (the CN is the certificate's name). */
export function csrCommand(name: string): string {
  const cn = CLIENT_CERT_NAME_PATTERN.test(name) ? name : 'web01';
  return `openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout client.key -subj /CN=${cn} -out client.csr`;
}

/** A `data:` URL that downloads the PEM text as a file (with the `download` attribute naming it). */
export function pemDownloadHref(pem: string): string {
  return `data:application/x-pem-file;charset=utf-8,${encodeURIComponent(pem)}`;
}

/** The file names offered for download: `<name>.crt`, `<name>.key` (the name rule keeps them plain). */
export function certFileName(name: string, kind: 'crt' | 'key'): string {
  const safe = name.replace(/[^A-Za-z0-9._-]/g, '_').replace(/^\.+/, '_') || 'client';
  return `${safe}.${kind}`;
}
