/**
 * Review finding F1 (issue 11): no local process may reach an rsync daemon that trusts a PROXY line. The TLS listener
 * spawns one inetd-mode `rsync --daemon` per connection on a private, already-connected loopback pair; nothing
 * listens for it. Proven from the outside: the server's process tree (read from /proc) listens on nothing but its
 * HTTP port, the plain rsync port and the TLS port, and a forged PROXY line sent to any of them gets nowhere. A
 * server killed with SIGKILL mid-push leaves no per-connection rsync serving.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { makeTree, treeDigest } from './support/rsync';
import { RunningServer, startServer, waitFor } from './support/server';

const USER = 'inetdpusher';
const PASSWORD = crypto.randomBytes(12).toString('hex');
const FORGED = '192.0.2.77';

/** pid and every descendant of it (by the parent pid in /proc/<pid>/stat). */
function processTree(root: number): number[] {
  const parentOf = new Map<number, number>();
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so split after the last ')'.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      parentOf.set(Number(entry), ppid);
    } catch {
      /* exited meanwhile */
    }
  }
  const tree = new Set([root]);
  let grew = true;
  while (grew) {
    grew = false;
    for (const [pid, ppid] of parentOf) {
      if (!tree.has(pid) && tree.has(ppid)) {
        tree.add(pid);
        grew = true;
      }
    }
  }
  return [...tree];
}

function commandOf(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
  } catch {
    return '';
  }
}

function socketInodes(pid: number): Set<string> {
  const inodes = new Set<string>();
  let fds: string[] = [];
  try {
    fds = fs.readdirSync(`/proc/${pid}/fd`);
  } catch {
    return inodes;
  }
  for (const fd of fds) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(fs.readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) inodes.add(m[1]!);
    } catch {
      /* closed meanwhile */
    }
  }
  return inodes;
}

/** TCP sockets in LISTEN state (0A) by inode, from /proc/net/tcp and tcp6. */
function listeningPortsByInode(): Map<string, number> {
  const byInode = new Map<string, number>();
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10 || f[3] !== '0A') continue;
      byInode.set(f[9]!, parseInt(f[1]!.split(':')[1]!, 16));
    }
  }
  return byInode;
}

/** Every TCP port a process of the server's tree listens on, with the command that holds it. */
function listeningPortsOf(serverPid: number): { port: number; pid: number; command: string }[] {
  const listening = listeningPortsByInode();
  const found: { port: number; pid: number; command: string }[] = [];
  for (const pid of processTree(serverPid)) {
    for (const inode of socketInodes(pid)) {
      const port = listening.get(inode);
      if (port !== undefined) found.push({ port, pid, command: commandOf(pid) });
    }
  }
  return found;
}

/**
 * What an rsync daemon at `port` answers to a forged PROXY line naming FORGED, then a request for `module`. Only a
 * daemon that trusts the line and admits FORGED answers `@RSYNCD: OK` (anonymous module) or `AUTHREQD`.
 */
function forge(port: number, module: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    let answer = '';
    const done = () => {
      socket.destroy();
      resolve(answer);
    };
    socket.setTimeout(5_000, done);
    socket.on('connect', () => socket.write(`PROXY TCP4 ${FORGED} 127.0.0.1 40000 8874\r\n@RSYNCD: 32.0 md5\n${module}\n`));
    socket.on('data', (d: Buffer) => {
      answer += d.toString('latin1');
      if (/@RSYNCD: (OK|AUTHREQD|EXIT)|@ERROR/.test(answer)) done();
    });
    socket.on('error', done);
    socket.on('close', done);
  });
}

