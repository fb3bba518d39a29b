/**
 * Scale rows for modules and config (issue 10): one module / rsync-user create at 1,000 and 10,000 modules (each
 * keeps the proof by a throwaway daemon), a bulk import of 5,000 modules + users and how far log ingestion falls
 * behind while it runs, the paged module list, and what a big rsyncd.conf costs each push (rsync re-reads the
 * whole file on every connection).
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { type ApiClient, passwordFile, rsync, sleep, startServer } from '@rsynchub/testing';
import { type ScaleRow } from './scale-row';
import { fmt, median, percentile } from './stats';

const load = () => `load ${os.loadavg()[0]!.toFixed(1)}`;

/**
 * CPU seconds the server process used, and its waited-for children (rsync proofs): on a shared, loaded machine the
 * wall time mostly measures the queue for a core, this does not.
 */
function cpuSeconds(pid: number): { server: number; children: number } {
  const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  const tick = 100; // USER_HZ
  return { server: (Number(fields[11]) + Number(fields[12])) / tick, children: (Number(fields[13]) + Number(fields[14])) / tick };
}

function cpuSince(pid: number, start: { server: number; children: number }, per = 1): string {
  const now = cpuSeconds(pid);
  const f = (x: number) => (per === 1 ? `${fmt(x, 2)} s` : `${fmt((x * 1000) / per, 0)} ms`);
  return `CPU ${f(now.server - start.server)} server + ${f(now.children - start.children)} rsync${per === 1 ? '' : ' each'}`;
}

export async function scaleModules(full: boolean): Promise<ScaleRow[]> {
  const rows: ScaleRow[] = [];
  // Each row as soon as it is measured (the whole area takes minutes).
  const push0 = rows.push.bind(rows);
  rows.push = (...r: ScaleRow[]) => {
    for (const x of r) console.log(`  measured: ${x.what}: ${x.measured} (target ${x.target})`);
    return push0(...r);
  };
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'rh-scale-modules-'));
  const storage = path.join(root, 'modules');
  const server = await startServer({ env: { RSYNCHUB_STORAGE_ROOTS: storage } });
  const api = server.admin;
  let count = 0;
  try {
    // A module to push to (and watch ingestion on) next to the thousands.
    const lagPassword = crypto.randomBytes(12).toString('hex');
    must(await api.post('/api/v1/rsync-users', { name: 'lagger', password: lagPassword }));
    must(await api.post('/api/v1/modules', { name: 'aaa-lag', path: path.join(storage, 'aaa-lag'), users: [{ name: 'lagger', access: 'rw' }] }));
    const pw = passwordFile(lagPassword);
    const src = fs.mkdtempSync(path.join(root, 'src-'));
    let pushNo = 0;
    const push = async () => {
      fs.writeFileSync(path.join(src, 'f.txt'), `push ${pushNo++}\n`);
      const t = performance.now();
      const r = await rsync(['-rt', `--password-file=${pw}`, `${src}/`, `rsync://lagger@127.0.0.1:${server.rsyncPort}/aaa-lag/`]);
      if (r.code !== 0) throw new Error(`push failed: ${r.stderr}`);
      return performance.now() - t;
    };
    const smallPush = await pushTimes(push, 15);

    count = await importBatch(api, storage, 0, 1000);
    rows.push(await createRow(api, storage, count, 100, 'module', server.process.pid!));
    rows.push(await createRow(api, storage, count, 100, 'user', server.process.pid!));

    // Bulk import of 5,000 modules + users onto what is there, with pushes going on to measure ingestion lag.
    const lag = watchIngestionLag(api, push);
    const t = performance.now();
    const cpu = cpuSeconds(server.process.pid!);
    count += await importBatch(api, storage, count, 5000);
    const importSeconds = (performance.now() - t) / 1000;
    const importCpu = cpuSince(server.process.pid!, cpu);
    const lags = await lag.stop();
    rows.push({ what: `bulk import: 5,000 modules + users onto ${fmt(count - 5000, 0)}`, measured: `${fmt(importSeconds, 2)} s (${importCpu}; ${load()})`, target: '< 10 s', met: importSeconds < 10 });
    rows.push({
      what: 'log ingestion lag while the import runs (max)',
      measured: `${fmt(Math.max(...lags), 0)} ms over ${lags.length} pushes (median ${fmt(median(lags), 0)} ms)`,
      target: '< 1,000 ms',
      met: lags.length > 0 && Math.max(...lags) < 1000,
    });

    const bigPush = await pushTimes(push, 15);
    const size = fs.statSync(path.join(server.dataDir, 'rsyncd.conf')).size;
    rows.push({
      what: `push of 1 file: 3-module vs ${fmt(count, 0)}-module rsyncd.conf`,
      measured: `${fmt(median(smallPush), 0)} ms vs ${fmt(median(bigPush), 0)} ms (x${fmt(median(bigPush) / median(smallPush), 2)}, ${fmt(size / 1e6, 2)} MB, ${load()})`,
      target: 'measure and document',
    });

    if (full) {
      count += await importBatch(api, storage, count, 10_000 - count + 2);
    }
    rows.push(await createRow(api, storage, count, 250, 'module', server.process.pid!));
    rows.push(await createRow(api, storage, count, 250, 'user', server.process.pid!));
    rows.push(await listRow(api, count));
  } finally {
    await server.stop();
    fs.rmSync(root, { recursive: true, force: true });
  }
  return rows;
}

