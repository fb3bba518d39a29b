#!/usr/bin/env node
// Brings a fresh clone to the point where `npm start` / `npm test` can run: checks Node, installs the npm
// dependencies when they are missing or stale, and makes sure the system packages exist (rsync >= 3.5.0; a C
// compiler for the agent's inotify helper, gcc + libc6-dev; for tests also Debian's chromium and stunnel4). As root on Debian it installs them with apt-get; otherwise it says exactly what
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

// The source agent's inotify helper (apps/agent/native/rsynchub-inotify.c) is compiled by the build with `cc` (or $CC).
// Without a working C compiler the build still succeeds but the agent falls back to @parcel/watcher, which misses
// changes the helper sees: the test suite would then test the fallback, so a compiler is required for tests.
const CC_PROBE = '#include <sys/inotify.h>\nint main(void) { return inotify_init1(IN_CLOEXEC) < 0; }\n';
function ccWorks() {
  if (process.platform !== 'linux') return true; // the helper is Linux-only; elsewhere the agent uses the fallback
  const r = spawnSync(process.env.CC || 'cc', ['-x', 'c', '-o', '/dev/null', '-'], { input: CC_PROBE, stdio: ['pipe', 'ignore', 'ignore'] });
  return r.status === 0;
}

// The server's native TLS front (apps/api/native/rsynchub-tls-front.c) and the agent's native TLS connector
// (apps/agent/native/rsynchub-tls.c) need OpenSSL's headers (Debian libssl-dev). Without them the build still succeeds:
// the server terminates TLS in Node and TLS remotes use the node relay (both slower per byte); the tests prove the
// native ones, so they need the headers.
const SSL_PROBE = '#include <openssl/ssl.h>\nint main(void) { return SSL_CTX_new(TLS_client_method()) == 0; }\n';
function sslDevWorks() {
  if (process.platform !== 'linux') return true;
  const r = spawnSync(process.env.CC || 'cc', ['-x', 'c', '-o', '/dev/null', '-', '-lssl', '-lcrypto'], { input: SSL_PROBE, stdio: ['pipe', 'ignore', 'ignore'] });
  return r.status === 0;
}

const wanted = [];
const v = rsyncVersion();
if (!v || cmp(v, MIN_RSYNC) < 0) wanted.push({ pkg: 'rsync', why: v ? `rsync ${v.join('.')} is older than 3.5.0` : 'rsync is not installed' });
if (forTests && !fs.existsSync('/usr/bin/chromium')) wanted.push({ pkg: 'chromium', why: 'the browser tests need Debian\'s chromium at /usr/bin/chromium' });
if (forTests && !fs.existsSync('/usr/bin/stunnel4')) wanted.push({ pkg: 'stunnel4', why: 'the agent\'s client-certificate tests put Debian\'s stunnel4 (/usr/bin/stunnel4) in front of a daemon as the TLS terminator' });
const hasCc = ccWorks();
if (!hasCc && (forTests || (isRoot && hasApt))) {
  wanted.push({ pkg: 'gcc', why: 'no working C compiler (cc): the agent\'s inotify helper cannot be built' });
  wanted.push({ pkg: 'libc6-dev', why: 'the C headers (sys/inotify.h) come with libc6-dev' });
} else if (!hasCc) {
  say('no working C compiler (cc): the source agent built here falls back to @parcel/watcher (no overflow reports, no non-UTF-8 names). To build its inotify helper: apt-get install gcc libc6-dev');
}
const hasSslDev = !hasCc || sslDevWorks();
if (!hasSslDev && (forTests || (isRoot && hasApt))) {
  wanted.push({ pkg: 'libssl-dev', why: 'no OpenSSL headers (openssl/ssl.h): the server\'s native TLS front and the agent\'s native TLS connector cannot be built' });
} else if (!hasSslDev) {
  say('no OpenSSL headers: the server built here terminates TLS in Node and the source agent relays TLS with node (both slower per byte). To build the native TLS front and connector: apt-get install libssl-dev');
}
if (!hasCc && (forTests || (isRoot && hasApt))) wanted.push({ pkg: 'libssl-dev', why: 'the server\'s native TLS front and the agent\'s native TLS connector need OpenSSL\'s headers' });

if (wanted.length > 0) {
  if (isRoot && hasApt) {
    aptInstall(wanted.map((w) => w.pkg));
    if (!hasCc && !ccWorks()) fail('apt-get installed gcc, but "cc" still cannot compile a C program with <sys/inotify.h>; the agent\'s inotify helper needs it.');
    const after = rsyncVersion();
    if (!after || cmp(after, MIN_RSYNC) < 0) {
      fail(`apt-get installed rsync ${after ? after.join('.') : '(none)'}, but RsyncHub needs rsync >= 3.5.0 (Debian 12 has it in bookworm-security: make sure that suite is in your apt sources).`);
    }
  } else {
    for (const w of wanted) console.error(`[rsynchub] ${w.why}.`);
    fail(`Install ${wanted.map((w) => (w.pkg === 'rsync' ? '"rsync" (version 3.5.0 or newer)' : `"${w.pkg}"`)).join(' and ')} and run this again, e.g.: sudo apt-get install ${wanted.map((w) => w.pkg).join(' ')}`);
  }
}
