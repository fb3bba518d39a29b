// Compiles the agent's native helpers into apps/agent/dist/, next to the compiled agent: the inotify watcher
// (rsynchub-inotify.c) and the rsync launcher (rsynchub-spawn.c). Run by `nx run agent:build` after tsc. Without a C
// compiler (or off Linux) the agent falls back to @parcel/watcher and to node's spawn, and says so at start; the build
// does not fail for that.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const cc = process.env.CC || 'cc';
const helpers = [
  ['rsynchub-inotify', 'the agent will fall back to @parcel/watcher, which cannot report overflows or non-UTF-8 names'],
  ['rsynchub-spawn', 'the agent will start rsync with node\'s spawn, which blocks its event loop several ms per run'],
];
if (process.platform !== 'linux') {
  console.warn('agent: not Linux, native helpers not built (the agent uses @parcel/watcher and node\'s spawn)');
  process.exit(0);
}
for (const [name, fallback] of helpers) {
  const src = path.join(here, `${name}.c`);
  const out = path.join(here, '..', 'dist', name);
  try {
    if (fs.statSync(out).mtimeMs >= fs.statSync(src).mtimeMs) continue;
  } catch {
    // not built yet
  }
  fs.mkdirSync(path.dirname(out), { recursive: true });
  const r = spawnSync(cc, ['-O2', '-Wall', '-o', `${out}.tmp`, src], { stdio: 'inherit' });
  if (r.status !== 0) {
    console.warn(`agent: cannot compile ${src} with ${cc} (${r.error?.message ?? `exit ${r.status}`}); ${fallback}`);
    continue;
  }
  fs.renameSync(`${out}.tmp`, out);
}