function must(r: { status: number; text: string }): void {
  if (r.status >= 300) throw new Error(`${r.status} ${r.text.slice(0, 500)}`);
}

/** Imports `n` modules, each with its own user, named from `from` on. Returns how many it created. */
async function importBatch(api: ApiClient, storage: string, from: number, n: number): Promise<number> {
  let config = '';
  let secrets = '';
  for (let i = from; i < from + n; i++) {
    const id = String(i).padStart(5, '0');
    config += `[m${id}]\npath = ${storage}/m${id}\nauth users = u${id}\nread only = no\n`;
    secrets += `u${id}:${crypto.randomBytes(12).toString('hex')}\n`;
  }
  const r = await api.post('/api/v1/import', { config, secrets });
  must(r);
  if (r.body.createdModules.length !== n) throw new Error(`import created ${r.body.createdModules.length} of ${n}: ${JSON.stringify(r.body.skipped.slice(0, 3))}`);
  return n;
}

/** Creates per row (with 20, the p99 is the slowest one). */
const CREATES = 20;

async function createRow(api: ApiClient, storage: string, count: number, targetMs: number, kind: 'module' | 'user', pid: number): Promise<ScaleRow> {
  const times: number[] = [];
  const cpu = cpuSeconds(pid);
  for (let i = 0; i < CREATES; i++) {
    const name = `${kind === 'module' ? 'x' : 'xu'}${count}-${i}`;
    const t = performance.now();
    if (kind === 'module') must(await api.post('/api/v1/modules', { name, path: path.join(storage, name), users: [{ name: 'lagger', access: 'rw' }] }));
    else must(await api.post('/api/v1/rsync-users', { name, password: crypto.randomBytes(12).toString('hex') }));
    times.push(performance.now() - t);
  }
  const p50 = median(times);
  return {
    what: `one ${kind === 'module' ? 'module' : 'rsync user'} create at ${fmt(count, 0)} modules (p50 of ${CREATES}, proof kept)`,
    measured: `${fmt(p50, 0)} ms (p99 ${fmt(percentile(times, 99), 0)}, min ${fmt(Math.min(...times), 0)}; ${cpuSince(pid, cpu, times.length)}; ${load()})`,
    target: `< ${targetMs} ms`,
    met: p50 < targetMs,
  };
}

async function listRow(api: ApiClient, count: number): Promise<ScaleRow> {
  const times: number[] = [];
  let bytes = 0;
  for (let i = 0; i < 15; i++) {
    const t = performance.now();
    const r = await api.get(`/api/v1/modules?limit=50&offset=${(i * 617) % count}&q=m`);
    must(r);
    times.push(performance.now() - t);
    bytes = r.text.length;
  }
  const t = performance.now();
  const all = await api.get('/api/v1/modules');
  const unpaged = performance.now() - t;
  const p50 = median(times);
  return {
    what: `GET /modules?limit=50&offset=&q= at ${fmt(count, 0)} modules`,
    measured: `p50 ${fmt(p50, 0)} ms, ${fmt(bytes / 1024, 0)} KB (unpaged: ${fmt(unpaged, 0)} ms, ${fmt(all.text.length / 1e6, 1)} MB)`,
    target: 'paged server-side, < 100 ms',
    met: p50 < 100,
  };
}

async function pushTimes(push: () => Promise<number>, n: number): Promise<number[]> {
  await push(); // warm-up
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push(await push());
  return out;
}

/**
 * Pushes one file again and again and measures, for each push, how long after rsync finished its session shows in
 * the transfers API: the lag of log ingestion behind the daemon.
 */
function watchIngestionLag(api: ApiClient, push: () => Promise<number>): { stop: () => Promise<number[]> } {
  let running = true;
  const lags: number[] = [];
  const sessions = async () => ((await api.get('/api/v1/transfers?module=aaa-lag&limit=500')).body.items as unknown[]).length;
  const loop = (async () => {
    while (running) {
      const before = await sessions();
      await push();
      const done = performance.now();
      const deadline = done + 30_000;
      while ((await sessions()) <= before) {
        if (performance.now() > deadline) throw new Error('a push never showed in the transfers API');
        await sleep(10);
      }
      lags.push(performance.now() - done);
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return lags;
    },
  };
}
