/**
 * What the agent's TLS transport costs per push (issue 11), side by side in one run against one bare `rsync --daemon`:
 * - plain: `rsync` straight to the daemon's TCP port (what a plaintext remote does);
 * - agent TLS: the agent's own run path for a `tls: true` remote (runRsync with its TLS transport: the in-process relay
 *   of tls-relay.ts, in this process, pinned fingerprint), through a TLS terminator in front of the same daemon;
 * - rsync-ssl: the stock client script (openssl s_client, CA file + host name) through the same terminator, for
 *   reference;
 * - with BENCH_AGENT_TLS_CONNECTOR=<path of the old tls-connect.js> (a build of branch t11-agent): that node connector
 *   per run as RSYNC_CONNECT_PROG, for a before/after in the same run.
 * For each: one small file pushed BENCH_AGENT_TLS_PUSHES times (p50/p99: the latency a push pays), and one file of
 * BENCH_AGENT_TLS_MB MiB (throughput).
 * The terminator is a node tls.Server in a child process (the server's own TLS listener is another branch's work), so
 * the relay here and the terminator do not share one event loop; it costs the TLS rows some throughput that a native
 * terminator would not.
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

async function startTerminator(daemonPort: number, cert: string, key: string): Promise<{ port: number; pid: number; close(): void }> {
  const child = spawn(process.execPath, ['-e', TERMINATOR, String(daemonPort), cert, key], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('\n')) resolve(Number(out.trim()));
    });
    child.once('exit', (code) => reject(new Error(`terminator exited (${code})`)));
  });
  return { port, pid: child.pid!, close: () => child.kill() };
}

export async function benchAgentTls(): Promise<void> {
  const pushes = Number(process.env.BENCH_AGENT_TLS_PUSHES ?? 40);
  const mb = Number(process.env.BENCH_AGENT_TLS_MB ?? 100);
  const runner = await import(path.join(AGENT_DIST, 'rsync-runner.js')) as typeof import('../../apps/agent/src/rsync-runner');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-agent-tls-'));
  const daemon = await startBareDaemon(path.join(dir, 'daemon'), await freePort(), ['plain', 'agent', 'ssl', 'old']);
  // Certificate for localhost (rsync-ssl verifies the name); openssl is there wherever rsync-ssl is.
  const key = path.join(dir, 'key.pem');
  const cert = path.join(dir, 'cert.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', cert,
    '-days', '2', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'], { stdio: 'ignore' });
  const terminator = await startTerminator(daemon.port, cert, key);
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
  const transport = runner.tlsTransport({ host: '127.0.0.1', port: terminator.port, module: 'agent', tls: true, fingerprint }, 10)!;
  /** The agent's path: runRsync with the remote's TLS transport (the relay runs in this process, as in the agent). */
  const viaRelay = async (args: string[], cwd: string | undefined) => {
    const t0 = process.hrtime.bigint();
    const r = await runner.runRsync(args, { cwd: cwd ?? dir, tls: transport });
    return { ms: Number(process.hrtime.bigint() - t0) / 1e6, code: r.code, stderr: r.stderr };
  };
  type Contender = { label: string; module: string; env: NodeJS.ProcessEnv; cmd: string; url: (m: string) => string; extra: string[]; run?: typeof viaRelay };
  const contenders: Contender[] = [
    { label: 'plain rsync (TCP)', module: 'plain', env: base, cmd: 'rsync', url: (m: string) => `rsync://127.0.0.1:${daemon.port}/${m}/`, extra: ['--sockopts=TCP_NODELAY'] },
    {
      label: 'agent TLS relay (pinned)', module: 'agent', cmd: 'rsync', extra: ['--sockopts=TCP_NODELAY'], env: base,
      url: () => transport.url, run: viaRelay,
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
  /** CPU seconds (user + sys) of a process, from /proc. */
  const cpuOf = (pid: number) => {
    const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(f[11]) + Number(f[12])) / 100; // utime, stime in clock ticks (100 Hz on Linux)
  };
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
      fs.rmSync(path.join(daemon.moduleDir(c.module), 'big.bin'), { force: true });
      const bigArgs = ['-a', '--whole-file', ...c.extra, big, c.url(c.module)];
      const term0 = cpuOf(terminator.pid);
      const self0 = process.cpuUsage();
      const r = c.run ? await c.run(bigArgs, undefined) : await timed(c.cmd, bigArgs, c.env);
      const self = process.cpuUsage(self0);
      const term = cpuOf(terminator.pid) - term0;
      if (c.run) cpu.push(`agent relay ${fmt((self.user + self.system) / 1e6, 2)} s`);
      if (c.module !== 'plain') cpu.push(`terminator (${c.module}) ${fmt(term, 2)} s`);
      if (r.code !== 0) throw new Error(`${c.label}: rsync exit ${r.code}: ${r.stderr.trim()}`);
      rows.push([c.label, fmt(percentile(times, 50)), fmt(percentile(times, 99)), fmt(mb / (r.ms / 1000))]);
    }
    header(`agent TLS transport: one 100-byte file x${pushes}, one ${mb} MiB file; load ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`);
    const widths = [32, 12, 12, 14];
    const line = (cells: string[]) => console.log(cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(''));
    line(['', 'push p50 ms', 'push p99 ms', `${mb} MiB MB/s`]);
    for (const row of rows) line(row);
    const plain = Number(rows[0]![1]!.replace(/,/g, ''));
    const agent = Number(rows[1]![1]!.replace(/,/g, ''));
    console.log(`added per push by the agent's TLS relay (p50): ${fmt(agent - plain)} ms (${fmt(agent / plain, 2)}x plain); ` +
      `throughput ${fmt(Number(rows[1]![3]!.replace(/,/g, '')) / Number(rows[0]![3]!.replace(/,/g, '')), 2)}x plain`);
    const ssl = Number(rows[2]![1]!.replace(/,/g, ''));
    console.log(`CPU for the ${mb} MiB push (user+sys): ${cpu.join(', ')}`);
    console.log(`rsync-ssl for comparison: ${fmt(ssl / plain, 2)}x plain per push, throughput ${fmt(Number(rows[2]![3]!.replace(/,/g, '')) / Number(rows[0]![3]!.replace(/,/g, '')), 2)}x plain`);
  } finally {
    terminator.close();
    await daemon.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
