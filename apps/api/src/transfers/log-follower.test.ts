import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { FilePosition, LogFollower } from './log-follower';

function setup(): { dir: string; file: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rh-follow-'));
  return { dir, file: path.join(dir, 'rsyncd.log') };
}

const text = (r: { lines: { line: Buffer }[] }) => r.lines.map((l) => l.line.toString());

test('returns complete lines only, keeping a partial last line for the next read', () => {
  const { file } = setup();
  fs.writeFileSync(file, 'one\ntwo\nthr');
  const f = new LogFollower(file, []);
  const first = f.read();
  assert.deepEqual(text(first), ['one', 'two']);
  assert.equal(first.positions[0]!.offset, 8, 'the stored offset stops after the last complete line');
  fs.appendFileSync(file, 'ee\n');
  assert.deepEqual(text(f.read()), ['three']);
  assert.deepEqual(text(f.read()), []);
});

test('rotation by rename: the renamed file is drained and the new one read from its start', () => {
  const { file } = setup();
  fs.writeFileSync(file, 'a1\n');
  const f = new LogFollower(file, []);
  assert.deepEqual(text(f.read()), ['a1']);
  fs.renameSync(file, `${file}.1`);
  fs.writeFileSync(file, 'b1\n');
  // A connection that started before the rotation still writes to the renamed file.
  fs.appendFileSync(`${file}.1`, 'a2\n');
  assert.deepEqual(text(f.read()).sort(), ['a2', 'b1']);
  assert.equal(f.drainingCount, 1);
  fs.appendFileSync(`${file}.1`, 'a3\n');
  fs.appendFileSync(file, 'b2\n');
  assert.deepEqual(text(f.read()).sort(), ['a3', 'b2']);
  f.dropQuietDrained(0);
  assert.equal(f.drainingCount, 0, 'a quiet, fully read renamed file is let go');
});

test('truncation in place (copytruncate) restarts from the beginning', () => {
  const { file } = setup();
  fs.writeFileSync(file, 'old1\nold2\n');
  const f = new LogFollower(file, []);
  assert.deepEqual(text(f.read()), ['old1', 'old2']);
  fs.truncateSync(file, 0);
  fs.appendFileSync(file, 'new1\n');
  assert.deepEqual(text(f.read()), ['new1']);
});

test('a restart resumes every file at its stored offset: nothing repeated, nothing skipped', () => {
  const { file } = setup();
  fs.writeFileSync(file, 'a1\na2\n');
  const first = new LogFollower(file, []);
  assert.deepEqual(text(first.read()), ['a1', 'a2']);
  fs.renameSync(file, `${file}.1`);
  fs.writeFileSync(file, 'b1\n');
  const { positions } = first.read();
  first.close();
  // While the server is down: both files get more lines.
  fs.appendFileSync(`${file}.1`, 'a3\n');
  fs.appendFileSync(file, 'b2\n');
  const stored: FilePosition[] = JSON.parse(JSON.stringify(positions));
  const second = new LogFollower(file, stored);
  assert.deepEqual(text(second.read()).sort(), ['a3', 'b2']);
});

test('a stored file renamed while down is found beside the log by its inode', () => {
  const { file } = setup();
  fs.writeFileSync(file, 'a1\n');
  const first = new LogFollower(file, []);
  const { positions } = first.read();
  first.close();
  fs.appendFileSync(file, 'a2\n');
  fs.renameSync(file, `${file}.1`);
  fs.writeFileSync(file, 'b1\n');
  const second = new LogFollower(file, positions);
  assert.deepEqual(text(second.read()).sort(), ['a2', 'b1']);
});
