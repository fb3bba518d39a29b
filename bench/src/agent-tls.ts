/**
 * What the agent's TLS transport costs per push (issue 11), side by side in one run against one bare `rsync --daemon`:
 * - plain: `rsync` straight to the daemon's TCP port (what a plaintext remote does);
 * - agent TLS native: the agent's own run path for a `tls: true` remote (runRsync with its TLS transport) with the
 *   native connector (apps/agent/dist/rsynchub-tls, C + OpenSSL, run by rsync as RSYNC_CONNECT_PROG), pinned;
 * - agent TLS node relay: the same path with the in-process node relay (tls-relay.ts; the fallback when the native
 *   connector is not built, and what the agent used before), pinned;
 * - rsync-ssl: the stock client script (openssl s_client, CA file + host name), for reference;
 * - with BENCH_AGENT_TLS_CONNECTOR=<path of the old tls-connect.js> (a build of branch t11-agent): that node connector
 *   per run as RSYNC_CONNECT_PROG, for a before/after in the same run.
 * All TLS rows go through one TLS terminator in front of the same daemon, standing in for the server's TLS listener:
 * by default a node tls.Server in a child process (what the server's listener is today); with
 * BENCH_AGENT_TLS_TERMINATOR=stunnel, Debian's stunnel4 (native: shows the client side's own ceiling).
 * For each: one small file pushed BENCH_AGENT_TLS_PUSHES times (p50/p99: the latency a push pays), and one file of
 * BENCH_AGENT_TLS_MB MiB pushed twice (throughput of the faster push), with the CPU the client-side relay and the terminator spent on it.
 */
import { execFileSync, spawn } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tls from 'node:tls';
import { freePort } from '@rsynchub/testing';
import { startBareDaemon } from './agent-support';
import { fmt, header, percentile } from './stats';

const AGENT_DIST = process.env.BENCH_AGENT_MAIN ? path.dirname(process.env.BENCH_AGENT_MAIN) : path.resolve(__dirname, '../../apps/agent/dist');

function timed(cmd: string, args: string[], env: NodeJS.ProcessEnv, cwd?: string): Promise<{ ms: number; code: number | null; stderr: string }> {
  const t0 = process.hrtime.bigint();
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { env, cwd, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ ms: Number(process.hrtime.bigint() - t0) / 1e6, code, stderr }));
  });
}

/** A TLS terminator relaying to the daemon's plain port, in a node process of its own. */
const TERMINATOR = `
const net = require('node:net'), tls = require('node:tls'), fs = require('node:fs');
const [daemonPort, cert, key] = process.argv.slice(1);
const server = tls.createServer({ cert: fs.readFileSync(cert), key: fs.readFileSync(key), highWaterMark: 256 * 1024 }, (clear) => {
  const up = net.connect({ port: Number(daemonPort), host: '127.0.0.1', highWaterMark: 256 * 1024 });
  up.setNoDelay(true);
  clear.setNoDelay(true);
  clear.pipe(up);
  up.pipe(clear);
  up.on('error', () => clear.destroy());
  clear.on('error', () => up.destroy());
});
server.listen(0, '127.0.0.1', () => process.stdout.write(server.address().port + '\\n'));
`;

