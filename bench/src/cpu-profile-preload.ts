/**
 * Preloaded into a server with `NODE_OPTIONS=--require <this file>` (NODE_OPTIONS refuses --cpu-prof): profiles the
 * whole process with the inspector and writes a `.cpuprofile` (Chrome DevTools format) into BENCH_CPU_PROF_DIR after
 * BENCH_CPU_PROF_SECONDS (default 30) or at exit, whichever comes first.
 */
import * as fs from 'node:fs';
import * as inspector from 'node:inspector';
import * as path from 'node:path';

const dir = process.env.BENCH_CPU_PROF_DIR;
if (dir) {
  const session = new inspector.Session();
  session.connect();
  session.post('Profiler.enable');
  session.post('Profiler.start');
  let written = false;
  const write = () => {
    if (written) return;
    written = true;
    // On the main thread the inspector answers synchronously, so this also completes inside an exit handler.
    session.post('Profiler.stop', (err, result) => {
      if (!err) fs.writeFileSync(path.join(dir, `server-${process.pid}.cpuprofile`), JSON.stringify(result.profile));
    });
  };
  // The server may end by a signal (no 'exit' event): also write after BENCH_CPU_PROF_SECONDS (default 30).
  setTimeout(write, Number(process.env.BENCH_CPU_PROF_SECONDS ?? 30) * 1000).unref();
  process.on('exit', write);
}
