/**
 * One agent per state dir. The lock is a Linux abstract unix socket named after the state dir's real path: binding it
 * is atomic, and the kernel frees it when its process ends in any way (kill -9, crash, a zombie not yet reaped), so
 * nothing stale can block a start. A pid in `agent.pid` cannot do that: after a reboot the pid may belong to another
 * process, and a killed agent's pid answers kill(pid, 0) until its parent reaps it.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';

/** Locks this process holds (an in-process restart of the same state dir, as tests do, keeps the lock it has). */
const held = new Map<string, { server: net.Server; users: number }>();

export function instanceLockName(stateDir: string): string {
  const real = fs.realpathSync(stateDir);
  return `\0rsynchub-agent-${crypto.createHash('sha256').update(real).digest('hex').slice(0, 40)}`;
}

/** Takes the state dir's lock; resolves to false when another process holds it. */
export async function acquireInstanceLock(stateDir: string): Promise<boolean> {
  const name = instanceLockName(stateDir);
  const mine = held.get(name);
  if (mine) {
    mine.users++;
    return true;
  }
  const server = net.createServer((sock) => sock.destroy());
  const ok = await new Promise<boolean>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) => (e.code === 'EADDRINUSE' ? resolve(false) : reject(e)));
    server.listen({ path: name }, () => resolve(true));
  });
  if (!ok) return false;
  server.unref(); // the lock never keeps the process alive
  held.set(name, { server, users: 1 });
  return true;
}

export function releaseInstanceLock(stateDir: string): void {
  let name: string;
  try {
    name = instanceLockName(stateDir);
  } catch {
    return;
  }
  const mine = held.get(name);
  if (!mine || --mine.users > 0) return;
  held.delete(name);
  mine.server.close();
}