describe('rsync over TLS: no daemon that trusts a PROXY line is reachable (F1)', () => {
  let server: RunningServer;

  before(async () => {
    server = await startServer();
    assert.equal((await server.admin.post('/api/v1/rsync-users', { name: USER, password: PASSWORD })).status, 201);
    for (const body of [
      // The reviewer's targets: readable without a password from a forged address, and open to it only.
      { name: 'anonsecret', tlsOnly: true, anonymous: 'read', hostsAllow: ['192.0.2.0/24'] },
      { name: 'pushed', users: [{ name: USER, access: 'rw' }] },
    ]) {
      const res = await server.admin.post('/api/v1/modules', { path: path.join(server.storageRoot, body.name), ...body });
      assert.equal(res.status, 201, res.text);
    }
    fs.writeFileSync(path.join(server.storageRoot, 'anonsecret', 'secret.txt'), 'only over TLS, only for 192.0.2.0/24\n');
    await waitFor('the TLS listener', async () => (await server.admin.get('/api/v1/tls')).body.listening);
  });

  after(async () => {
    await server?.stop();
  });

  test('the server and its rsync processes listen on the HTTP, plain rsync and TLS ports only', async () => {
    const ports = listeningPortsOf(server.process.pid!);
    const rsyncPorts = ports.filter((p) => /(^|\/)rsync --daemon/.test(p.command)).map((p) => p.port);
    assert.deepEqual([...new Set(rsyncPorts)], [server.rsyncPort], `rsync listens only on the plain port: ${JSON.stringify(ports)}`);
    // The TLS port belongs to the TLS front: the native one (rsynchub-tls-front) or the server itself (Node front).
    const front = (await server.admin.get('/api/v1/tls')).body.front.kind;
    const tlsOwners = [...new Set(ports.filter((p) => p.port === server.rsyncTlsPort).map((p) => p.pid))];
    assert.equal(tlsOwners.length, 1, JSON.stringify(ports));
    if (front === 'native') assert.match(commandOf(tlsOwners[0]!), /rsynchub-tls-front /);
    else assert.equal(tlsOwners[0], server.process.pid);
    const allowed = new Set([server.httpPort, server.rsyncPort, server.rsyncTlsPort]);
    const unexpected = ports.filter((p) => !allowed.has(p.port));
    assert.deepEqual(unexpected, [], 'nothing else of the server listens');
  });

  test('a forged PROXY line sent to any port of the server gets no module (the plain daemon does not read it)', async () => {
    const ports = [...new Set(listeningPortsOf(server.process.pid!).map((p) => p.port))].filter((p) => p !== server.httpPort);
    assert.ok(ports.includes(server.rsyncPort));
    for (const port of ports) {
      // The TLS port expects a handshake: it takes the bytes for a bad ClientHello and hangs up.
      const answer = await forge(port, 'anonsecret');
      assert.doesNotMatch(answer, /@RSYNCD: (OK|AUTHREQD)/, `port ${port} admitted the forged address: ${answer}`);
    }
    const sessions = (await server.admin.get('/api/v1/transfers?limit=100&module=anonsecret')).body.items;
    assert.deepEqual(sessions.filter((s: any) => s.clientIp === FORGED), [], 'no session under the forged address');
  });

  test('a PROXY line sent inside TLS is not taken as a second header, and garbage gets the connection closed', async () => {
    const ca = (await server.admin.get('/api/v1/tls/ca.pem')).text;
    const overTls = (payload: string) =>
      new Promise<string>((resolve) => {
        let answer = '';
        const s = require('node:tls').connect({ host: '127.0.0.1', port: server.rsyncTlsPort, servername: 'localhost', ca }, () => s.write(payload));
        const done = () => {
          s.destroy();
          resolve(answer);
        };
        s.setTimeout(10_000, done);
        s.on('data', (d: Buffer) => (answer += d.toString('latin1')));
        s.on('error', done);
        s.on('end', done);
        s.on('close', done);
      });
    const forged = await overTls(`PROXY TCP4 ${FORGED} 127.0.0.1 40000 8874\r\n@RSYNCD: 32.0 md5\nanonsecret\n`);
    assert.doesNotMatch(forged, /@RSYNCD: OK/, forged);
    // The per-connection daemon reads garbage as a bad greeting, says so and hangs up (no hang, no crash).
    const garbage = await overTls('\x00\xff garbage \r\n'.repeat(100));
    assert.doesNotMatch(garbage, /@RSYNCD: OK/);
    assert.equal((await server.admin.get('/api/v1/health')).status, 200);
  });

  test('a server killed with SIGKILL mid-push leaves no per-connection rsync serving', async () => {
    const caFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'rh-inetd-')), 'ca.pem');
    fs.writeFileSync(caFile, (await server.admin.get('/api/v1/tls/ca.pem')).text);
    const src = makeTree(1);
    fs.writeFileSync(path.join(src, 'big.bin'), crypto.randomBytes(8 * 1024 * 1024));
    // Slow enough (256 KB/s) to be caught in the middle.
    const client = spawn('rsync-ssl', ['-a', '--bwlimit=256', `${src}/`, `${USER}@localhost::pushed`], {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', RSYNC_PASSWORD: PASSWORD, RSYNC_SSL_CA_CERT: caFile, RSYNC_SSL_PORT: String(server.rsyncTlsPort) },
      stdio: 'ignore',
    });
    const clientExited = new Promise<void>((r) => client.once('exit', () => r()));
    try {
      const serving = await waitFor('the per-connection rsync to receive', async () => {
        const pids = processTree(server.process.pid!).filter((pid) => pid !== server.process.pid && /rsync/.test(commandOf(pid)) && !commandOf(pid).includes(`--port=${server.rsyncPort}`));
        const tmp = fs.readdirSync(path.join(server.storageRoot, 'pushed'), { recursive: true }).some((f) => String(f).includes('big.bin'));
        return pids.length > 0 && tmp ? pids : null;
      }, 30_000);
      await server.kill();
      await waitFor('every per-connection rsync to exit', async () => serving.every((pid) => !fs.existsSync(`/proc/${pid}`) || /^\S+ \S+ Z/.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/\(.*\)/, 'x'))), 20_000);
    } finally {
      client.kill('SIGKILL');
      await clientExited;
      // SIGKILL leaves the plain daemon behind by design (the next start stops it); this test has no next start.
      try {
        process.kill(-Number(fs.readFileSync(path.join(server.dataDir, 'rsyncd.pid'), 'utf8').trim()), 'SIGKILL');
      } catch {
        /* not running */
      }
    }
    assert.notDeepEqual(treeDigest(path.join(server.storageRoot, 'pushed')), treeDigest(src), 'the push was cut, not finished');
  });
});
