/**
 * Hostile review of the rsync launcher (native/rsynchub-spawn.c): descriptors the agent itself inherited without
 * close-on-exec (from whatever started it: a supervisor's lock file, a shell's pipe) must not reach rsync.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as path from 'node:path';

test('launcher: a run holds only its own stdin, stdout and stderr, not descriptors the agent inherited from its parent', async () => {
  const launcherJs = path.join(__dirname, 'rsync-launcher.js');
  // A child agent process that inherits fd 200 (/dev/null opened by a shell: no close-on-exec; node marks only low ones close-on-exec at start), as a supervisor might
  // leave a lock file, and starts one run through the launcher that lists its own descriptors.
  const script = `
    const L = require(${JSON.stringify(launcherJs)});
    let out = '';
    L.startProcess({ exe: '/bin/sh', args: ['-c', 'ls /proc/$$/fd'], cwd: '/', env: process.env, stdin: Buffer.from('x') }, {
      onPid() {}, onStdout(d) { out += d; }, onStderr(d) { process.stderr.write(d); },
      onError(e) { console.log('ERROR ' + e.message); process.exit(1); },
      onClose(code) { console.log(JSON.stringify({ way: L.prepareRsyncSpawn().way, code, fds: out.split(/\\s+/).filter(Boolean).map(Number).sort((a, b) => a - b) })); L.closeRsyncSpawn(); },
    });`;
  const child = spawn('/bin/bash', ['-c', 'exec 200</dev/null; exec "$0" -e "$1"', process.execPath, script], { stdio: ['ignore', 'pipe', 'inherit'] });
  let stdout = '';
  child.stdout!.on('data', (d: Buffer) => { stdout += d.toString(); });
  const code = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
  assert.equal(code, 0, stdout);
  const res = JSON.parse(stdout.trim().split('\n').pop()!) as { way: string; code: number; fds: number[] };
  assert.equal(res.way, 'launcher', 'the run went through the launcher');
  assert.equal(res.code, 0);
  assert.deepEqual(res.fds, [0, 1, 2], `the run's descriptors: ${res.fds.join(' ')}`);
});
