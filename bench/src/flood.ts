import * as http from 'node:http';
import * as os from 'node:os';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { startServer, type RunningServer } from '@rsynchub/testing';
import { fmt, header, percentile } from './stats';

interface Reply {
  status: number;
  ms: number;
}

/** One HTTP request from a chosen loopback source address (127.0.0.x), timed. */
function request(server: Pick<RunningServer, 'httpPort'>, agent: http.Agent, method: string, path: string, body?: unknown, token?: string): Promise<Reply> {
  const payload = body === undefined ? undefined : JSON.stringify(body);
  const t0 = performance.now();
  return new Promise((resolve) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port: server.httpPort,
        path,
        method,
        agent,
        headers: {
          ...(payload ? { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(payload)) } : {}),
          ...(token ? { authorization: `Bearer ${token}` } : {}),
        },
        timeout: 60_000,
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0, ms: performance.now() - t0 }));
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => resolve({ status: 0, ms: performance.now() - t0 }));
    if (payload) req.write(payload);
    req.end();
  });
}

function agentFrom(address: string, sockets: number): http.Agent {
  // localAddress binds the client side of every socket: the server sees this address (loopback only).
  return new http.Agent({ keepAlive: true, maxSockets: sockets, localAddress: address } as http.AgentOptions);
}

