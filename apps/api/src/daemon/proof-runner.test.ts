/**
 * The proof helper (proof-helper.ts, run by ProofRunner): real proofs by the real rsync through it, and what happens
 * when it misbehaves. A proof may pass only on the helper's well-formed answer about the very config sent; a helper
 * that dies, hangs or answers nonsense refuses the proof with an error that says so, and the next proof gets a new one.
 * The misbehaving helpers are small scripts standing in for the helper (the runner under test is real).
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { waitFor } from '@rsynchub/testing';
import { ProofRunner } from './proof-runner';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rh-proof-runner-'));
const runners: ProofRunner[] = [];
after(() => {
  for (const r of runners) r.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

function runner(opts: ConstructorParameters<typeof ProofRunner>[0] = {}): ProofRunner {
  const r = new ProofRunner(opts);
  runners.push(r);
  return r;
}

function script(name: string, body: string): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, body);
  return file;
}

/** Running (a zombie waiting for its parent to reap it counts as gone). */
function alive(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

const GOOD = `use chroot = no\n[good]\n\tpath = ${dir}\n\tread only = yes\n`;
/** The TLS daemon's kind of config: it reads a PROXY line first (the proof sends one, as the TLS listener does). */
const GOOD_TLS = `proxy protocol = yes\nproxy protocol hosts = 127.0.0.1\n${GOOD}`;

test('a config rsync accepts passes through the helper, with its module list; one rsync rejects is refused with its complaint', async () => {
  const r = runner();
  assert.deepEqual(await r.prove('daemon', GOOD, 'rsync', 10_000), { ok: true, modules: ['good'] });
  assert.deepEqual(await r.prove('inetd', GOOD_TLS, 'rsync', 10_000), { ok: true, modules: ['good'] });
  const bad = await r.prove('daemon', `${GOOD}\tno such parameter = 1\n`, 'rsync', 10_000);
  assert.equal(bad.ok, false);
  assert.match((bad as { error: string }).error, /Unknown Parameter/i);
  // Proofs run side by side in one helper, each answered as its own.
  const both = await Promise.all([r.prove('daemon', GOOD, 'rsync', 10_000), r.prove('inetd', `${GOOD_TLS}[other]\n\tpath = ${dir}\n`, 'rsync', 10_000)]);
  assert.deepEqual(both, [{ ok: true, modules: ['good'] }, { ok: true, modules: ['good', 'other'] }]);
  assert.equal(r.started, 1, 'one long-lived helper for all of them');
});

test('a helper killed (kill -9) mid-proof refuses that proof; the next proof starts a new helper and passes', async () => {
  // An rsync that takes its time: the proof is in flight when the helper is killed.
  const started = path.join(dir, 'slow-started');
  const slow = script('slow-rsync', `#!/bin/sh\ntouch '${started}'\nsleep 3\nexec rsync "$@"\n`);
  fs.chmodSync(slow, 0o755);
  const r = runner();
  const pid = r.pid!;
  const proof = r.prove('daemon', GOOD, slow, 10_000);
  await waitFor('the slow proof to start', () => fs.existsSync(started), 10_000);
  process.kill(pid, 'SIGKILL');
  const out = await proof;
  assert.equal(out.ok, false);
  assert.match((out as { error: string }).error, /proof helper ended mid-proof \(signal SIGKILL\)/);
  assert.deepEqual(await r.prove('daemon', GOOD, 'rsync', 10_000), { ok: true, modules: ['good'] });
  assert.equal(r.started, 2);
  assert.notEqual(r.pid, pid);
});

test('a helper that never answers is killed at the deadline and the proof refused', async () => {
  const hung = script('hung.js', `process.on('message', () => {}); process.on('disconnect', () => process.exit(0));\n`);
  const r = runner({ script: hung, graceMs: 200 });
  const pid = r.pid!;
  const t = Date.now();
  const out = await r.prove('daemon', GOOD, 'rsync', 300);
  assert.equal(out.ok, false);
  assert.match((out as { error: string }).error, /did not answer within 500 ms/);
  assert.ok(Date.now() - t < 5_000);
  await waitFor('the hung helper to be gone', () => !alive(pid), 10_000);
});

test('answers that are not a well-formed proof of the config sent refuse the proof (and the helper is replaced)', async () => {
  const cases: [string, string][] = [
    // ok, but about another config (its digest is not the one of the config sent)
    ['other-config', `m.sha256 = require('crypto').createHash('sha256').update('[x]\\n').digest('hex'); process.send({ id: m.id, sha256: m.sha256, ok: true, modules: [] });`],
    // the right digest but "ok" is not the boolean true
    ['ok-string', `process.send({ id: m.id, sha256: digest(m.config), ok: 'yes', modules: [] });`],
    // ok without a module list
    ['no-modules', `process.send({ id: m.id, sha256: digest(m.config), ok: true });`],
    // an answer to a proof nobody asked for
    ['wrong-id', `process.send({ id: m.id + 1000, sha256: digest(m.config), ok: true, modules: [] });`],
    // not an object at all
    ['garbage', `process.send('ok');`],
  ];
  for (const [name, reply] of cases) {
    const fake = script(
      `${name}.js`,
      `const digest = (t) => require('crypto').createHash('sha256').update(t).digest('hex');\nprocess.on('message', (m) => { ${reply} });\nprocess.on('disconnect', () => process.exit(0));\n`,
    );
    const r = runner({ script: fake, graceMs: 5_000 });
    const pid = r.pid!;
    const out = await r.prove('daemon', GOOD, 'rsync', 5_000);
    assert.equal(out.ok, false, name);
    assert.match((out as { error: string }).error, /killed as broken/, name);
    await waitFor(`the broken helper (${name}) to be gone`, () => !alive(pid), 10_000);
  }
});

test('a helper that cannot start refuses the proof with the reason', async () => {
  const r = runner({ script: path.join(dir, 'missing-helper.js') });
  const out = await r.prove('daemon', GOOD, 'rsync', 5_000);
  assert.equal(out.ok, false);
  assert.match((out as { error: string }).error, /proof helper (ended|failed)/);
});

test('the helper does not outlive its server: kill -9 of the server ends it', async () => {
  // A stand-in server: a node process that starts the real helper and reports its pid.
  const server = script(
    'server.js',
    `const { ProofRunner } = require(${JSON.stringify(path.join(__dirname, 'proof-runner.js'))});\n` +
      `const r = new ProofRunner(); console.log(r.pid); setInterval(() => {}, 1000);\n`,
  );
  const child = spawn(process.execPath, [server], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  const helperPid = await waitFor('the stand-in server to report its helper', () => Number(out.trim().split('\n')[0]) || undefined, 20_000);
  assert.ok(alive(helperPid));
  child.kill('SIGKILL');
  await waitFor('the helper to end with its server', () => !alive(helperPid), 10_000);
});
