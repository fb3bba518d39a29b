/**
 * The rsync launcher (native/rsynchub-spawn.c) through its protocol, with the real helper from dist/ and real
 * processes: odd bytes in arguments and environment, big stdin, exit codes, signals, kill, failed starts, the gated
 * start of TLS runs, and a launcher killed mid-run (the run is run again with node's spawn, nothing lost).
 */
import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { encodeSpawn, Launcher, launcherPath, type LaunchRequest, launcherPid, prepareRsyncSpawn, ReplyDecoder } from './rsync-launcher';
import { runRsync } from './rsync-runner';
import { alive } from './e2e-support';

const helper = launcherPath();
const built = fs.existsSync(helper);

interface Outcome {
  pid?: number;
  stdout: Buffer;
  stderr: string;
  code?: number | null;
  signal?: NodeJS.Signals | null;
  error?: Error;
  lost?: string;
}

function run(l: Launcher, req: Partial<LaunchRequest> & { exe: string }, gated = false, onPid?: (pid: number) => void): { done: Promise<Outcome>; kill: (s: NodeJS.Signals) => void } {
  const o: Outcome = { stdout: Buffer.alloc(0), stderr: '' };
  const chunks: Buffer[] = [];
  let kill: (s: NodeJS.Signals) => void = () => undefined;
  const done = new Promise<Outcome>((resolve) => {
    const h = l.start({ args: [], cwd: '/', env: process.env, stdin: null, ...req }, {
      onPid: (pid) => {
        o.pid = pid;
        onPid?.(pid);
      },
      onStdout: (d) => chunks.push(d),
      onStderr: (d) => (o.stderr += d.toString()),
      onError: (e) => resolve({ ...o, error: e }),
      onClose: (code, signal) => resolve({ ...o, stdout: Buffer.concat(chunks), code, signal }),
      onLost: (why) => resolve({ ...o, lost: why }),
    }, gated);
    assert.ok(h, 'the launcher took the run');
    kill = (s) => h.kill(s);
  });
  return { done, kill: (s) => kill(s) };
}

function withLauncher(name: string, body: (l: Launcher) => Promise<void>) {
  test(name, { skip: built ? false : `launcher not built (${helper})` }, async () => {
    const l = new Launcher(helper, () => undefined);
    try {
      await body(l);
    } finally {
      l.close();
    }
  });
}

