/**
 * Issue 10, row "live stream": event latency at 100 / 300 / 1,000 live clients during a 10k-file push, with the real
 * server, the real daemon and the real rsync client. Latency = probe line appended to the daemon's log -> the file
 * event received by a client (ingestion, fan-out and the <= 100 ms file batching included), every client, every probe.
 * Drops = clients the server closed during the run, or that missed any file event (all clients subscribe to
 * everything, so all must count the same number of file events).
 * 1,000 clients only with BENCH_SCALE_FULL=1 (it takes minutes on a 2-CPU machine). BENCH_LIVE_CLIENTS=100,300 overrides.
 * One client first: the floor (ingestion, batching, this machine's load) that the fan-out adds to.
 */
import { ChildProcess, fork } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { passwordFile, rsync, RunningServer, startServer, waitFor } from '@rsynchub/testing';
import { PROBE_END, PROBE_PREFIX, type PoolReport } from './scale-live-clients';
import { type ScaleRow } from './scale-row';
import { fmt, percentile } from './stats';

const FILES = 10_000;
const PROBE_EVERY_MS = 20;
const POOLS = 2;

export async function scaleLive(full: boolean): Promise<ScaleRow[]> {
  const sizes = process.env.BENCH_LIVE_CLIENTS ? process.env.BENCH_LIVE_CLIENTS.split(',').map(Number) : full ? [1, 100, 300, 1000] : [1, 100, 300];
  const shm = fs.existsSync('/dev/shm') ? fs.mkdtempSync('/dev/shm/rh-live-') : fs.mkdtempSync(path.join(os.tmpdir(), 'rh-live-'));
  const src = path.join(shm, 'src');
  for (let d = 0; d < 100; d++) {
    fs.mkdirSync(path.join(src, `d${d}`), { recursive: true });
    for (let i = 0; i < FILES / 100; i++) fs.writeFileSync(path.join(src, `d${d}`, `file-${i}.dat`), crypto.randomBytes(200));
  }
  const storage = path.join(shm, 'storage');
  fs.mkdirSync(storage);
  pusherEnv = pusherScheduling(shm);
  const server = await startServer({ env: { RSYNCHUB_STORAGE_ROOTS: storage } });
  const password = crypto.randomBytes(12).toString('hex');
  const pw = passwordFile(password);
  const rows: ScaleRow[] = [];
  try {
    must(await server.admin.post('/api/v1/rsync-users', { name: 'livebench', password }), 'create the rsync user');
    must(await server.admin.post('/api/v1/modules', { name: 'livebench', path: path.join(storage, 'livebench'), users: [{ name: 'livebench', access: 'rw' }] }), 'create the module');
    const token = must(await server.admin.post('/api/v1/tokens', { name: 'live-bench', scope: 'read' }), 'create a read token').body.secret as string;
    for (const [i, clients] of sizes.entries()) rows.push(await round(server, clients, i + 1, src, pw, `Bearer ${token}`));
  } finally {
    await server.stop();
    fs.rmSync(shm, { recursive: true, force: true });
  }
  return rows;
}

function must<T extends { status: number; body: any }>(res: T, what: string): T {
  if (res.status >= 300) throw new Error(`${what}: ${res.status} ${JSON.stringify(res.body)}`);
  return res;
}

/** The pushing rsync client's environment (see pusherScheduling). */
let pusherEnv: Record<string, string> = {};

/**
 * Under `chrt -f` (the quiet-machine recipe), the pushing rsync client takes the client pools' scheduling:
 * SCHED_RR at priority 1, below the real-time server and daemon (see belowServer in scale-live-clients.ts).
 * - It stands for the source machine, as the pools stand for the browsers. Both are other machines in real use.
 * - Left at the bench's FIFO 50, the push held a core for all its 0.8-1 s. With the daemon's receiver and the server,
 *   three real-time processes shared 2 cores, and the pools could not run until the push ended. Even one client then
 *   measured a delivery p99 of ~400 ms (about the push's length): the bench measured its own starved clients.
 * - The push takes as long either way (printed per round).
 * It goes through a `rsync` wrapper first on the push's PATH. The server's daemon is started from the normal PATH, so
 * it stays real-time. Returns {} when not real-time.
 */
