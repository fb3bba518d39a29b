import * as fs from 'node:fs';

/**
 * Whether a process listens on a TCP port, read from /proc instead of connecting. Why: every connection to the rsync
 * daemon is a daemon session — a readiness probe that connects and hangs up races the daemon's greeting, and rsync
 * then logs "error in rsync protocol data stream (code 12)" for a client without a module, which ingestion records
 * as a failed transfer from 127.0.0.1 after every daemon start (seen on 3 of 9 starts under load).
 */

/** The inodes of the sockets in LISTEN state on `port`, from the text of /proc/net/tcp or /proc/net/tcp6. */
export function listeningInodes(procNetTcp: string, port: number): string[] {
  const inodes: string[] = [];
  for (const line of procNetTcp.split('\n').slice(1)) {
    // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode ...
    const f = line.trim().split(/\s+/);
    if (f.length < 10) continue;
    const local = f[1]!;
    const hexPort = local.slice(local.lastIndexOf(':') + 1);
    if (f[3] === '0A' && parseInt(hexPort, 16) === port && /^[1-9]\d*$/.test(f[9]!)) inodes.push(f[9]!);
  }
  return inodes;
}

/**
 * True when process `pid` holds a socket listening on `port` (then the kernel completes connections to it);
 * false when it does not; null when /proc cannot tell (not Linux, or /proc hidden): the caller falls back.
 */
export function processListensOn(pid: number, port: number): boolean | null {
  let tables: string[];
  try {
    tables = ['tcp', 'tcp6'].map((t) => {
      try {
        return fs.readFileSync(`/proc/${pid}/net/${t}`, 'utf8');
      } catch (err) {
        // No IPv6 in this kernel: only tcp. A vanished process: nothing listens.
        if ((err as NodeJS.ErrnoException).code === 'ENOENT' && t === 'tcp6') return '';
        throw err;
      }
    });
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ENOENT' && fs.existsSync('/proc/self/net/tcp') ? false : null;
  }
  const wanted = new Set(tables.flatMap((t) => listeningInodes(t, port)).map((i) => `socket:[${i}]`));
  if (wanted.size === 0) return false;
  let fds: string[];
  try {
    fds = fs.readdirSync(`/proc/${pid}/fd`);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ENOENT' ? false : null;
  }
  for (const fd of fds) {
    try {
      if (wanted.has(fs.readlinkSync(`/proc/${pid}/fd/${fd}`))) return true;
    } catch {
      /* closed meanwhile */
    }
  }
  return false;
}
