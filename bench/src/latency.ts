import * as fs from 'node:fs';
import * as path from 'node:path';
import { LiveClient, sleep, startServer } from '@rsynchub/testing';
import { fmt, header, percentile } from './stats';

/** Log line written -> WebSocket message received, for session starts (sent at once) and file events (batched). */
export async function benchLatency(iterations = 300): Promise<void> {
  header(`event latency, log line written -> WebSocket message (${iterations} sessions)`);
  const server = await startServer();
  const live = await LiveClient.connect(server.baseUrl, { authorization: `Bearer ${server.admin.token}` });
  try {
    const logFile = path.join(server.dataDir, 'rsyncd.log');
    const started: number[] = [];
    const files: number[] = [];
    const fd = fs.openSync(logFile, 'a');
    for (let i = 0; i < iterations; i++) {
      // pids far above any real one, so the daemon's own lines never collide
      const pid = 3_000_000 + i;
      const at = new Date().toISOString().replace('T', ' ').replace(/-/g, '/').slice(0, 19);
      const startedMsg = live.next((m) => m.type === 'session.started' && m.data.daemonPid === pid);
      let t = performance.now();
      fs.writeSync(fd, `${at} [${pid}] rsync to bench/ from alice@client (10.1.0.1)\n`);
      await startedMsg;
      started.push(performance.now() - t);
      const fileMsg = live.next((m) => m.type === 'session.file' && m.data.some((f: { path: string }) => f.path === `f-${pid}`));
      t = performance.now();
      fs.writeSync(fd, `${at} [${pid}] recv|10.1.0.1|client|bench|alice|10|10|>f+++++++++|2026/11/25-10:00:00|f-${pid}\n`);
      await fileMsg;
      files.push(performance.now() - t);
      fs.writeSync(fd, `${at} [${pid}] sent 1 bytes  received 10 bytes  total size 10\n`);
      await sleep(5);
    }
    fs.closeSync(fd);
    console.log(`session.started: p50 ${fmt(percentile(started, 50))} ms  p99 ${fmt(percentile(started, 99))} ms  max ${fmt(Math.max(...started))} ms`);
    console.log(`session.file (batched <= 100 ms): p50 ${fmt(percentile(files, 50))} ms  p99 ${fmt(percentile(files, 99))} ms  max ${fmt(Math.max(...files))} ms`);
  } finally {
    live.close();
    await server.stop();
  }
}
