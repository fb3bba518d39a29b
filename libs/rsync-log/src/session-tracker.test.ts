import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseLogLine } from './parse';
import { emptyEffects, SessionTracker, TrackedSession } from './session-tracker';
import { splitLogLines } from './split';

const FIXTURE = fs.readFileSync(path.join(__dirname, '../src/fixtures/rsync-3.5.0-daemon.log'));

function runFixture(): { tracker: SessionTracker; fx: ReturnType<typeof emptyEffects> } {
  const tracker = new SessionTracker();
  const fx = emptyEffects();
  for (const l of splitLogLines(FIXTURE)) {
    const e = parseLogLine(l.line);
    if (e) tracker.apply(e, fx);
  }
  return { tracker, fx };
}

test('every connection of the captured daemon log becomes the right session', () => {
  const { tracker, fx } = runFixture();
  const rows = fx.inserted.map((s) => [s.module, s.user, s.direction, s.status, s.fileCount, s.dirCount, s.deletedCount, s.exitCode, s.error]);
  // [module, user, direction, status, files (regular), directories, deletions, exit code, error] per connection, in log order
  assert.deepEqual(rows, [
    ['rw', 'alice', 'push', 'success', 15, 3, 0, null, null],
    ['rw', 'alice', 'push', 'success', 0, 1, 6, null, null], // the --delete push: only the root's times changed
    ['rw', 'alice', 'pull', 'success', 11, 1, 0, null, null],
    // One of the two requested files did not exist: the client exits 23, the daemon logs only the error line.
    ['rw', 'alice', 'pull', 'error', 1, 0, 0, 23, 'link_stat "a|b|c" (in rw) failed: No such file or directory (2)'],
    ['rw', 'alice', 'pull', 'success', 1, 0, 0, null, null],
    ['ro', '', 'pull', 'success', 2, 1, 0, null, null],
    ['rw', 'alice', null, 'auth_failed', 0, 0, 0, null, 'password mismatch'],
    ['rw', 'mallory', null, 'auth_failed', 0, 0, 0, null, 'no matching rule'],
    ['nosuchmodule', null, null, 'refused', 0, 0, 0, null, 'unknown module'],
    ["no such' tried from fake (6.6.6.6)", null, null, 'refused', 0, 0, 0, null, 'unknown module'],
    ['denied', null, null, 'refused', 0, 0, 0, null, 'access denied by hosts allow/deny'],
    ['ro', '', 'push', 'error', 0, 0, 0, 1, 'module is read only'],
    // Killed mid-pull: the exit code (10) is logged after the totals line.
    ['one', '', 'pull', 'error', 0, 1, 0, 10, 'write error: Broken pipe (32)'],
    ['one', null, null, 'refused', 0, 0, 0, null, 'max connections (1) reached'],
    ['rw', 'alice', 'push', 'error', 0, 1, 0, 12, 'connection unexpectedly closed (157 bytes received so far)'],
  ]);
  assert.equal(tracker.openSessions.length, 0, 'every session was closed by the log itself');
  assert.equal(fx.files.length, fx.inserted.reduce((n, s) => n + s.fileCount + s.dirCount + s.deletedCount, 0), 'one file event per file line');
});

test('totals give the byte counts from the daemon side', () => {
  const { fx } = runFixture();
  const push = fx.inserted[0]!;
  assert.ok(push.bytesReceived > 100_000, 'the first push uploaded ~100 kB');
  const pull = fx.inserted[2]!;
  assert.ok(pull.bytesSent > 100_000 && pull.bytesReceived < 1000);
  assert.ok(push.endedAt && push.endedAt >= push.startedAt);
});

test('the timeline orders started, files and ended for each session', () => {
  const { fx } = runFixture();
  const first = fx.inserted[0]!;
  const events = fx.timeline.filter((t) => ('session' in t ? t.session : t.file.session) === first).map((t) => t.type);
  assert.equal(events[0], 'started');
  assert.equal(events[events.length - 1], 'ended');
  assert.deepEqual(new Set(events.slice(1, -1)), new Set(['file']));
  const authFailures = fx.timeline.filter((t) => t.type === 'auth.failed');
  assert.equal(authFailures.length, 2);
});

test('refused connections (unknown module, host rules, max connections) end on the timeline, so they show live', () => {
  const { fx } = runFixture();
  const refused = fx.inserted.filter((s) => s.status === 'refused');
  assert.equal(refused.length, 4);
  for (const s of refused) assert.ok(fx.timeline.some((t) => t.type === 'ended' && t.session === s), `${s.module}: ${s.error}`);
});

