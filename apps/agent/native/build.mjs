// Compiles the agent's native helpers into apps/agent/dist/, next to the compiled agent. Run by `nx run agent:build`
// after tsc. The build does not fail when one cannot be built; the agent falls back and says so at start:
// - rsynchub-inotify.c (the inotify watcher): without a C compiler (or off Linux) the agent uses @parcel/watcher;
// - rsynchub-spawn.c (the rsync launcher): without it the agent starts rsync with node's spawn;
// - rsynchub-tls.c (the TLS connector of `tls: true` remotes, needs OpenSSL's headers: Debian `libssl-dev`): without
//   it the agent relays TLS in-process with node (tls-relay.ts), slower per byte, with the same guarantees;
// - rsynchub-gate.c (the warm standby client's RSYNC_CONNECT_PROG, warm-standby.ts): without it every run starts cold.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
if (process.platform !== 'linux') {
  console.warn("agent: not Linux, native helpers not built (the agent uses @parcel/watcher, node's spawn and its node TLS relay)");
  process.exit(0);
}
const cc = process.env.CC || 'cc';

function build(name, libs, fallback, { dropStale = false } = {}) {
  const src = path.join(here, `${name}.c`);
  const out = path.join(here, '..', 'dist', name);
  try {
    if (fs.statSync(out).mtimeMs >= fs.statSync(src).mtimeMs) return;
  } catch {
    // not built yet
  }
  fs.mkdirSync(path.dirname(out), { recursive: true });
  const r = spawnSync(cc, ['-O2', '-Wall', '-o', `${out}.tmp`, src, ...libs], { stdio: 'inherit' });
  if (r.status !== 0) {
    fs.rmSync(`${out}.tmp`, { force: true });
    // A binary from older source must not run as if it were this one: the fallback named below takes over.
    if (dropStale) fs.rmSync(out, { force: true });
    console.warn(`agent: cannot compile ${src} with ${cc} (${r.error?.message ?? `exit ${r.status}`}); ${fallback}`);
    return;
  }
  fs.renameSync(`${out}.tmp`, out);
}

build('rsynchub-inotify', [], 'the agent will fall back to @parcel/watcher, which cannot report overflows or non-UTF-8 names');
build('rsynchub-spawn', [], 'the agent will start rsync with node\'s spawn, which blocks its event loop several ms per run', { dropStale: true });
build('rsynchub-gate', [], 'the agent will start every rsync run when it is due (no warm standby client)', { dropStale: true });
build('rsynchub-tls', ['-lssl', '-lcrypto'], 'tls: true remotes will use the node relay (slower per byte; install libssl-dev and rebuild for the native one)', { dropStale: true });
