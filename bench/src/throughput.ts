import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { freePort, passwordFile, rsync, sleep, startServer, waitFor } from '@rsynchub/testing';
import { fmt, header, median } from './stats';

function makeLargeTree(totalMb: number, files: number, parent: string): string {
  const dir = fs.mkdtempSync(path.join(parent, 'src-'));
  const per = Math.ceil((totalMb * 1024 * 1024) / files);
  for (let i = 0; i < files; i++) fs.writeFileSync(path.join(dir, `big-${i}.bin`), crypto.randomBytes(per));
  return dir;
}

function emptyDir(dir: string): void {
  for (const e of fs.readdirSync(dir)) fs.rmSync(path.join(dir, e), { recursive: true, force: true });
}

/**
 * The same push through the managed daemon (transfer logging + ingestion on) and a bare `rsync --daemon` (logging
 * off). Source and both targets live in tmpfs (/dev/shm) so disk write-back noise does not drown the difference;
 * the first run of each is a warm-up and not counted.
 */
export async function benchThroughput(totalMb = 1000, runs = 7): Promise<void> {
  header(`large push throughput: managed daemon vs bare rsync --daemon (${totalMb} MB in tmpfs, ${runs} runs each after a warm-up, alternating)`);
  const shm = fs.existsSync('/dev/shm') ? fs.mkdtempSync('/dev/shm/rh-bench-') : fs.mkdtempSync(path.join(os.tmpdir(), 'rh-bench-'));
  const src = makeLargeTree(totalMb, 20, shm);
  const storage = path.join(shm, 'managed');
  fs.mkdirSync(storage);
  const server = await startServer({ env: { RSYNCHUB_STORAGE_ROOTS: storage } });
  const pw = passwordFile('bench-password-1');
  await server.admin.post('/api/v1/rsync-users', { name: 'bench', password: 'bench-password-1' });
  const managedDir = path.join(storage, 'bench');
  await server.admin.post('/api/v1/modules', { name: 'bench', path: managedDir, users: [{ name: 'bench', access: 'rw' }] });

  // The bare daemon: same rsync, same uid/chroot defaults, no log file, no transfer logging, no auth.
  const bareRoot = fs.mkdtempSync(path.join(shm, 'bare-'));
  const bareDir = path.join(bareRoot, 'target');
  fs.mkdirSync(bareDir);
  if (process.getuid?.() === 0) execFileSync('chown', ['nobody:nogroup', bareDir]);
  const barePort = await freePort();
  const conf = path.join(bareRoot, 'rsyncd.conf');
  fs.writeFileSync(conf, `pid file = ${bareRoot}/rsyncd.pid\n${process.getuid?.() === 0 ? '' : 'use chroot = no\n'}[bench]\npath = ${bareDir}\nread only = no\n`, { mode: 0o600 });
  const bare: ChildProcess = spawn('rsync', ['--daemon', '--no-detach', `--config=${conf}`, `--port=${barePort}`, '--address=127.0.0.1', '--log-file=/dev/null'], { stdio: 'ignore', detached: true });
  await waitFor('bare daemon', async () => (await rsync([`rsync://127.0.0.1:${barePort}/`])).code === 0);

  const timings = { managed: [] as number[], bare: [] as number[] };
  try {
    for (let r = 0; r <= runs; r++) {
      for (const kind of (r % 2 ? ['bare', 'managed'] : ['managed', 'bare']) as ('managed' | 'bare')[]) {
        emptyDir(kind === 'managed' ? managedDir : bareDir);
        execFileSync('sync');
        await sleep(300);
        const t = performance.now();
        const res =
          kind === 'managed'
            ? await rsync(['-rt', `--password-file=${pw}`, `${src}/`, `bench@127.0.0.1::bench`, `--port=${server.rsyncPort}`])
            : await rsync(['-rt', `${src}/`, `rsync://127.0.0.1:${barePort}/bench`]);
        if (res.code !== 0) throw new Error(`${kind} push failed: ${res.stderr}`);
        if (r > 0) timings[kind].push((performance.now() - t) / 1000);
      }
    }
    const m = median(timings.managed);
    const b = median(timings.bare);
    console.log(`managed: median ${fmt(m, 2)} s (${fmt(totalMb / m)} MB/s)  runs ${timings.managed.map((x) => fmt(x, 2)).join(', ')}`);
    console.log(`bare:    median ${fmt(b, 2)} s (${fmt(totalMb / b)} MB/s)  runs ${timings.bare.map((x) => fmt(x, 2)).join(', ')}`);
    const mMin = Math.min(...timings.managed);
    const bMin = Math.min(...timings.bare);
    console.log(`ratio managed/bare: median ${fmt(m / b, 3)} (overhead ${fmt((m / b - 1) * 100)} %), best-of ${fmt(mMin / bMin, 3)} (overhead ${fmt((mMin / bMin - 1) * 100)} %); target < 3 %`);
    const ingested = (await server.admin.get('/api/v1/transfers?module=bench')).body.items.length;
    console.log(`managed sessions recorded: ${ingested}`);
  } finally {
    try {
      process.kill(-bare.pid!, 'SIGTERM');
    } catch {
      /* gone */
    }
    await server.stop();
    fs.rmSync(shm, { recursive: true, force: true });
  }
}
