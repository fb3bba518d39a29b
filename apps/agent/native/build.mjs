// Compiles the agent's inotify helper (rsynchub-inotify.c) into apps/agent/dist/, next to the compiled agent.
// Run by `nx run agent:build` after tsc. Without a C compiler (or off Linux) the agent falls back to @parcel/watcher
// and says so at start; the build does not fail for that.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const src = path.join(here, 'rsynchub-inotify.c');
const out = path.join(here, '..', 'dist', 'rsynchub-inotify');
if (process.platform !== 'linux') {
  console.warn('agent: not Linux, inotify helper not built (the agent uses @parcel/watcher)');
  process.exit(0);
}
try {
  if (fs.statSync(out).mtimeMs >= fs.statSync(src).mtimeMs) process.exit(0);
} catch {
  // not built yet
}
fs.mkdirSync(path.dirname(out), { recursive: true });
const cc = process.env.CC || 'cc';
const r = spawnSync(cc, ['-O2', '-Wall', '-o', `${out}.tmp`, src], { stdio: 'inherit' });
if (r.status !== 0) {
  console.warn(`agent: cannot compile ${src} with ${cc} (${r.error?.message ?? `exit ${r.status}`}); the agent will fall back to @parcel/watcher, which cannot report overflows or non-UTF-8 names`);
  process.exit(0);
}
fs.renameSync(`${out}.tmp`, out);
