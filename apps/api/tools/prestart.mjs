#!/usr/bin/env node
// Brings a fresh clone to the point where `npm start` / `npm test` can run: checks Node, installs the npm
// dependencies when they are missing or stale, and makes sure the system packages exist (rsync >= 3.5.0; for
// tests also Debian's chromium). As root on Debian it installs them with apt-get; otherwise it says exactly what
// to install and stops. Plain Node with no dependencies: it runs before `npm ci`.
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const forTests = process.argv.includes('--for-tests');
const MIN_NODE = [20, 19, 0];
const MIN_RSYNC = [3, 5, 0];

function say(msg) {
  console.log(`[rsynchub] ${msg}`);
}
function fail(msg) {
  console.error(`[rsynchub] ${msg}`);
  process.exit(1);
}
function cmp(a, b) {
  for (let i = 0; i < 3; i++) if ((a[i] ?? 0) !== (b[i] ?? 0)) return (a[i] ?? 0) < (b[i] ?? 0) ? -1 : 1;
  return 0;
}
function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { stdio: 'inherit', cwd: root, ...opts });
  if (r.status !== 0) fail(`"${cmd} ${args.join(' ')}" failed (exit ${r.status ?? r.signal})`);
}

// 1. Node
const nodeVersion = process.versions.node.split('.').map(Number);
if (cmp(nodeVersion, MIN_NODE) < 0) fail(`Node.js ${process.versions.node} is too old: RsyncHub needs Node.js >= 20.19 (and < 22 for Angular 21's toolchain as pinned here).`);

// 2. npm dependencies: installed when node_modules is missing or older than the lock file.
const lock = path.join(root, 'package-lock.json');
const installedLock = path.join(root, 'node_modules', '.package-lock.json');
if (!fs.existsSync(installedLock) || fs.statSync(installedLock).mtimeMs < fs.statSync(lock).mtimeMs) {
  say('installing npm dependencies (npm ci)...');
  run('npm', ['ci', '--no-audit', '--no-fund']);
}

// 3. System packages
const isRoot = process.getuid?.() === 0;
const hasApt = fs.existsSync('/usr/bin/apt-get');
let aptUpdated = false;
function aptInstall(pkgs) {
  if (!aptUpdated) {
    say('apt-get update...');
    run('apt-get', ['update', '-qq']);
    aptUpdated = true;
  }
  say(`apt-get install ${pkgs.join(' ')}...`);
  run('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...pkgs], { env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
}
function rsyncVersion() {
  try {
    const out = execFileSync('rsync', ['--version'], { encoding: 'utf8' });
    const m = /version\s+v?(\d+)\.(\d+)\.(\d+)/.exec(out);
    return m ? [Number(m[1]), Number(m[2]), Number(m[3])] : null;
  } catch {
    return null;
  }
}

const wanted = [];
const v = rsyncVersion();
if (!v || cmp(v, MIN_RSYNC) < 0) wanted.push({ pkg: 'rsync', why: v ? `rsync ${v.join('.')} is older than 3.5.0` : 'rsync is not installed' });
if (forTests && !fs.existsSync('/usr/bin/chromium')) wanted.push({ pkg: 'chromium', why: 'the browser tests need Debian\'s chromium at /usr/bin/chromium' });

if (wanted.length > 0) {
  if (isRoot && hasApt) {
    aptInstall(wanted.map((w) => w.pkg));
    const after = rsyncVersion();
    if (!after || cmp(after, MIN_RSYNC) < 0) {
      fail(`apt-get installed rsync ${after ? after.join('.') : '(none)'}, but RsyncHub needs rsync >= 3.5.0 (Debian 12 has it in bookworm-security: make sure that suite is in your apt sources).`);
    }
  } else {
    for (const w of wanted) console.error(`[rsynchub] ${w.why}.`);
    fail(`Install ${wanted.map((w) => (w.pkg === 'rsync' ? '"rsync" (version 3.5.0 or newer)' : `"${w.pkg}"`)).join(' and ')} and run this again, e.g.: sudo apt-get install ${wanted.map((w) => w.pkg).join(' ')}`);
  }
}