function pusherScheduling(dir: string): Record<string, string> {
  const policy = Number(fs.readFileSync('/proc/self/stat', 'utf8').split(') ')[1]!.split(' ')[38]);
  if (policy !== 1 && policy !== 2) return {};
  const searchPath = process.env.PATH ?? '/usr/bin:/bin';
  const real = searchPath
    .split(':')
    .map((d) => path.join(d, 'rsync'))
    .find((f) => {
      try {
        fs.accessSync(f, fs.constants.X_OK);
        return true;
      } catch {
        return false;
      }
    });
  if (!real) return {};
  const bin = path.join(dir, 'pusher-bin');
  fs.mkdirSync(bin);
  fs.writeFileSync(path.join(bin, 'rsync'), `#!/bin/sh\nexec chrt --rr 1 '${real}' "$@"\n`, { mode: 0o755 });
  return { PATH: `${bin}:${searchPath}` };
}

/** Server CPU of the 1-client round, the floor the other rounds are compared with (null before it ran). */
let floorCpu: number | null = null;

/** `n`: the round's number (its push is the module's n-th session). */
async function round(server: RunningServer, clients: number, n: number, src: string, pw: string, authorization: string): Promise<ScaleRow> {
  const url = server.baseUrl.replace(/^http/, 'ws') + '/api/v1/events';
  const pools = Array.from({ length: Math.min(POOLS, clients) }, () => fork(path.join(__dirname, 'scale-live-clients.js'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
  const logFile = path.join(server.dataDir, 'rsyncd.log');
  const pid = 3_900_000 + clients;
  const stamp = () => new Date().toISOString().replace('T', ' ').replace(/-/g, '/').slice(0, 19);
  const probeLine = (name: string) => `${stamp()} [${pid}] recv|10.9.0.1|probe|probe|probe|1|1|>f+++++++++|2026/11/25-10:00:00|${name}\n`;
  try {
    const per = (i: number) => Math.floor(clients / pools.length) + (i < clients % pools.length ? 1 : 0);
    await Promise.all(pools.map((p, i) => ask(p, { cmd: 'connect', url, authorization, count: per(i) }, 'ready', 300_000)));
    await Promise.all(pools.map((p) => ask(p, { cmd: 'start' }, 'started')));
    const cpu0 = cpuSeconds(server.process.pid!);
    const user0 = cpuTimes(server.process.pid!).user;
    const clientCpu0 = pools.reduce((n, p) => n + cpuSeconds(p.pid!), 0);
    const clientWait0 = pools.reduce((n, p) => n + runQueueWait(p.pid!), 0);
    fs.appendFileSync(logFile, `${stamp()} [${pid}] rsync to probe/ from probe@probe (10.9.0.1)\n`);

    const t0 = performance.now();
    const push = rsync(['-rt', `--password-file=${pw}`, `${src}/`, `livebench@127.0.0.1::livebench/round-${clients}/`, `--port=${server.rsyncPort}`], pusherEnv);
    // Probes go on until the push is ingested: its 10k lines can take longer to ingest than rsync takes to send them.
    let probes = 0;
    const probeTimer = setInterval(() => {
      fs.appendFileSync(logFile, probeLine(`${PROBE_PREFIX}${(performance.timeOrigin + performance.now()).toFixed(3)}`));
      probes++;
    }, PROBE_EVERY_MS);
    let pushSeconds = 0;
    try {
      const res = await push;
      if (res.code !== 0) throw new Error(`push failed: ${res.stderr}`);
      pushSeconds = (performance.now() - t0) / 1000;
      // Everything the push logged is ingested and fanned out before the end marker (the stream keeps order).
      await waitFor(
        'the push to be ingested',
        async () => {
          const items = (await server.admin.get('/api/v1/transfers?module=livebench')).body.items as { status: string; fileCount: number }[];
          return items.filter((t) => t.status !== 'active' && t.fileCount >= FILES).length >= n;
        },
        120_000,
      );
    } finally {
      clearInterval(probeTimer);
    }
    fs.appendFileSync(logFile, probeLine(PROBE_END));
    fs.appendFileSync(logFile, `${stamp()} [${pid}] sent 1 bytes  received ${probes} bytes  total size ${probes}\n`);
    await waitFor(
      'every client to see the end marker (or be gone)',
      async () => {
        const status = await Promise.all(pools.map((p) => ask<{ sawEnd: number; open: number }>(p, { cmd: 'status' }, 'status')));
        return status.every((r) => r.sawEnd >= r.open);
      },
      300_000,
    );
    const totalSeconds = (performance.now() - t0) / 1000;
    const reports = await Promise.all(pools.map((p) => ask<PoolReport>(p, { cmd: 'report' }, 'report')));
    const cpu = cpuSeconds(server.process.pid!) - cpu0;
    const user = cpuTimes(server.process.pid!).user - user0;
    const clientCpu = pools.reduce((n, p) => n + cpuSeconds(p.pid!), 0) - clientCpu0;
    const clientWait = pools.reduce((n, p) => n + runQueueWait(p.pid!), 0) - clientWait0;
    const latencies = reports.flatMap((r) => r.latencies);
    // each pool's full reader counted the file events; every other client got the same frames as its pool's reader
    const most = Math.min(...reports.map((r) => r.fullReaderPaths));
    const incomplete = reports.reduce((n, r) => n + r.incomplete, 0) + reports.filter((r) => r.fullReaderPaths !== Math.max(...reports.map((x) => x.fullReaderPaths))).length;
    const outOfOrder = reports.reduce((n, r) => n + r.outOfOrder, 0);
    const closed = reports.reduce((n, r) => n + r.closesDuringRun, 0);
    const drops = closed + incomplete + outOfOrder;
    const messages = reports.reduce((n, r) => n + r.messages, 0) / clients;
    // what each client took off the wire: deflated once by the server for the clients that agreed (scale-live-clients.ts)
    const deflateClients = reports.reduce((n, r) => n + r.deflateClients, 0);
    const wireBytes = reports[0]!.fullReaderWireBytes;
    const jsonBytes = reports[0]!.fullReaderJsonBytes;
    const wire = `${deflateClients}/${clients} clients deflate, per client ${fmt(wireBytes / 1e6, 2)} MB on the wire for ${fmt(jsonBytes / 1e6, 2)} MB of JSON (${fmt(jsonBytes / Math.max(1, wireBytes), 1)}x)`;
    const p50 = percentile(latencies, 50);
    const p99 = percentile(latencies, 99);
    // where the time goes (see scale-live-clients.ts): the server's part, then the delivery to the clients
    const serverPart = reports.flatMap((r) => r.toServerSend);
    const delivery = reports.flatMap((r) => r.serverSendToClient);
    const split = `probe -> server send p50 ${fmt(percentile(serverPart, 50), 0)} / p99 ${fmt(percentile(serverPart, 99), 0)} ms; server send -> client p50 ${fmt(percentile(delivery, 50), 0)} / p99 ${fmt(percentile(delivery, 99), 0)} ms`;
    const target = clients <= 100 ? 250 : 1000;
    const load = os.loadavg()[0]!;
    // What the clients cost the server: CPU above the 1-client round (same push), per client and message sent.
    if (clients === 1) floorCpu = cpu;
    const perClient =
      clients > 1 && floorCpu !== null ? `; above the 1-client round ${fmt(cpu - floorCpu, 1)} s = ${fmt(((cpu - floorCpu) * 1e6) / ((clients - 1) * messages), 1)} us per extra client and message` : '';
    const loopDelay = `the pools' event loop delay p50 ${reports.map((r) => fmt(r.loopDelayP50, 0)).join('/')} ms, p99 ${reports.map((r) => fmt(r.loopDelayP99, 0)).join('/')} ms`;
    console.log(
      `  ${clients} clients: push ${fmt(pushSeconds, 1)} s, all delivered after ${fmt(totalSeconds, 1)} s, ${probes} probes x ${clients} clients = ${latencies.length} samples, ` +
        `file events per client ${most} (${incomplete} clients short, ${outOfOrder} frames out of order) in ${fmt(messages, 0)} messages, ${wire}, closed ${closed}, ` +
        `server CPU ${fmt(cpu, 1)} s (user ${fmt(user, 1)} s, system ${fmt(cpu - user, 1)} s${perClient}), ` +
        `the clients' CPU ${fmt(clientCpu, 1)} s (waiting for a CPU while runnable ${fmt(clientWait, 1)} s; ${loopDelay}), max ${fmt(latencies.reduce((m, x) => Math.max(m, x), 0), 0)} ms, ${split}, load ${fmt(load, 1)}`,
    );
    if (clients === 1) {
      return { what: 'live: event latency, 1 client (the floor), 10k-file push', measured: `p50 ${fmt(p50, 0)} ms, p99 ${fmt(p99, 0)} ms, drops ${drops}, server CPU ${fmt(cpu, 1)} s, ${deflateClients > 0 ? 'deflate' : 'plain'} (load ${fmt(load, 1)})`, target: '-' };
    }
    return {
      what: `live: event latency, ${clients} clients, ${FILES / 1000}k-file push`,
      measured: `p50 ${fmt(p50, 0)} ms, p99 ${fmt(p99, 0)} ms, drops ${drops}, server CPU ${fmt(cpu, 1)} s, ${deflateClients === clients ? 'deflate' : `${deflateClients}/${clients} deflate`} (load ${fmt(load, 1)})`,
      target: `p99 < ${target === 250 ? '250 ms' : '1 s'}, no drops`,
      met: p99 < target && drops === 0 && latencies.length > 0 && most >= FILES,
    };
  } finally {
    for (const p of pools) {
      if (p.connected) p.send({ cmd: 'close' });
    }
    await Promise.all(pools.map((p) => (p.exitCode === null ? new Promise((r) => p.once('exit', r)) : undefined)));
  }
}

function ask<T = unknown>(child: ChildProcess, msg: object, key: string, timeoutMs = 60_000): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`client pool: no ${key} within ${timeoutMs} ms`)), timeoutMs);
    const onMessage = (m: Record<string, unknown>) => {
      if (!(key in m)) return;
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
      resolve(m[key] as T);
    };
    const onExit = (code: number | null) => {
      clearTimeout(timer);
      reject(new Error(`client pool exited with ${code}`));
    };
    child.on('message', onMessage);
    child.once('exit', onExit);
    child.send(msg);
  });
}

/**
 * Seconds a process's threads spent runnable but waiting for a CPU so far (Linux schedstat): a client pool that is
 * late while this grows is starved by other work on the machine, not slow itself.
 */
function runQueueWait(pid: number): number {
  let ns = 0;
  try {
    for (const tid of fs.readdirSync(`/proc/${pid}/task`)) ns += Number(fs.readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[1] ?? 0);
  } catch {
    return Number.NaN; // no schedstat on this kernel
  }
  return ns / 1e9;
}

/** User + system CPU seconds of a process so far (Linux /proc). */
function cpuSeconds(pid: number): number {
  const { user, system } = cpuTimes(pid);
  return user + system;
}

/** User (JavaScript, mostly) and system (socket copies, mostly) CPU seconds of a process so far. */
function cpuTimes(pid: number): { user: number; system: number } {
  const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return { user: Number(fields[11]) / 100, system: Number(fields[12]) / 100 };
}