test('while a session runs, its bytes are the sum of the logged files; at the end, the daemon totals', () => {
  const tracker = new SessionTracker();
  const fx = emptyEffects();
  const feed = (msg: string) => tracker.apply(parseLogLine(line(43, msg))!, fx);
  feed('rsync to rw/ from alice@localhost (127.0.0.1)');
  feed('recv|127.0.0.1|localhost|rw|alice|4096|0|cd+++++++++|2026/11/25-12:00:00|sub');
  feed('recv|127.0.0.1|localhost|rw|alice|1000|900|>f+++++++++|2026/11/25-12:00:00|sub/a');
  const s = fx.inserted[0]!;
  assert.deepEqual([s.status, s.bytesReceived, s.fileCount, s.dirCount], ['active', 900, 1, 1]);
  feed('recv|127.0.0.1|localhost|rw|alice|2000|1500|>f.st......|2026/11/25-12:00:00|sub/b');
  feed('recv|127.0.0.1|localhost|rw|alice|10|0|cL+++++++++|2026/11/25-12:00:00|sub/link');
  assert.deepEqual([s.bytesReceived, s.fileCount, s.dirCount], [2400, 2, 1], 'a symlink is neither a file nor a directory');
  feed('sent 99 bytes  received 2600 bytes  total size 3000');
  assert.deepEqual([s.status, s.bytesReceived, s.bytesSent, s.fileCount], ['success', 2600, 99, 2]);
});

function line(pid: number, msg: string, time = '12:00:00'): Buffer {
  return Buffer.from(`2026/11/25 ${time} [${pid}] ${msg}`);
}
const FORMAT = (op: string, p: string) => `${op}|127.0.0.1|localhost|rw|alice|5|5|>f+++++++++|2026/11/25-12:00:00|${p}`;

test('a session whose process vanished without totals is closed as an error, but only once quiet and gone', () => {
  const tracker = new SessionTracker();
  const fx = emptyEffects();
  for (const l of [line(42, 'connect from localhost (127.0.0.1)'), line(42, 'rsync to rw/ from alice@localhost (127.0.0.1)'), line(42, FORMAT('recv', 'a'))]) {
    tracker.apply(parseLogLine(l)!, fx, 1000);
  }
  const s = fx.inserted[0]!;
  const later = emptyEffects();
  tracker.closeVanished(() => true, 10_000, 2000, later);
  assert.equal(s.status, 'active', 'alive: kept open');
  tracker.closeVanished(() => false, 2500, 2000, later);
  assert.equal(s.status, 'active', 'not quiet long enough');
  tracker.closeVanished(() => false, 10_000, 2000, later);
  assert.equal(s.status, 'error');
  assert.equal(s.error, 'connection ended without a summary');
  assert.deepEqual(later.timeline.map((t) => t.type), ['ended']);
});

test('a tracker rebuilt from stored open sessions continues them (restart)', () => {
  const stored: TrackedSession = {
    id: 7, daemonPid: 42, module: 'rw', user: 'alice', clientIp: '127.0.0.1', clientHost: 'localhost', direction: 'push',
    startedAt: new Date(), endedAt: null, bytesReceived: 0, bytesSent: 0, totalSize: 0, fileCount: 3, dirCount: 0, deletedCount: 0,
    status: 'active', exitCode: null, error: null, lastActivity: 0,
  };
  const tracker = new SessionTracker([stored]);
  const fx = emptyEffects();
  tracker.apply(parseLogLine(line(42, FORMAT('recv', 'b')))!, fx);
  tracker.apply(parseLogLine(line(42, 'sent 10 bytes  received 99 bytes  total size 5'))!, fx);
  assert.equal(fx.inserted.length, 0, 'no duplicate session');
  assert.ok(fx.updated.has(stored));
  assert.equal(stored.fileCount, 4);
  assert.equal(stored.status, 'success');
  assert.equal(stored.bytesReceived, 99);
});

test("the listener's own totals line at shutdown creates nothing", () => {
  const tracker = new SessionTracker();
  const fx = emptyEffects();
  tracker.apply(parseLogLine(line(1, 'sent 0 bytes  received 0 bytes  total size 0'))!, fx);
  assert.deepEqual(fx.inserted, []);
  assert.deepEqual(fx.timeline, []);
});

test('a reused pid closes the stale session it left open', () => {
  const tracker = new SessionTracker();
  const fx = emptyEffects();
  tracker.apply(parseLogLine(line(42, 'rsync to rw/ from alice@localhost (127.0.0.1)'))!, fx);
  tracker.apply(parseLogLine(line(42, 'connect from localhost (127.0.0.1)'))!, fx);
  tracker.apply(parseLogLine(line(42, 'rsync to rw/ from alice@localhost (127.0.0.1)'))!, fx);
  assert.equal(fx.inserted.length, 2);
  assert.equal(fx.inserted[0]!.status, 'error');
  assert.equal(fx.inserted[1]!.status, 'active');
});
