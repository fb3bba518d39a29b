import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tls from 'node:tls';
import { freePort, passwordFile, rsync, rsyncSsl, sleep, startServer, waitFor, type RsyncResult } from '@rsynchub/testing';
import { fmt, header, median } from './stats';

const STUNNEL_CANDIDATES = ['/usr/bin/stunnel4', '/usr/bin/stunnel', '/usr/local/bin/stunnel'];


function emptyDir(dir: string): void {
  for (const e of fs.readdirSync(dir)) fs.rmSync(path.join(dir, e), { recursive: true, force: true });
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
  });
}

/**
 * The client side's own ceiling: what rsync-ssl runs (openssl s_client, fed by a pipe as rsync feeds it) pushing
 * `mb` MB into a TLS sink that only counts bytes (this process). No rsync on either side: no push through rsync-ssl
 * can be faster than this, whatever the server does. Seconds from the client's start to the last byte received.
 */
function clientCeiling(mb: number, certPem: string, keyPem: string): Promise<number> {
  const total = mb * 1024 * 1024;
  return new Promise((resolve, reject) => {
    let client: ChildProcess | null = null;
    let started = 0;
    const sink = tls.createServer({ cert: certPem, key: keyPem }, (socket) => {
      let received = 0;
      socket.on('data', (d: Buffer) => {
        received += d.length;
        if (received >= total) {
          const seconds = (performance.now() - started) / 1000;
          socket.destroy();
          client?.kill('SIGKILL');
          sink.close();
          resolve(seconds);
        }
      });
      socket.on('error', reject);
    });
    sink.listen(0, '127.0.0.1', () => {
      const { port } = sink.address() as net.AddressInfo;
      started = performance.now();
      client = spawn('sh', ['-c', `head -c ${total} /dev/zero | exec openssl s_client -quiet -connect 127.0.0.1:${port}`], { stdio: 'ignore' });
      client.once('exit', (code) => code !== null && code !== 0 && reject(new Error(`openssl s_client exited with ${code}`)));
    });
  });
}

/**
 * Push throughput into one managed server, side by side in one run: plain rsync to its daemon; `rsync-ssl` to its
 * TLS listener (Node TLS + proxy-protocol daemon); `rsync-ssl` to stunnel4 in front of the same plain daemon with the
 * same certificate (the anchor). Both TLS runs use the same client (rsync-ssl -> openssl s_client), so the difference
 * is the server side. Source and target in tmpfs; the first round is a warm-up; the order rotates every round.
 */
