/**
 * Warm standbys started through the rsync launcher (native/rsynchub-spawn.c flags 4 and 8, frames W, R, D; the agent's
 * side in rsync-launcher.ts), against the real helper and real processes. A stand-in standby (sh) does what rsync and
 * its gate do: it waits for the go byte on fd 3, then reads its stdin (the path list).
 * Raw-frame tests talk to the helper over its control socket directly, so requests the agent never sends (unknown ids,
 * a second release, a release after the run ended but before its acknowledgement) can be sent on purpose.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import type { Socket } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import {
  encodeAck, encodeDiscard, encodeGo, encodeKill, encodeRelease, encodeSpawn, Launcher, launcherPath, type LaunchRequest, type Reply, ReplyDecoder,
  type StandbyHandle, WRITE_CHUNK_BYTES,
} from './rsync-launcher';
import { groupMembers, procState } from './e2e-support';

const helper = launcherPath();
const skip = fs.existsSync(helper) ? false : `launcher not built (${helper})`;

/** Waits for the go byte on fd 3 (prints what came: the whole content of the pipe until EOF), then copies stdin. */
const STANDBY_SH = 'go=$(cat <&3); printf "go=[%s]\\n" "$go"; [ "$go" = g ] || exit 9; exec cat';

async function waitFor(what: string, check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** The raw helper: frames in, replies out. */
class Raw {
  readonly child: ChildProcess;
  readonly sock: Socket;
  readonly replies: Reply[] = [];
  private readonly dec = new ReplyDecoder();
  constructor() {
    this.child = spawn(helper, [], { stdio: ['ignore', 'ignore', 'inherit', 'pipe'] });
    this.sock = this.child.stdio[3] as Socket;
    this.sock.on('error', () => undefined);
    this.sock.on('data', (d: Buffer) => this.replies.push(...this.dec.push(d)));
  }
  send(b: Buffer): void {
    this.sock.write(b);
  }
  of(id: number, type?: Reply['type']): Reply[] {
    return this.replies.filter((r) => r.id === id && (!type || r.type === type));
  }
  out(id: number): Buffer {
    return Buffer.concat(this.of(id, 'O').map((r) => r.data!));
  }
  async reply(id: number, type: Reply['type']): Promise<Reply> {
    await waitFor(`'${type}' for run ${id}`, () => this.of(id, type).length > 0);
    return this.of(id, type)[0]!;
  }
  /** An ordinary run still works: the launcher is alive and serving. */
  async serves(id: number): Promise<void> {
    this.send(encodeSpawn(id, req('/bin/echo', ['still serving']), false));
    const x = await this.reply(id, 'X');
    assert.equal(x.a, 0);
    assert.equal(this.out(id).toString(), 'still serving\n');
    this.send(encodeAck(id));
  }
  stop(): void {
    this.child.kill('SIGKILL');
  }
}

function req(exe: string, args: string[], env: NodeJS.ProcessEnv = process.env): LaunchRequest {
  return { exe, args, cwd: '/', env, stdin: null };
}

function standby(id: number, script = STANDBY_SH): Buffer {
  return encodeSpawn(id, req('/bin/sh', ['-c', script]), false, true);
}

test('standby frames: W chunks then R, one buffer; D and release encodings', () => {
  const list = Buffer.alloc(WRITE_CHUNK_BYTES * 2 + 3, 7);
  const b = encodeRelease(42, list);
  // three W frames (1 MiB, 1 MiB, 3 bytes) then R
  let off = 0;
  const frames: { type: string; id: number; len: number }[] = [];
  while (off < b.length) {
    const len = b.readUInt32LE(off);
    frames.push({ type: String.fromCharCode(b[off + 4]!), id: b.readUInt32LE(off + 5), len: len - 5 });
    off += 4 + len;
  }
  assert.deepEqual(frames, [
    { type: 'W', id: 42, len: WRITE_CHUNK_BYTES }, { type: 'W', id: 42, len: WRITE_CHUNK_BYTES }, { type: 'W', id: 42, len: 3 }, { type: 'R', id: 42, len: 0 },
  ]);
  assert.deepEqual(encodeRelease(1, null), Buffer.from([5, 0, 0, 0, 'R'.charCodeAt(0), 1, 0, 0, 0]));
  assert.deepEqual(encodeDiscard(3), Buffer.from([5, 0, 0, 0, 'D'.charCodeAt(0), 3, 0, 0, 0]));
  // flags 4 | 8, no stdin bytes
  const s = encodeSpawn(9, { exe: '/x', args: [], cwd: '/', env: {}, stdin: Buffer.from('ignored?') }, false, true);
  assert.equal(s.readUInt32LE(9), 12);
});

test('launcher standby: holds before the go (stdin open, fd 3 a pipe, nothing read), then gets its list and exactly one go', { skip }, async () => {
  const raw = new Raw();
  try {
    raw.send(standby(1));
    const pid = (await raw.reply(1, 'P')).a!;
    await waitFor('the standby to wait on fd 3', () => procState(pid) === 'S');
    // fd 0 and fd 3 are pipes (not the launcher's own fd 3, its control socket).
    assert.match(fs.readlinkSync(`/proc/${pid}/fd/0`), /^pipe:/);
    assert.match(fs.readlinkSync(`/proc/${pid}/fd/3`), /^pipe:/);
    // Not released: the stdin stays open however long (no EOF reaches it), no output.
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(raw.of(1).filter((r) => r.type !== 'P').length, 0, 'nothing before the release');
    assert.equal(procState(pid), 'S', 'still waiting');
    // An unknown id in every request is ignored; the standby is untouched, the launcher serves on.
    for (const f of [encodeRelease(777, Buffer.from('x')), encodeDiscard(777), encodeKill(777, 9), encodeGo(777), encodeAck(777)]) raw.send(f);
    await raw.serves(100);
    assert.equal(procState(pid), 'S', 'the standby is untouched by requests naming other ids');
    // A 'W' alone: written into the pipe, the stdin stays open for more (drained is not done).
    raw.send(encodeRelease(1, Buffer.from('early\0')).subarray(0, -9));
    await raw.serves(102); // the 'W' has been handled (requests are handled in order) and written
    // The release, then a second release and more bytes: one 'g' only, and only the list sent before the first 'R'.
    raw.send(Buffer.concat([encodeRelease(1, Buffer.from('a/b\0c d\0')), encodeRelease(1, Buffer.from('late\0'))]));
    const x = await raw.reply(1, 'X');
    assert.equal(x.a, 0, `exit ${x.a}, output ${raw.out(1).toString()}`);
    assert.equal(raw.out(1).toString(), 'go=[g]\nearly\0a/b\0c d\0');
    raw.send(encodeAck(1));
    await raw.serves(101);
  } finally {
    raw.stop();
  }
});

test('launcher standby: a release after the child died (before and after its end is acknowledged) changes nothing', { skip }, async () => {
  const raw = new Raw();
  try {
    raw.send(standby(1, 'exit 7'));
    const x = await raw.reply(1, 'X');
    assert.equal(x.a, 7);
    raw.send(encodeRelease(1, Buffer.from('list\0'))); // not acknowledged yet: the run is still known, ended
    raw.send(encodeDiscard(1));
    await raw.serves(100);
    assert.equal(raw.of(1).length, 2, `only P and X for the dead standby: ${raw.of(1).map((r) => r.type).join(',')}`);
    raw.send(encodeAck(1));
    raw.send(encodeRelease(1, Buffer.from('list\0'))); // acknowledged: an unknown id now
    await raw.serves(101);
    assert.equal(raw.of(1).length, 2);
  } finally {
    raw.stop();
  }
});

test('launcher standby: a huge list (24 MiB) is fed while the launcher keeps serving other runs (never blocks its loop)', { skip }, async () => {
  const raw = new Raw();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'standby-huge-'));
  try {
    const flag = path.join(dir, 'flag');
    // After the go the standby waits for a file that only a later run creates, then reads its stdin: the launcher must
    // hold 24 MiB of unwritten stdin and still start and serve that run.
    raw.send(standby(1, `go=$(cat <&3); [ "$go" = g ] || exit 9; while [ ! -e '${flag}' ]; do sleep 0.01; done; exec sha256sum`));
    await raw.reply(1, 'P');
    const list = crypto.randomBytes(24 * 1024 * 1024);
    raw.send(encodeRelease(1, list));
    raw.send(encodeSpawn(2, req('/usr/bin/touch', [flag]), false));
    const t = await raw.reply(2, 'X');
    assert.equal(t.a, 0);
    raw.send(encodeAck(2));
    const x = await raw.reply(1, 'X');
    assert.equal(x.a, 0);
    assert.equal(raw.out(1).toString().split(' ')[0], crypto.createHash('sha256').update(list).digest('hex'), 'the whole list, byte for byte');
    raw.send(encodeAck(1));
  } finally {
    raw.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('launcher standby: D closes the go pipe without a go and kills the whole group; C does the same to standbys not released', { skip }, async () => {
  const raw = new Raw();
  try {
    // A grandchild in the group that would outlive its parent.
    const script = '(sleep 60) & go=$(cat <&3); echo "go=[$go]"; wait';
    raw.send(standby(1, script));
    const pid = (await raw.reply(1, 'P')).a!;
    await waitFor('the grandchild', () => groupMembers(pid).length >= 2);
    raw.send(encodeDiscard(1));
    const x = await raw.reply(1, 'X');
    assert.equal(x.a, -1);
    assert.equal(x.b, os.constants.signals.SIGKILL);
    assert.equal(raw.out(1).toString(), '', 'never released');
    await waitFor('the group to be gone', () => groupMembers(pid).length === 0);
    raw.send(encodeAck(1));
    // C: a standby not released is discarded, a released one (a run now) finishes; then the launcher exits.
    raw.send(standby(2, 'go=$(cat <&3); echo "go=[$go]"; sleep 60'));
    raw.send(standby(3));
    await raw.reply(2, 'P');
    await raw.reply(3, 'P');
    raw.send(encodeRelease(3, Buffer.from('released')));
    raw.send(Buffer.from([1, 0, 0, 0, 'C'.charCodeAt(0)]));
    const x2 = await raw.reply(2, 'X');
    const x3 = await raw.reply(3, 'X');
    assert.equal(x2.b, os.constants.signals.SIGKILL, 'the held standby was killed');
    assert.equal(x3.a, 0, 'the released one ran to its end');
    assert.equal(raw.out(3).toString(), 'go=[g]\nreleased');
    raw.send(encodeAck(2));
    raw.send(encodeAck(3));
    await waitFor('the launcher to exit', () => raw.child.exitCode !== null);
    assert.equal(raw.child.exitCode, 0);
  } finally {
    raw.stop();
  }
});

test('launcher standby: kill -9 of the launcher while standbys are held leaves no process behind (their go pipe closes) and they are reported lost', { skip }, async () => {
  let died = '';
  const l = new Launcher(helper, (why) => (died = why));
  const lost: string[] = [];
  const pids: number[] = [];
  const handles: StandbyHandle[] = [];
  try {
    for (let i = 0; i < 3; i++) {
      // The grandchild waits on the go pipe too (as the gate does under rsync): only EOF on fd 3 ends it.
      const h = l.startStandby(req('/bin/sh', ['-c', '(cat <&3 >/dev/null; exit 0) & wait; exit 1']), {
        onStdout: () => undefined, onStderr: () => undefined,
        onError: (e) => lost.push(`error ${e.message}`), onClose: (c, s) => lost.push(`close ${c} ${s}`), onLost: (why) => lost.push(why),
      });
      assert.ok(h);
      handles.push(h);
    }
    await waitFor('the pids', () => handles.every((h) => h.pid !== undefined));
    for (const h of handles) pids.push(h.pid!);
    await waitFor('each standby and its grandchild', () => pids.every((p) => groupMembers(p).length >= 2));
    const members = pids.flatMap(groupMembers);
    process.kill(l.pid!, 'SIGKILL');
    await waitFor('every standby reported lost', () => lost.length === 3);
    assert.ok(lost.every((w) => /^rsync launcher /.test(w)), lost.join(' | '));
    assert.notEqual(died, '', 'the death was reported');
    await waitFor(`no process of the standbys left (${members.join(',')})`, () => members.every((p) => procState(p) === null || procState(p) === 'Z'));
    assert.equal(handles[0]!.release(Buffer.from('x')), false, 'a release after the death says so');
  } finally {
    for (const p of pids) {
      try {
        process.kill(-p, 'SIGKILL');
      } catch {
        // gone
      }
    }
  }
});

test('launcher standby: the go pipe alone ends a standby whose launcher died (no kill needed: only the launcher held its write end)', { skip }, async () => {
  // The raw helper dies; nobody kills the standby. It must see EOF on fd 3 and end by itself.
  const raw = new Raw();
  raw.send(standby(1, 'go=$(cat <&3); [ "$go" = g ] && exit 0; exit 3'));
  const pid = (await raw.reply(1, 'P')).a!;
  await waitFor('the standby to wait', () => procState(pid) === 'S');
  raw.stop();
  await waitFor('the standby to end by itself', () => procState(pid) === null || procState(pid) === 'Z');
});
