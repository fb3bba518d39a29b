/**
 * Random churn against a real rsync daemon (with an auth user): a seeded generator creates, modifies, chmods, renames
 * (onto existing names too) and deletes files and directories, moves subtrees in and out of the tree, replaces files by
 * directories and back, renames a directory away and re-creates it at once, and uses odd names (spaces, a leading dash,
 * newlines, non-UTF-8 bytes). Then the target must be identical (content, mode, mtime, root included) and the agent's
 * self-verification must have found nothing the watcher missed. CHURN_SEED=n replays a run; CHURN_MS sets its length.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Agent } from './agent';
import { validateConfig } from './config';
import { createLogger } from './log';
import { encodePath } from './path-bytes';
import { diffTrees, RsyncDaemon, sleep, tmpDir, waitConverged, waitUntil } from './e2e-support';

/** mulberry32: small, seedable, good enough to pick operations. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const ODD_NAMES = [
  'with space', '-leading-dash', 'new\nline', 'caf\udce9', '\udcd6\udcd0\udcce\udcc4', 'ünïcödé', 'x\udcff\udcfey', '.hidden', 'a#b%c',
];

class Churn {
  private readonly r: () => number;
  private files: string[] = [];
  private dirs: string[] = [];
  private n = 0;
  ops = 0;
  failures = 0;

  constructor(private readonly src: string, private readonly outside: string, seed: number) {
    this.r = rng(seed);
  }

  private pick<T>(a: readonly T[]): T | undefined {
    return a.length === 0 ? undefined : a[Math.floor(this.r() * a.length)];
  }
  private abs(rel: string): Buffer {
    return encodePath(path.join(this.src, rel));
  }
  private name(): string {
    this.n++;
    return this.r() < 0.15 ? `${this.pick(ODD_NAMES)}${this.n}` : `n${this.n}`;
  }
  private dirOrRoot(): string {
    return this.r() < 0.3 ? '' : (this.pick(this.dirs) ?? '');
  }
  private join(dir: string, name: string): string {
    return dir ? `${dir}/${name}` : name;
  }
  private forget(rel: string): void {
    const pre = `${rel}/`;
    this.files = this.files.filter((f) => f !== rel && !f.startsWith(pre));
    this.dirs = this.dirs.filter((d) => d !== rel && !d.startsWith(pre));
  }
  private content(): string {
    return crypto.randomBytes(Math.floor(this.r() * 300)).toString('base64');
  }

  step(): void {
    this.ops++;
    const op = this.r();
    try {
      if (op < 0.2 || this.files.length < 5) {
        const f = this.join(this.dirOrRoot(), this.name());
        fs.writeFileSync(this.abs(f), this.content());
        this.files.push(f);
      } else if (op < 0.35) {
        const f = this.pick(this.files)!;
        if (this.r() < 0.5) fs.appendFileSync(this.abs(f), 'more\n');
        else fs.writeFileSync(this.abs(f), this.content());
      } else if (op < 0.4) {
        const f = this.pick(this.files)!;
        fs.chmodSync(this.abs(f), this.r() < 0.5 ? 0o600 : 0o644);
      } else if (op < 0.43) {
        const f = this.pick(this.files)!;
        const t = new Date(Date.now() - Math.floor(this.r() * 1e9));
        fs.utimesSync(this.abs(f), t, t); // an older mtime (a restored file)
      } else if (op < 0.5) {
        // rename, sometimes onto an existing name
        const f = this.pick(this.files)!;
        const to = this.r() < 0.4 ? this.pick(this.files)! : this.join(this.dirOrRoot(), this.name());
        if (to === f) return;
        fs.renameSync(this.abs(f), this.abs(to));
        this.forget(f);
        this.forget(to);
        this.files.push(to);
      } else if (op < 0.55) {
        // item 1: write a temp file, rename it over an existing name, then delete or move that name away
        const f = this.pick(this.files)!;
        const tmp = `${f}.tmp${this.n++}`;
        fs.writeFileSync(this.abs(tmp), this.content());
        fs.renameSync(this.abs(tmp), this.abs(f));
        if (this.r() < 0.5) fs.unlinkSync(this.abs(f));
        else fs.renameSync(this.abs(f), encodePath(path.join(this.outside, `gone${this.n}`)));
        this.forget(f);
      } else if (op < 0.63) {
        const f = this.pick(this.files)!;
        fs.unlinkSync(this.abs(f));
        this.forget(f);
      } else if (op < 0.7) {
        // nested mkdir -p, with a file at the bottom
        let d = this.dirOrRoot();
        const depth = 1 + Math.floor(this.r() * 3);
        for (let i = 0; i < depth; i++) d = this.join(d, this.name());
        fs.mkdirSync(this.abs(d), { recursive: true });
        const parts = d.split('/');
        for (let i = 1; i <= parts.length; i++) {
          const p = parts.slice(0, i).join('/');
          if (!this.dirs.includes(p)) this.dirs.push(p);
        }
        const f = this.join(d, this.name());
        fs.writeFileSync(this.abs(f), this.content());
        this.files.push(f);
      } else if (op < 0.75) {
        // rename a directory inside the tree (never into itself)
        const d = this.pick(this.dirs);
        if (!d) return;
        const parent = this.dirOrRoot();
        if (parent === d || parent.startsWith(`${d}/`)) return;
        const to = this.join(parent, this.name());
        fs.renameSync(this.abs(d), this.abs(to));
        const moved = [...this.files, ...this.dirs].filter((p) => p === d || p.startsWith(`${d}/`));
        this.forget(d);
        for (const p of moved) {
          const np = to + p.slice(d.length);
          if (fs.lstatSync(this.abs(np)).isDirectory()) this.dirs.push(np);
          else this.files.push(np);
        }
      } else if (op < 0.79) {
        // a subtree moved out of the tree
        const d = this.pick(this.dirs);
        if (!d) return;
        fs.renameSync(this.abs(d), encodePath(path.join(this.outside, `out${this.n++}`)));
        this.forget(d);
      } else if (op < 0.84) {
        // a subtree built outside, moved in
        const name = this.name();
        const tmp = path.join(this.outside, `in${this.n++}`);
        fs.mkdirSync(path.join(tmp, 'a/b'), { recursive: true });
        fs.writeFileSync(path.join(tmp, 'a/b/deep.txt'), this.content());
        fs.writeFileSync(path.join(tmp, 'top.txt'), this.content());
        const to = this.join(this.dirOrRoot(), name);
        fs.renameSync(tmp, this.abs(to));
        this.dirs.push(to, `${to}/a`, `${to}/a/b`);
        this.files.push(`${to}/a/b/deep.txt`, `${to}/top.txt`);
      } else if (op < 0.88) {
        const d = this.pick(this.dirs);
        if (!d) return;
        fs.rmSync(this.abs(d), { recursive: true });
        this.forget(d);
      } else if (op < 0.92) {
        // file -> directory, or directory -> file
        if (this.r() < 0.5) {
          const f = this.pick(this.files)!;
          fs.unlinkSync(this.abs(f));
          this.forget(f);
          fs.mkdirSync(this.abs(`${f}/inner`), { recursive: true });
          fs.writeFileSync(this.abs(`${f}/inner/x`), this.content());
          this.dirs.push(f, `${f}/inner`);
          this.files.push(`${f}/inner/x`);
        } else {
          const d = this.pick(this.dirs);
          if (!d) return;
          fs.rmSync(this.abs(d), { recursive: true });
          this.forget(d);
          fs.writeFileSync(this.abs(d), this.content());
          this.files.push(d);
        }
      } else if (op < 0.95) {
        // item 2: a directory renamed away and re-created at once, deep
        const d = this.pick(this.dirs);
        if (!d) return;
        const away = `${d}.old${this.n++}`;
        fs.renameSync(this.abs(d), this.abs(away));
        const moved = [...this.files, ...this.dirs].filter((p) => p === d || p.startsWith(`${d}/`));
        this.forget(d);
        for (const p of moved) {
          const np = away + p.slice(d.length);
          if (fs.lstatSync(this.abs(np)).isDirectory()) this.dirs.push(np);
          else this.files.push(np);
        }
        fs.mkdirSync(this.abs(`${d}/B/M/s1/s2`), { recursive: true });
        this.dirs.push(d, `${d}/B`, `${d}/B/M`, `${d}/B/M/s1`, `${d}/B/M/s1/s2`);
      } else if (op < 0.97) {
        const l = this.join(this.dirOrRoot(), this.name());
        fs.symlinkSync(this.pick(this.files) ?? 'nowhere', this.abs(l));
        this.files.push(l);
      } else {
        // a write deep in the newest directories (where missed watches would show)
        const d = this.dirs[this.dirs.length - 1 - Math.floor(this.r() * Math.min(5, this.dirs.length))];
        if (!d) return;
        const f = this.join(d, this.name());
        fs.writeFileSync(this.abs(f), this.content());
        this.files.push(f);
      }
    } catch {
      // The model is approximate (an earlier move took a path along): the operation simply did not happen.
      this.failures++;
    }
  }
}

test('random churn converges to an identical target and the watcher misses nothing', async (t) => {
  const seed = Number(process.env.CHURN_SEED ?? crypto.randomInt(1, 2 ** 31));
  const churnMs = Number(process.env.CHURN_MS ?? 20_000);
  t.diagnostic(`seed ${seed}, churn ${churnMs} ms`);
  const work = tmpDir('churn');
  const src = path.join(work, 'src');
  const outside = path.join(work, 'outside');
  fs.mkdirSync(src);
  fs.mkdirSync(outside);
  const daemon = await new RsyncDaemon({ auth: { user: 'churner', password: crypto.randomBytes(12).toString('hex') } }).start();
  const logs: string[] = [];
  const config = validateConfig({
    watches: [{
      path: src, // the default rsyncParams (-artz, no -u): a rollback of an mtime must reach the target
      remotes: [{ host: '127.0.0.1', port: daemon.port, module: 'm', user: 'churner', passwordFile: daemon.passwordFile }],
    }],
    verify: { intervalSec: 2 }, // also runs in the quiet spells of the churn, racing the watcher
  });
  const agent = new Agent(config, { stateDir: path.join(work, 'state'), log: createLogger('debug', (l) => logs.push(l)) });
  const churn = new Churn(src, outside, seed);
  try {
    await agent.start();
    const r = rng(seed ^ 0x5bd1e995);
    const end = Date.now() + churnMs;
    while (Date.now() < end) {
      const burst = 1 + Math.floor(r() * 40);
      for (let i = 0; i < burst; i++) churn.step();
      const pause = r();
      await sleep(pause < 0.7 ? 1 : pause < 0.95 ? 30 : 2500); // now and then long enough for a verification
    }
    const churnEnd = Date.now();
    try {
      await waitConverged(src, [daemon.moduleDir], `convergence (seed ${seed})`, 60_000);
    } catch (e) {
      const tq = agent.targets()[0]!;
      throw new Error(`${(e as Error).message}\npaused: ${tq.paused} ${tq.pauseReason ?? ''}; queue ${tq.queueLength}; last error: ${tq.lastError ?? '-'}\n` +
        logs.filter((l) => l.includes('"level":"warn"') || l.includes('"level":"error"')).slice(-15).join('\n'));
    }
    const convergedMs = Date.now() - churnEnd;
    await waitUntil(() => agent.targets().every((x) => x.queueLength === 0 && !x.inFlight), 'idle');
    await agent.verifyNow();
    const v = Object.values(agent.verification())[0]!;
    t.diagnostic(`seed ${seed}: ${churn.ops} operations (${churn.failures} not applicable), converged ${convergedMs} ms after the churn; ` +
      `verifications ${v.runs}, missed by the watcher ${v.missedByWatcher}; rsync runs ${agent.snapshot().rsyncSpawns}, ` +
      `full syncs ${agent.targets()[0]!.fullSyncs}, failed pushes ${logs.filter((l) => l.includes('push failed')).length}` +
      `${logs.find((l) => l.includes('push failed'))?.slice(0, 400) ?? ''}`);
    assert.equal(v.missedByWatcher, 0, `seed ${seed}: missed by the watcher: ${v.lastMissedPaths.join(', ')}\n${logs.filter((l) => l.includes('missed by the watcher')).join('\n')}`);
    assert.ok(v.runs >= 1, 'verification ran');
    assert.deepEqual(diffTrees(src, daemon.moduleDir, { includeRootMtime: true }), []);
  } finally {
    await agent.stop();
    await daemon.destroy();
    fs.rmSync(work, { recursive: true, force: true });
  }
});
