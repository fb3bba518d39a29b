/**
 * Worker thread that writes the burst tree (bench/src/agent.ts). The writes are synchronous, as fast as the file system
 * takes them; in a worker they leave the main thread free to keep polling /proc for rsync processes meanwhile.
 * Protocol: posts { ready } once loaded; on any message writes the burst and posts { startMs, endMs } (epoch ms,
 * sub-millisecond resolution, comparable across threads).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { burstLayout, writeBurst } from './agent-support';

const { root, total } = workerData as { root: string; total: number };
const layout = burstLayout(total);
const port = parentPort!;
port.postMessage({ ready: true });
port.once('message', () => {
  const startMs = performance.timeOrigin + performance.now();
  writeBurst(root, layout);
  const endMs = performance.timeOrigin + performance.now();
  port.postMessage({ startMs, endMs });
  port.close();
});
