// Compiles the server's native TLS front (rsynchub-tls-front.c) into apps/api/dist/, next to the compiled API. Run by
// `nx run api:build` after tsc. It needs a C compiler and OpenSSL's headers (Debian gcc + libssl-dev, which
// apps/api/tools/prestart.mjs installs as root for the agent's connector already). The build does not fail without
// them: the server then terminates TLS in Node (tls-front.ts, slower per byte and per connection) and says so in its
// log and in GET /api/v1/tls (`front: "node"`).
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const name = 'rsynchub-tls-front';
const out = path.join(here, '..', 'dist', name);
if (process.platform !== 'linux') {
  console.warn('api: not Linux, the native TLS front is not built (the server terminates TLS in Node)');
  process.exit(0);
}
const src = path.join(here, `${name}.c`);
try {
  if (fs.statSync(out).mtimeMs >= fs.statSync(src).mtimeMs) process.exit(0);
} catch {
  // not built yet
}
const cc = process.env.CC || 'cc';
fs.mkdirSync(path.dirname(out), { recursive: true });
const r = spawnSync(cc, ['-O2', '-Wall', '-o', `${out}.tmp`, src, '-lssl', '-lcrypto'], { stdio: 'inherit' });
if (r.status !== 0) {
  fs.rmSync(`${out}.tmp`, { force: true });
  // A binary from older source must not run as if it were this one: the Node front takes over.
  fs.rmSync(out, { force: true });
  console.warn(`api: cannot compile ${src} with ${cc} (${r.error?.message ?? `exit ${r.status}`}); the server will terminate TLS in Node (slower; install gcc and libssl-dev and rebuild for the native front)`);
  process.exit(0);
}
fs.renameSync(`${out}.tmp`, out);
