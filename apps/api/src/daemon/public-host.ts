import * as net from 'node:net';
import type { NetworkInterfaceInfo } from 'node:os';

const HOSTNAME = /^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/;

/**
 * Why `value` cannot be the host sources connect to, or null when it can: empty (automatic), a DNS name or an IP
 * literal. No scheme, port, path, user or spaces: snippets add those themselves, and the value lands in shell lines.
 */
export function publicHostProblem(value: string): string | null {
  if (value === '') return null;
  if (value !== value.trim()) return 'must not start or end with spaces';
  if (net.isIP(value) !== 0) return null;
  if (/^[a-z]+:\/\//i.test(value)) return 'must be a host name or IP address, without a scheme such as https://';
  if (/[:/@\s]/.test(value)) return 'must be a host name or IP address, without port, path, user or spaces';
  if (!HOSTNAME.test(value)) return 'must be a valid host name (letters, digits, hyphens and dots) or an IP address';
  return null;
}

/**
 * The address a source most likely reaches this server on when no publicHost is set: the first non-internal IPv4
 * address, else the first non-internal, non-link-local IPv6 one, else null. Never a loopback address: a snippet
 * saying `localhost` would push into the source machine itself.
 */
export function firstNonLoopbackAddress(interfaces: NodeJS.Dict<NetworkInterfaceInfo[]>): string | null {
  const all = Object.values(interfaces).flatMap((list) => list ?? []).filter((i) => !i.internal);
  const v4 = all.find((i) => i.family === 'IPv4' && !i.address.startsWith('127.'));
  if (v4) return v4.address;
  const v6 = all.find((i) => i.family === 'IPv6' && i.address !== '::1' && !i.address.toLowerCase().startsWith('fe80:'));
  return v6?.address ?? null;
}
