import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { removeLeftoverTemps, writeFilesAtomically } from './atomic-file';

function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'rh-atomic-'));
}

test('writes every file with mode 0600 and leaves no temp files', () => {
  const dir = tempDir();
  const a = path.join(dir, 'rsyncd.secrets');
  const b = path.join(dir, 'rsyncd.conf');
  writeFilesAtomically([
    { file: a, content: 'alice:pw\n' },
    { file: b, content: '[m]\n' },
  ]);
  assert.equal(fs.readFileSync(a, 'utf8'), 'alice:pw\n');
  assert.equal(fs.readFileSync(b, 'utf8'), '[m]\n');
  assert.equal(fs.statSync(a).mode & 0o777, 0o600);
  assert.equal(fs.statSync(b).mode & 0o777, 0o600);
  assert.deepEqual(fs.readdirSync(dir).sort(), ['rsyncd.conf', 'rsyncd.secrets']);
});

test('tightens an existing file that was too open', () => {
  const dir = tempDir();
  const a = path.join(dir, 'rsyncd.secrets');
  fs.writeFileSync(a, 'old\n', { mode: 0o644 });
  writeFilesAtomically([{ file: a, content: 'new\n' }]);
  assert.equal(fs.statSync(a).mode & 0o777, 0o600);
});

test('a rename that fails part-way restores the files already replaced', () => {
  const dir = tempDir();
  const secrets = path.join(dir, 'rsyncd.secrets');
  const conf = path.join(dir, 'rsyncd.conf');
  fs.writeFileSync(secrets, 'alice:old\n', { mode: 0o600 });
  fs.writeFileSync(conf, '[old]\n', { mode: 0o600 });
  // The config's rename fails after the secrets rename happened: rename(2) onto a non-empty directory fails, and
  // the directory appears only once both temp files exist (the last moment before the renames).
  // The module object itself (the namespace import is a read-only view of it).
  const nodeFs = require('node:fs') as { openSync: typeof fs.openSync };
  const realOpen = nodeFs.openSync;
  let temps = 0;
  nodeFs.openSync = ((...args: Parameters<typeof fs.openSync>) => {
    const fd = realOpen(...args);
    if (String(args[0]).endsWith('.tmp') && ++temps === 2) {
      fs.rmSync(conf);
      fs.mkdirSync(conf);
      fs.writeFileSync(path.join(conf, 'keep'), 'x');
    }
    return fd;
  }) as typeof fs.openSync;
  assert.throws(() =>
    writeFilesAtomically([
      { file: secrets, content: 'alice:new\n' },
      { file: conf, content: '[m]\n' },
    ]),
  );
  nodeFs.openSync = realOpen;
  assert.equal(fs.readFileSync(secrets, 'utf8'), 'alice:old\n');
  assert.deepEqual(fs.readdirSync(dir).sort(), ['rsyncd.conf', 'rsyncd.secrets']);
});

test('a target that cannot be read fails before anything is written', () => {
  const dir = tempDir();
  const secrets = path.join(dir, 'rsyncd.secrets');
  const conf = path.join(dir, 'rsyncd.conf');
  fs.writeFileSync(secrets, 'alice:old\n', { mode: 0o600 });
  fs.mkdirSync(conf);
  assert.throws(() =>
    writeFilesAtomically([
      { file: secrets, content: 'alice:new\n' },
      { file: conf, content: '[m]\n' },
    ]),
  );
  assert.equal(fs.readFileSync(secrets, 'utf8'), 'alice:old\n');
  assert.deepEqual(fs.readdirSync(dir).sort(), ['rsyncd.conf', 'rsyncd.secrets']);
});

test('a temp file that cannot be created leaves the previous files untouched', () => {
  const dir = tempDir();
  const secrets = path.join(dir, 'rsyncd.secrets');
  fs.writeFileSync(secrets, 'alice:old\n', { mode: 0o600 });
  assert.throws(() =>
    writeFilesAtomically([
      { file: secrets, content: 'alice:new\n' },
      { file: path.join(dir, 'missing-dir', 'rsyncd.conf'), content: '[m]\n' },
    ]),
  );
  assert.equal(fs.readFileSync(secrets, 'utf8'), 'alice:old\n');
  assert.deepEqual(fs.readdirSync(dir), ['rsyncd.secrets']);
});

test('removeLeftoverTemps removes only the temp files of the given targets', () => {

  const dir = tempDir();
  const conf = path.join(dir, 'rsyncd.conf');
  fs.writeFileSync(conf, '[m]\n');
  const keep = ['rsyncd.conf', '.other.0123456789ab.tmp', '.rsyncd.conf.notatemp', 'rsyncd.conf.0123456789ab.tmp'];
  for (const k of keep.slice(1)) fs.writeFileSync(path.join(dir, k), 'x');
  fs.writeFileSync(path.join(dir, '.rsyncd.conf.0123456789ab.tmp'), 'half');
  fs.writeFileSync(path.join(dir, '.rsyncd.secrets.abcdefabcdef.tmp'), 'alice:pw');
  const removed = removeLeftoverTemps([conf, path.join(dir, 'rsyncd.secrets')]);
  assert.equal(removed.length, 2);
  assert.deepEqual(fs.readdirSync(dir).sort(), [...keep].sort());
});

test('a FIFO or a symlink planted in place of a managed file is replaced without being read (no hang, no write-through)', () => {
  const dir = tempDir();
  const fifo = path.join(dir, 'rsyncd.motd');
  execFileSync('mkfifo', [fifo]); // reading it would block the event loop until someone writes into it
  const elsewhere = path.join(dir, 'elsewhere.txt');
  fs.writeFileSync(elsewhere, 'not ours\n');
  const link = path.join(dir, 'rsyncd.conf');
  fs.symlinkSync(elsewhere, link);
  writeFilesAtomically([
    { file: fifo, content: 'hello\n' },
    { file: link, content: '[m]\n' },
  ]);
  assert.ok(fs.lstatSync(fifo).isFile());
  assert.equal(fs.readFileSync(fifo, 'utf8'), 'hello\n');
  assert.ok(fs.lstatSync(link).isFile(), 'the link itself is replaced');
  assert.equal(fs.readFileSync(elsewhere, 'utf8'), 'not ours\n', 'the link target is untouched');
});
