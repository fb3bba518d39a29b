import * as net from 'node:net';

/** `::ffff:192.0.2.1` (an IPv4 client on a dual-stack socket) as the IPv4 address it is. */
export function unmapIpv4(address: string): string {
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return m ? m[1]! : address;
}

/**
 * The PROXY protocol v1 line (haproxy's spec, what rsync's `proxy protocol = yes` reads) that tells the daemon who
 * the client really is. Both ends must be of one family; a mixed pair (cannot happen on one socket) or an unknown
 * address becomes `PROXY UNKNOWN`, which rsync treats as "use the socket's own address" — never a made-up one.
 */
export function proxyV1Header(client: { address?: string; port?: number }, local: { address?: string; port?: number }): string {
  const src = unmapIpv4(client.address ?? '');
  const dst = unmapIpv4(local.address ?? '');
  const family = net.isIP(src);
  const validPort = (p: number | undefined) => Number.isInteger(p) && p! > 0 && p! <= 65535;
  if (family === 0 || net.isIP(dst) !== family || !validPort(client.port) || !validPort(local.port)) return 'PROXY UNKNOWN\r\n';
  return `PROXY ${family === 4 ? 'TCP4' : 'TCP6'} ${src} ${dst} ${client.port} ${local.port}\r\n`;
}