export async function benchTls(totalMb = 200, runs = 5): Promise<void> {
  header(`TLS push throughput: plaintext vs RsyncHub TLS listener vs stunnel4 (${totalMb} MB in tmpfs, ${runs} runs each after a warm-up; load average ${os.loadavg().map((l) => fmt(l, 1)).join(' ')}, ${os.cpus().length} CPUs)`);
  const stunnel = STUNNEL_CANDIDATES.find((p) => fs.existsSync(p)) ?? null;
  if (!stunnel) console.log('stunnel: SKIPPED (stunnel4 is not installed: apt-get install stunnel4); plaintext and TLS only');
  const shm = fs.existsSync('/dev/shm') ? fs.mkdtempSync('/dev/shm/rh-bench-tls-') : fs.mkdtempSync(path.join(os.tmpdir(), 'rh-bench-tls-'));
  const src = fs.mkdtempSync(path.join(shm, 'src-'));
  const files = 10;
  for (let i = 0; i < files; i++) fs.writeFileSync(path.join(src, `big-${i}.bin`), crypto.randomBytes(Math.ceil((totalMb * 1024 * 1024) / files)));
  const storage = path.join(shm, 'storage');
  fs.mkdirSync(storage);
  const server = await startServer({ env: { RSYNCHUB_STORAGE_ROOTS: storage } });
  const password = crypto.randomBytes(12).toString('hex');
  const pw = passwordFile(password);
  await server.admin.post('/api/v1/rsync-users', { name: 'bench', password });
  const target = path.join(storage, 'bench');
  const created = await server.admin.post('/api/v1/modules', { name: 'bench', path: target, users: [{ name: 'bench', access: 'rw' }] });
  if (created.status !== 201) throw new Error(`module: ${created.text}`);
  await waitFor('the TLS listener', async () => (await server.admin.get('/api/v1/tls')).body.listening, 60_000);
  const caFile = path.join(shm, 'ca.pem');
  fs.writeFileSync(caFile, (await server.admin.get('/api/v1/tls/ca.pem')).text);

  let stunnelChild: ChildProcess | null = null;
  let stunnelPort = 0;
  if (stunnel) {
    stunnelPort = await freePort();
    const conf = path.join(shm, 'stunnel.conf');
    const stunnelTlsDir = path.join(server.dataDir, 'tls');
    fs.writeFileSync(
      conf,
      ['foreground = yes', 'pid =', 'debug = 3', '[rsync]', `accept = 127.0.0.1:${stunnelPort}`, `connect = 127.0.0.1:${server.rsyncPort}`, `cert = ${stunnelTlsDir}/server.pem`, `key = ${stunnelTlsDir}/server.key`, ''].join('\n'),
    );
    stunnelChild = spawn(stunnel, [conf], { stdio: 'ignore', detached: true });
    await waitFor('stunnel', () => portOpen(stunnelPort), 30_000);
  }

  const kinds = ['plain', 'tls', ...(stunnel ? ['stunnel'] : []), 'ceiling'] as const;
  type Kind = (typeof kinds)[number];
  const timings: Record<string, number[]> = Object.fromEntries(kinds.map((k) => [k, [] as number[]]));
  const tlsDir = path.join(server.dataDir, 'tls');
  const push = async (kind: Kind): Promise<RsyncResult> => {
    if (kind === 'ceiling') {
      await clientCeiling(totalMb, fs.readFileSync(path.join(tlsDir, 'server.pem'), 'utf8'), fs.readFileSync(path.join(tlsDir, 'server.key'), 'utf8'));
      return { code: 0, stdout: '', stderr: '' };
    }
    if (kind === 'plain') return rsync(['-rt', `--password-file=${pw}`, `${src}/`, 'bench@127.0.0.1::bench', `--port=${server.rsyncPort}`]);
    const port = kind === 'tls' ? server.rsyncTlsPort : stunnelPort;
    // No time limit: a big BENCH_TLS_MB on a slow machine may take longer than a test's minute.
    return rsyncSsl(['-rt', `--password-file=${pw}`, `${src}/`, 'bench@localhost::bench'], { RSYNC_SSL_CA_CERT: caFile, RSYNC_SSL_PORT: String(port) }, 0);
  };
  try {
    for (let r = 0; r <= runs; r++) {
      const order = kinds.map((_, i) => kinds[(i + r) % kinds.length]!);
      for (const kind of order) {
        emptyDir(target);
        execFileSync('sync');
        await sleep(300);
        const t = performance.now();
        const res = await push(kind);
        if (res.code !== 0) throw new Error(`${kind} push failed: ${res.stderr}`);
        if (r > 0) timings[kind]!.push((performance.now() - t) / 1000);
      }
    }
    const med = (k: string) => median(timings[k]!);
    for (const k of kinds) {
      console.log(`${k.padEnd(8)} median ${fmt(med(k), 2)} s (${fmt(totalMb / med(k))} MB/s)  runs ${timings[k]!.map((x) => fmt(x, 2)).join(', ')}`);
    }
    const tlsVsPlain = med('plain') / med('tls');
    console.log('(ceiling: openssl s_client alone, as rsync-ssl runs it, into a TLS sink that discards: no rsync on either side)');
    console.log(`TLS throughput / plaintext: ${fmt(tlsVsPlain, 3)} (target >= 0.8)`);
    console.log(`client ceiling / plaintext: ${fmt(med('plain') / med('ceiling'), 3)} (what rsync-ssl's client side allows at most)`);
    console.log(`TLS throughput / ceiling:   ${fmt(med('ceiling') / med('tls'), 3)}`);
    if (stunnel) console.log(`TLS throughput / stunnel:   ${fmt(med('stunnel') / med('tls'), 3)} (target >= 1.0, i.e. no slower than stunnel)`);
    console.log(`load average after: ${os.loadavg().map((l) => fmt(l, 1)).join(' ')}`);
  } finally {
    if (stunnelChild?.pid) {
      try {
        process.kill(-stunnelChild.pid, 'SIGTERM');
      } catch {
        /* gone */
      }
    }
    await server.stop();
    fs.rmSync(shm, { recursive: true, force: true });
  }
}