async function auditRowCount(server: RunningServer): Promise<number> {
  let count = 0;
  let cursor: string | null = null;
  do {
    const res: { body: { items: unknown[]; nextCursor: string | null } } = await server.admin.get(`/api/v1/audit?limit=500${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
    count += res.body.items.length;
    cursor = res.body.nextCursor;
  } while (cursor);
  return count;
}

/**
 * A login flood from many loopback addresses (wrong passwords, as fast as they are answered) while an admin at
 * another address keeps using the API and logs in: the admin's latency idle vs during the flood, how the flood was
 * answered, and how many audit rows it cost. Bounded: `addresses` x `perAddress` connections for `seconds`.
 */
export async function benchFlood(addresses = 60, perAddress = 4, seconds = 20, rate = 1000): Promise<void> {
  header(`login flood: ${addresses} addresses x ${perAddress} connections, up to ${rate} attempts/s for ${seconds} s, admin at 127.0.0.1 meanwhile`);
  // BENCH_SERVER_NODE_OPTIONS (e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`) profiles the server during the bench.
  const nodeOptions = process.env.BENCH_SERVER_NODE_OPTIONS;
  const server = await startServer(nodeOptions ? { env: { NODE_OPTIONS: nodeOptions } } : {});
  const adminAgent = agentFrom('127.0.0.1', 4);
  const freshAgent = agentFrom('127.0.0.250', 1);
  try {
    const token = server.admin.token!;
    const measureAdmin = async (until: () => boolean, reads: number[], logins: number[], freshLogins: number[]) => {
      let i = 0;
      while (!until()) {
        const r = await request(server, adminAgent, 'GET', i % 2 ? '/api/v1/modules' : '/api/v1/audit?limit=50', undefined, token);
        if (r.status === 200) reads.push(r.ms);
        else {
          console.log(`  admin GET answered ${r.status} after ${fmt(r.ms)} ms`);
          reads.push(Number.POSITIVE_INFINITY);
        }
        if (i % 20 === 10) {
          const l = await request(server, adminAgent, 'POST', '/api/v1/auth/login', { username: 'admin', password: server.adminPassword });
          if (l.status !== 200) console.log(`  admin login from the known address answered ${l.status} after ${fmt(l.ms)} ms`);
          logins.push(l.status === 200 ? l.ms : Number.POSITIVE_INFINITY);
        }
        if (i % 40 === 30) {
          // An address the server has never seen (not "known"): waits with other unknown addresses, never behind suspects.
          const l = await request(server, freshAgent, 'POST', '/api/v1/auth/login', { username: 'admin', password: server.adminPassword });
          if (l.status !== 200) console.log(`  admin login from a new address answered ${l.status} after ${fmt(l.ms)} ms`);
          freshLogins.push(l.status === 200 ? l.ms : Number.POSITIVE_INFINITY);
        }
        i++;
        await new Promise((r) => setTimeout(r, 25));
      }
    };

    // Idle: the same admin traffic, nothing else.
    const idle = { reads: [] as number[], logins: [] as number[], fresh: [] as number[] };
    const idleEnd = Date.now() + Math.min(8, seconds) * 1000;
    await measureAdmin(() => Date.now() > idleEnd, idle.reads, idle.logins, idle.fresh);
    const auditBefore = await auditRowCount(server);
    const loadBefore = os.loadavg().map((l) => l.toFixed(2)).join(' ');

    // Flood, from a worker thread: its event loop is not the one that times the admin's requests (sharing one made
    // the client's own backlog look like server latency).
    const floodEnd = Date.now() + seconds * 1000;
    const worker = new Worker(__filename, { workerData: { flood: true, port: server.httpPort, addresses, perAddress, rate } satisfies FloodWorkerData });
    const floodResult = new Promise<{ statuses: [number, number][]; floodMs: number[] }>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    const during = { reads: [] as number[], logins: [] as number[], fresh: [] as number[] };
    await new Promise((r) => setTimeout(r, 1000)); // let the flood reach full speed first
    await measureAdmin(() => Date.now() > floodEnd, during.reads, during.logins, during.fresh);
    worker.postMessage('stop');
    const { statuses: statusList, floodMs } = await floodResult;
    await worker.terminate();
    const statuses = new Map(statusList);
    const auditAfter = await auditRowCount(server);

    const total = [...statuses.values()].reduce((s, n) => s + n, 0);
    const cell = (values: number[], p: number) => (values.length === 0 ? '-' : fmt(percentile(values, p)));
    const row = (label: string, a: string, b: string) => console.log(`${label.padEnd(40)} ${a.padStart(12)} ${b.padStart(14)}`);
    row('', 'idle', 'during flood');
    for (const p of [50, 95, 99]) row(`admin GET p${p} (ms)`, cell(idle.reads, p), cell(during.reads, p));
    row('admin GET max (ms)', cell(idle.reads, 100), cell(during.reads, 100));
    row('admin GET count', String(idle.reads.length), String(during.reads.length));
    row('admin login, known address p50/max (ms)', `${cell(idle.logins, 50)}/${cell(idle.logins, 100)}`, `${cell(during.logins, 50)}/${cell(during.logins, 100)}`);
    row('admin login, new address p50/max (ms)', `${cell(idle.fresh, 50)}/${cell(idle.fresh, 100)}`, `${cell(during.fresh, 50)}/${cell(during.fresh, 100)}`);
    row('login attempts answered per s', '-', fmt(total / seconds, 0));
    row('  of them 429 (throttled/busy) per s', '-', fmt((statuses.get(429) ?? 0) / seconds, 0));
    row('  of them 401 (password checked) per s', '-', fmt((statuses.get(401) ?? 0) / seconds, 1));
    row('flood attempt answered p50/p95 (ms)', '-', `${cell(floodMs, 50)}/${cell(floodMs, 95)}`);
    row('audit rows written', '-', `${auditAfter - auditBefore} for ${total}`);
    console.log(
      `flood statuses: ` + [...statuses.entries()].sort(([a], [b]) => a - b).map(([s, n]) => `${s === 0 ? 'error' : s}: ${n}`).join(', ') +
        `; load average before/after: ${loadBefore} / ${os.loadavg().map((l) => l.toFixed(2)).join(' ')} (${os.availableParallelism()} cores)`,
    );
    const p95 = percentile(during.reads, 95);
    console.log(`target p95 < 250 ms for the admin's requests during the flood: ${p95 < 250 ? 'met' : 'MISSED'} (${fmt(p95)} ms)`);
    if (process.env.BENCH_FLOOD_DEBUG) console.log(server.output().slice(-3000));
  } finally {
    adminAgent.destroy();
    freshAgent.destroy();
    await server.stop();
  }
}

interface FloodWorkerData {
  flood: true;
  port: number;
  addresses: number;
  perAddress: number;
  rate: number;
}

/** The flooding side (runs in a worker thread until told to stop, then posts what it saw). */
async function floodWorker(d: FloodWorkerData): Promise<void> {
  const statuses = new Map<number, number>();
  const floodMs: number[] = [];
  let stop = false;
  const agents: http.Agent[] = [];
  parentPort!.once('message', () => {
    stop = true;
    for (const agent of agents) agent.destroy(); // answers still outstanding are not waited for (nor counted)
  });
  const flooders: Promise<void>[] = [];
  for (let a = 0; a < d.addresses; a++) {
    const agent = agentFrom(`127.0.0.${10 + a}`, d.perAddress);
    agents.push(agent);
    for (let c = 0; c < d.perAddress; c++) {
      flooders.push(
        (async () => {
          let n = 0;
          // Paced so that all connections together send at most `rate` attempts per second (the attacker shares
          // this machine's CPU with the server here; unpaced, the benchmark would mostly measure its own client).
          const interval = (d.addresses * d.perAddress * 1000) / d.rate;
          const start = performance.now() + Math.random() * interval;
          while (!stop) {
            const due = start + n * interval - performance.now();
            if (due > 0) await new Promise((r) => setTimeout(r, due));
            if (stop) break;
            const username = n % 3 === 0 ? 'admin' : `guess${a}-${c}-${n}`;
            const r = await request({ httpPort: d.port }, agent, 'POST', '/api/v1/auth/login', { username, password: `wrong-${a}-${c}-${n++}` });
            if (stop) break;
            statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
            floodMs.push(r.ms);
          }
          agent.destroy();
        })(),
      );
    }
  }
  await Promise.all(flooders);
  parentPort!.postMessage({ statuses: [...statuses], floodMs });
}

if (!isMainThread && (workerData as Partial<FloodWorkerData> | null)?.flood) void floodWorker(workerData as FloodWorkerData);