async function waitFor(what: string, check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

test('ReplyDecoder reassembles frames split at every byte', () => {
  const frame = (type: string, id: number, ...rest: Buffer[]) => {
    const body = Buffer.concat([Buffer.from(type), Buffer.from(new Uint32Array([id]).buffer), ...rest]);
    const len = Buffer.alloc(4);
    len.writeUInt32LE(body.length);
    return Buffer.concat([len, body]);
  };
  const i32 = (n: number) => {
    const b = Buffer.alloc(4);
    b.writeInt32LE(n);
    return b;
  };
  const all = Buffer.concat([frame('P', 7, i32(1234)), frame('O', 7, Buffer.from([0, 0xff, 10])), frame('X', 7, i32(-1), i32(9))]);
  const d = new ReplyDecoder();
  const got = [];
  for (const b of all) got.push(...d.push(Buffer.from([b])));
  assert.deepEqual(got, [
    { type: 'P', id: 7, a: 1234 },
    { type: 'O', id: 7, data: Buffer.from([0, 0xff, 10]) },
    { type: 'X', id: 7, a: -1, b: 9 },
  ]);
});

withLauncher('arguments and environment with odd bytes arrive byte for byte', async (l) => {
  const args = ['with space', 'new\nline', 'tab\there', "quo'te\"", 'back\\', '$HOME %PATH% `x`', 'é ü 中 🎉', '', '-', '--x=y', 'x'.repeat(100_000)];
  const r = await run(l, { exe: '/bin/sh', args: ['-c', 'printf "%s\\0" "$@"; printf "%s" "$ODD" >&2', 'sh', ...args], env: { ODD: 'a=b\n\\c é' } }).done;
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(r.stdout.toString('utf8').split('\0').slice(0, -1), args);
  assert.equal(r.stderr, 'a=b\n\\c é');
});

withLauncher('a big stdin (8 MiB, every byte value) goes through whole, and comes back on stdout', async (l) => {
  const data = crypto.randomBytes(8 * 1024 * 1024);
  const r = await run(l, { exe: '/bin/cat', stdin: data }).done;
  assert.equal(r.code, 0);
  assert.ok(r.stdout.equals(data), `stdout ${r.stdout.length} bytes, differs from the 8 MiB sent`);
});

withLauncher('stdin is /dev/null without a list; cwd is honoured', async (l) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rh-launch-'));
  try {
    const r = await run(l, { exe: '/bin/sh', args: ['-c', 'pwd; readlink /proc/self/fd/0'], cwd: dir }).done;
    assert.equal(r.stdout.toString(), `${fs.realpathSync(dir)}\n/dev/null\n`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

withLauncher('a process that exits without reading its 8 MiB stdin: its exit code, no hang, the launcher serves on', async (l) => {
  const r = await run(l, { exe: '/bin/sh', args: ['-c', 'exit 5'], stdin: crypto.randomBytes(8 * 1024 * 1024) }).done;
  assert.deepEqual([r.code, r.signal], [5, null]);
  const ok = await run(l, { exe: '/bin/echo', args: ['next'] }).done;
  assert.equal(ok.stdout.toString(), 'next\n');
});

withLauncher('exit codes come back as they are', async (l) => {
  for (const code of [0, 1, 23, 24, 127, 255]) {
    const r = await run(l, { exe: '/bin/sh', args: ['-c', `echo out; echo err >&2; exit ${code}`] }).done;
    assert.deepEqual([r.code, r.signal, r.stdout.toString(), r.stderr], [code, null, 'out\n', 'err\n']);
  }
});

withLauncher('death by a signal is reported as the signal; kill() reaches the process', async (l) => {
  const self = await run(l, { exe: '/bin/sh', args: ['-c', 'kill -TERM $$'] }).done;
  assert.deepEqual([self.code, self.signal], [null, 'SIGTERM']);
  const sleeper = run(l, { exe: '/bin/sleep', args: ['30'] });
  await waitFor('the sleeper to start', () => l.inFlight === 1);
  sleeper.kill('SIGKILL');
  const r = await sleeper.done;
  assert.deepEqual([r.code, r.signal], [null, 'SIGKILL']);
});

withLauncher('a run gets its own session, default signal dispositions and an empty signal mask (like node\'s detached spawn)', async (l) => {
  for (const gated of [false, true]) {
    const r = await run(l, { exe: '/bin/sh', args: ['-c', 'cut -d" " -f6 /proc/self/stat; grep -E "^Sig(Blk|Ign)" /proc/self/status'] }, gated).done;
    const [sid, blk, ign] = r.stdout.toString().trim().split('\n');
    // `cut` is a child of sh, whose pid is the run's pid and its own session leader
    assert.equal(Number(sid), r.pid, `gated ${gated}`);
    assert.match(blk, /^SigBlk:\s+0+$/);
    // Signals 1-31 (and the real-time ones rsync could use) at their defaults. glibc's posix_spawn leaves its two
    // internal signals (32, 33: thread cancellation, setxid) ignored; they are glibc's own, and a program using them
    // installs their handlers itself.
    assert.equal(BigInt(`0x${/^SigIgn:\s+([0-9a-f]+)$/.exec(ign)![1]}`) & ~0x180000000n, 0n, ign);
  }
});

withLauncher('a failed start is an error, not an exit: missing executable, missing cwd, NUL byte', async (l) => {
  for (const gated of [false, true]) {
    const missing = await run(l, { exe: '/nonexistent/rsync' }, gated).done;
    assert.match(missing.error?.message ?? '', /ENOENT/, `gated ${gated}`);
    const badCwd = await run(l, { exe: '/bin/true', cwd: '/nonexistent-dir' }, gated).done;
    assert.match(badCwd.error?.message ?? '', /ENOENT/, `gated ${gated}`);
  }
  // The launcher itself refuses a NUL byte (startProcess refuses it before sending, too).
  const r = await run(l, { exe: '/bin/echo', args: ['a\0b'] }).done;
  assert.match(r.error?.message ?? '', /EINVAL.*NUL/);
  // And is still serving
  const ok = await run(l, { exe: '/bin/echo', args: ['still here'] }).done;
  assert.equal(ok.stdout.toString(), 'still here\n');
});

withLauncher('gated: the process has not exec\'d when onPid runs, and does right after', async (l) => {
  let exeAtPid = '';
  const r = await run(l, { exe: '/bin/echo', args: ['gated'] }, true, (pid) => {
    exeAtPid = fs.readlinkSync(`/proc/${pid}/exe`);
  }).done;
  assert.equal(exeAtPid, fs.realpathSync(helper), 'still the launcher\'s fork, not echo');
  assert.equal(r.stdout.toString(), 'gated\n');
  assert.equal(r.code, 0);
});

withLauncher('100 runs at once each get their own output', async (l) => {
  const rs = Array.from({ length: 100 }, (_, i) => run(l, { exe: '/bin/sh', args: ['-c', `head -c ${i * 1000} /dev/zero | tr '\\0' x; echo " ${i}"`] }, i % 2 === 1).done);
  const out = await Promise.all(rs);
  out.forEach((r, i) => {
    assert.equal(r.code, 0);
    assert.equal(r.stdout.toString(), `${'x'.repeat(i * 1000)} ${i}\n`);
  });
});

withLauncher('kill -9 of the launcher: runs in flight are reported lost after their process is gone', async (l) => {
  const a = run(l, { exe: '/bin/sleep', args: ['30'] });
  const b = run(l, { exe: '/bin/sleep', args: ['30'] }, true);
  await waitFor('both started', () => l.inFlight === 2 && fs.existsSync('/proc'));
  const pids: number[] = [];
  const [ra, rb] = await Promise.all([a.done, b.done, (async () => {
    await new Promise((r) => setTimeout(r, 100));
    process.kill(l.pid!, 'SIGKILL');
  })()]);
  for (const r of [ra, rb]) {
    assert.match(r.lost ?? '', /launcher/);
    if (r.pid) pids.push(r.pid);
  }
  assert.equal(pids.length, 2);
  for (const pid of pids) assert.equal(alive(pid), false, `orphan ${pid} still running`);
});

test('encodeSpawn: argv[0] is the executable, then the arguments, the env and the stdin bytes', () => {
  const f = encodeSpawn(5, { exe: '/x', args: ['a'], cwd: '/c', env: { K: 'v', U: undefined }, stdin: Buffer.from([1, 2]) }, true);
  assert.equal(f.readUInt32LE(0), f.length - 4);
  assert.equal(String.fromCharCode(f[4]), 'S');
  assert.equal(f.readUInt32LE(5), 5);
  assert.equal(f.readUInt32LE(9), 3);
  assert.ok(f.subarray(-2).equals(Buffer.from([1, 2])));
  assert.ok(f.includes('K=v') && !f.includes('U='));
});

test('runRsync: a launcher killed mid-run loses nothing (the run is run again with node\'s spawn, whole stdin)', { skip: built ? false : 'launcher not built' }, async () => {
  delete process.env.RSYNCHUB_AGENT_SPAWN; // this test is about the launcher, whatever the suite runs with
  assert.equal(prepareRsyncSpawn().way, 'launcher');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rh-launch-'));
  try {
    // A stand-in for rsync that counts its starts, waits for the test's go, then keeps its whole stdin. (It slept 0.5 s
    // before: a test process held up that long saw the run end normally before the launcher was killed; CI saw it once.)
    const fake = path.join(dir, 'fake-rsync');
    fs.writeFileSync(fake, `#!/bin/sh\necho start >> "${dir}/starts"\nwhile [ ! -e "${dir}/go" ]; do sleep 0.05; done\ncat > "${dir}/stdin"\necho done >&2\nexit 0\n`, { mode: 0o755 });
    const paths = Array.from({ length: 2000 }, (_, i) => `dir ${i}/f\n${i}\u00e9`);
    const pending = runRsync(['--files-from=-'], { cwd: dir, paths, rsyncBin: fake, stallKillMs: 10_000 });
    await waitFor('the first start', () => fs.existsSync(path.join(dir, 'starts')));
    const pid = launcherPid();
    assert.ok(pid, 'runs go through the launcher');
    process.kill(pid, 'SIGKILL');
    // Only now may a run end: the first one cannot have finished (and been reported) before its launcher died.
    fs.writeFileSync(path.join(dir, 'go'), '');
    const r = await pending;
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, 'done');
    assert.equal(fs.readFileSync(path.join(dir, 'starts'), 'utf8'), 'start\nstart\n', 'started twice: once by the launcher, again after it died');
    assert.ok(fs.readFileSync(path.join(dir, 'stdin')).equals(Buffer.concat(paths.map((p) => Buffer.from(`${p}\0`)))), 'the whole list on stdin');
    // The next run starts a new launcher.
    const again = await runRsync([], { cwd: dir, rsyncBin: fake });
    assert.equal(again.code, 0);
    assert.ok(launcherPid() && launcherPid() !== pid, 'a new launcher');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