async function startTerminator(daemonPort: number, cert: string, key: string, dir: string): Promise<{ port: number; pid: number; kind: string; close(): void }> {
  if (process.env.BENCH_AGENT_TLS_TERMINATOR === 'stunnel') {
    const port = await freePort();
    const conf = path.join(dir, 'stunnel.conf');
    fs.writeFileSync(conf, `foreground = yes\npid =\nsyslog = no\ndebug = 3\n[rsync]\naccept = 127.0.0.1:${port}\n` +
      `connect = 127.0.0.1:${daemonPort}\ncert = ${cert}\nkey = ${key}\nsocket = l:TCP_NODELAY=1\nsocket = r:TCP_NODELAY=1\n`);
    const child = spawn('stunnel4', [conf], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    for (let i = 0; ; i++) {
      const up = await new Promise<boolean>((resolve) => {
        const s = net.connect(port, '127.0.0.1', () => { s.destroy(); resolve(true); });
        s.on('error', () => resolve(false));
      });
      if (up) break;
      if (i > 100 || child.exitCode !== null) throw new Error(`stunnel4 did not start: ${err}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    return { port, pid: child.pid!, kind: 'stunnel4', close: () => child.kill() };
  }
  const child = spawn(process.execPath, ['-e', TERMINATOR, String(daemonPort), cert, key], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('\n')) resolve(Number(out.trim()));
    });
    child.once('exit', (code) => reject(new Error(`terminator exited (${code})`)));
  });
  return { port, pid: child.pid!, kind: 'node tls.Server', close: () => child.kill() };
}

/** CPU seconds (user + sys) of a process, from /proc; 0 when it is gone. */
function cpuOf(pid: number): number {
  try {
    const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(f[11]) + Number(f[12])) / 100; // utime, stime in clock ticks (100 Hz on Linux)
  } catch {
    return 0;
  }
}

/**
 * Samples the CPU of this process's descendants named rsynchub-tls (the native connector: rsync forks, the fork runs
 * it) every 20 ms, keeping each one's last reading: the connector's CPU for a run (within one sample of its exit).
 */
function connectorCpu(): { stop(): number } {
  const seen = new Map<number, number>();
  const sample = () => {
    for (const e of fs.readdirSync('/proc')) {
      if (!/^\d+$/.test(e)) continue;
      try {
        const stat = fs.readFileSync(`/proc/${e}/stat`, 'utf8');
        if (!stat.includes('(rsynchub-tls)')) continue;
        let ancestor = Number(e);
        for (let up = 0; up < 4 && ancestor > 1 && ancestor !== process.pid; up++) {
          ancestor = Number(fs.readFileSync(`/proc/${ancestor}/stat`, 'utf8').split(') ')[1]!.split(' ')[1]);
        }
        if (ancestor === process.pid) seen.set(Number(e), cpuOf(Number(e)));
      } catch {
        // gone meanwhile
      }
    }
  };
  const timer = setInterval(sample, 20);
  return { stop: () => { clearInterval(timer); return [...seen.values()].reduce((a, b) => a + b, 0); } };
}

export async function benchAgentTls(): Promise<void> {
  const pushes = Number(process.env.BENCH_AGENT_TLS_PUSHES ?? 40);
  const mb = Number(process.env.BENCH_AGENT_TLS_MB ?? 100);
  const runner = await import(path.join(AGENT_DIST, 'rsync-runner.js')) as typeof import('../../apps/agent/src/rsync-runner');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-agent-tls-'));
  const daemon = await startBareDaemon(path.join(dir, 'daemon'), await freePort(), ['plain', 'native', 'agent', 'ssl', 'old']);
  // Certificate for localhost (rsync-ssl verifies the name); openssl is there wherever rsync-ssl is.
  const key = path.join(dir, 'key.pem');
  const cert = path.join(dir, 'cert.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', cert,
    '-days', '2', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'], { stdio: 'ignore' });
  const terminator = await startTerminator(daemon.port, cert, key, dir);
  const fingerprint = new crypto.X509Certificate(fs.readFileSync(cert)).fingerprint256;
  const src = path.join(dir, 'src');
  fs.mkdirSync(src);
  fs.writeFileSync(path.join(src, 'small.txt'), 'x'.repeat(100));
  const big = path.join(dir, 'big.bin');
  const chunk = crypto.randomBytes(1 << 20);
  const fd = fs.openSync(big, 'w');
  for (let i = 0; i < mb; i++) fs.writeSync(fd, chunk);
  fs.closeSync(fd);

  const base = { PATH: process.env.PATH ?? '/usr/bin:/bin' };
  const remote = { host: '127.0.0.1', port: terminator.port, tls: true, fingerprint };
  const native = runner.tlsTransport({ ...remote, module: 'native' }, 10, path.join(AGENT_DIST, 'rsynchub-tls'))!;
  const nodeRelay = runner.tlsTransport({ ...remote, module: 'agent' }, 10, null)!;
  /** The agent's path: runRsync with the remote's TLS transport (native connector, or the relay in this process). */
  const viaAgent = (transport: typeof native) => async (args: string[], cwd: string | undefined) => {
    const t0 = process.hrtime.bigint();
    const r = await runner.runRsync(args, { cwd: cwd ?? dir, tls: transport });
    return { ms: Number(process.hrtime.bigint() - t0) / 1e6, code: r.code, stderr: r.stderr };
  };
  type Run = ReturnType<typeof viaAgent>;
  type Contender = { label: string; module: string; env: NodeJS.ProcessEnv; cmd: string; url: (m: string) => string; extra: string[]; run?: Run; relay?: 'native' | 'node' };
  const contenders: Contender[] = [
    { label: 'plain rsync (TCP)', module: 'plain', env: base, cmd: 'rsync', url: (m: string) => `rsync://127.0.0.1:${daemon.port}/${m}/`, extra: ['--sockopts=TCP_NODELAY'] },
    {
      label: 'agent TLS native (pinned)', module: 'native', cmd: 'rsync', extra: ['--sockopts=TCP_NODELAY'], env: base,
      url: () => native.url, run: viaAgent(native), relay: 'native',
    },
    {
      label: 'agent TLS node relay (pinned)', module: 'agent', cmd: 'rsync', extra: ['--sockopts=TCP_NODELAY'], env: base,
      url: () => nodeRelay.url, run: viaAgent(nodeRelay), relay: 'node',
    },
    {
      label: 'rsync-ssl (openssl, CA + name)', module: 'ssl', cmd: 'rsync-ssl', extra: [],
      env: { ...base, RSYNC_SSL_PORT: String(terminator.port), RSYNC_SSL_CA_CERT: cert, RSYNC_SSL_TYPE: 'openssl' },
      url: (m: string) => `localhost::${m}/`,
    },
  ];
  const oldConnector = process.env.BENCH_AGENT_TLS_CONNECTOR;
  if (oldConnector) {
    contenders.push({
      label: 'before: node connector per run', module: 'old', cmd: 'rsync', extra: [],
      env: {
        ...base, RSYNC_CONNECT_PROG: `exec '${process.execPath}' '${oldConnector}'`,
        RSYNCHUB_AGENT_TLS_CONNECT: JSON.stringify({ host: '127.0.0.1', port: terminator.port, timeoutMs: 10_000, fingerprint }),
      },
      url: (m: string) => `rsync://127.0.0.1:${terminator.port}/${m}/`,
    });
  }
  const rows: string[][] = [];
  const cpu: string[] = [];
  try {
    for (const c of contenders) {
      const times: number[] = [];
      for (let i = 0; i < pushes; i++) {
        fs.utimesSync(path.join(src, 'small.txt'), new Date(), new Date(Date.now() - i * 1000)); // a change every time
        const args = ['-a', '--ignore-times', ...c.extra, 'small.txt', c.url(c.module)];
        const r = c.run ? await c.run(args, src) : await timed(c.cmd, args, c.env, src);
        if (r.code !== 0) throw new Error(`${c.label}: rsync exit ${r.code}: ${r.stderr.trim()}`);
        times.push(r.ms);
      }
      // The big file twice, the faster push counts (the first one through a node terminator also warms up its JIT);
      // CPU is that of the counted push.
      let best: { ms: number; relay: number; term: number } | undefined;
      for (let round = 0; round < 2; round++) {
        fs.rmSync(path.join(daemon.moduleDir(c.module), 'big.bin'), { force: true });
        const bigArgs = ['-a', '--whole-file', ...c.extra, big, c.url(c.module)];
        const term0 = cpuOf(terminator.pid);
        const self0 = process.cpuUsage();
        const sampler = c.relay === 'native' ? connectorCpu() : null;
        const r = c.run ? await c.run(bigArgs, undefined) : await timed(c.cmd, bigArgs, c.env);
        const self = process.cpuUsage(self0);
        const term = cpuOf(terminator.pid) - term0;
        const relay = sampler ? sampler.stop() : (self.user + self.system) / 1e6;
        if (r.code !== 0) throw new Error(`${c.label}: rsync exit ${r.code}: ${r.stderr.trim()}`);
        const got = fs.statSync(path.join(daemon.moduleDir(c.module), 'big.bin')).size;
        if (got !== mb * 1024 * 1024) throw new Error(`${c.label}: ${got} bytes arrived of ${mb} MiB`);
        if (!best || r.ms < best.ms) best = { ms: r.ms, relay, term };
      }
      if (c.relay) cpu.push(`${c.relay === 'native' ? 'native connector' : 'node relay'} ${fmt(best!.relay, 2)} s`);
      if (c.module !== 'plain') cpu.push(`terminator (${c.module}) ${fmt(best!.term, 2)} s`);
      rows.push([c.label, fmt(percentile(times, 50)), fmt(percentile(times, 99)), fmt(mb / (best!.ms / 1000))]);
    }
    header(`agent TLS transport: one 100-byte file x${pushes}, one ${mb} MiB file; terminator: ${terminator.kind}; load ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`);
    const widths = [34, 12, 12, 14, 12, 12];
    const line = (cells: string[]) => console.log(cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(''));
    line(['', 'push p50 ms', 'push p99 ms', `${mb} MiB MB/s`, 'p50 / plain', 'MB/s / plain']);
    const num = (cell: string) => Number(cell.replace(/,/g, ''));
    for (const row of rows) line([...row, `${fmt(num(row[1]!) / num(rows[0]![1]!), 2)}x`, `${fmt(num(row[3]!) / num(rows[0]![3]!), 2)}x`]);
    console.log(`CPU for the ${mb} MiB push (user+sys): ${cpu.join(', ')}`);
  } finally {
    terminator.close();
    await daemon.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
