/**
 * parseLogLine remembers the last decoded text of each short file-line field and the last converted time, so that a
 * session's lines share them (issue 10, ingestion speed). These tests hold that the memos never hand out a value
 * that belongs to another line: fields that differ in one byte but have the same length, times that differ in one
 * field, escaped and unescaped names, fields longer than the memo keeps. The expected values come from the
 * generator, not from the parser.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseLogLine } from './parse';
import type { FileEvent } from './types';

interface Spec {
  time: string;
  pid: number;
  ip: string;
  host: string;
  module: string;
  user: string;
  itemize: string;
  mtime: string;
  name: string;
}

/** Pools of same-length look-alikes: a memo that compared lengths only, or a prefix, would return the wrong one. */
const IPS = ['10.0.0.1', '10.0.0.2', '10.0.1.1', '::1', 'fe80::1'];
const HOSTS = ['client', 'clienu', 'dlient', 'UNKNOWN'];
const MODULES = ['bench', 'bencx', 'Bench', 'b\u00e9nch', 'x'.repeat(70), 'x'.repeat(69) + 'y'];
const USERS = ['alice', 'alicf', '', 'bob', 'u'.repeat(64), 'u'.repeat(63) + 'v'];
const ITEMIZE = ['>f+++++++++', '>f.st......', 'cd+++++++++', '>f..t......'];
const TIMES = ['2026/11/25 10:00:00', '2026/11/25 10:00:01', '2026/11/25 11:00:00', '2026/12/25 10:00:00', '2027/11/25 10:00:00', '2026/11/26 10:00:00', '2026/11/25 10:01:00'];
const MTIMES = ['2026/11/25-09:59:59', '2026/11/25-09:59:58', '2025/11/25-09:59:59'];
const NAMES = ['a.txt', 'b.txt', 'dir/a.txt', 'with\\#012newline', 'pipe|name', 'tab\tname', '\u00fcn\u00efc\u00f6d\u00e9'];

function line(s: Spec): string {
  return `${s.time} [${s.pid}] recv|${s.ip}|${s.host}|${s.module}|${s.user}|10|20|${s.itemize}|${s.mtime}|${s.name}`;
}

function utc(text: string): number {
  const [d, t] = text.split(/[ -]/) as [string, string];
  const [y, mo, day] = d.split('/').map(Number) as [number, number, number];
  const [h, mi, se] = t.split(':').map(Number) as [number, number, number];
  return Date.UTC(y, mo - 1, day, h, mi, se);
}

/** A tiny deterministic PRNG: the same sequence on every run. */
function random(seed: number): () => number {
  let x = seed;
  return () => {
    x = (x * 1103515245 + 12345) % 2147483648;
    return x / 2147483648;
  };
}

test('file lines in any order: every field and time is the line\'s own, whatever the line before it was', () => {
  const next = random(42);
  const pick = <T>(a: T[]): T => a[Math.floor(next() * a.length)]!;
  for (let i = 0; i < 5000; i++) {
    // Runs of identical fields (the memo's hit case) mixed with changes (its miss case).
    const s: Spec = {
      time: pick(TIMES),
      pid: 100 + Math.floor(next() * 3),
      ip: pick(IPS),
      host: pick(HOSTS),
      module: pick(MODULES),
      user: pick(USERS),
      itemize: pick(ITEMIZE),
      mtime: pick(MTIMES),
      name: pick(NAMES),
    };
    const repeat = 1 + Math.floor(next() * 3);
    for (let r = 0; r < repeat; r++) {
      const e = parseLogLine(Buffer.from(line(s))) as FileEvent;
      assert.equal(e.kind, 'file', line(s));
      assert.equal(e.at.getTime(), utc(s.time), `time of ${line(s)}`);
      assert.equal(e.modTime!.getTime(), utc(s.mtime), `mtime of ${line(s)}`);
      assert.equal(e.pid, s.pid);
      assert.equal(e.ip, s.ip);
      assert.equal(e.host, s.host);
      assert.equal(e.module, s.module);
      assert.equal(e.user, s.user);
      assert.equal(e.itemize, s.itemize);
      const decoded = s.name.replace('\\#012', '\n');
      assert.equal(e.path, decoded);
      assert.deepEqual(e.pathBytes, Buffer.from(decoded));
    }
  }
});

test('a name without escapes is a view of the line (no copy); an escaped one is decoded into its own buffer', () => {
  const plain = Buffer.from(line({ time: TIMES[0]!, pid: 1, ip: IPS[0]!, host: HOSTS[0]!, module: 'm', user: 'u', itemize: ITEMIZE[0]!, mtime: MTIMES[0]!, name: 'plain.txt' }));
  const e = parseLogLine(plain) as FileEvent;
  assert.equal(e.path, 'plain.txt');
  plain[plain.length - 1] = 0x78; // 'x': the view sees it, the decoded string does not
  assert.deepEqual(e.pathBytes, Buffer.from('plain.txx'), 'shares the line\'s memory');
  assert.equal(e.path, 'plain.txt');
  const escaped = Buffer.from(line({ time: TIMES[0]!, pid: 1, ip: IPS[0]!, host: HOSTS[0]!, module: 'm', user: 'u', itemize: ITEMIZE[0]!, mtime: MTIMES[0]!, name: 'a\\#012b' }));
  const f = parseLogLine(escaped) as FileEvent;
  assert.deepEqual(f.pathBytes, Buffer.from('a\nb'));
  escaped.fill(0x79);
  assert.deepEqual(f.pathBytes, Buffer.from('a\nb'), 'a copy of its own');
});

test('lines of one second share one Date; the next second gets its own and the earlier one is unchanged', () => {
  const a = parseLogLine(Buffer.from('2026/11/25 10:00:00 [1] connect from h (1.2.3.4)'))!;
  const b = parseLogLine(Buffer.from('2026/11/25 10:00:00 [2] connect from h (1.2.3.4)'))!;
  const c = parseLogLine(Buffer.from('2026/11/25 10:00:01 [3] connect from h (1.2.3.4)'))!;
  assert.equal(a.at, b.at);
  assert.notEqual(b.at, c.at);
  assert.equal(a.at.toISOString(), '2026-11-25T10:00:00.000Z');
  assert.equal(c.at.toISOString(), '2026-11-25T10:00:01.000Z');
});
