/**
 * A pool of live-stream clients in its own process (forked by scale-live.ts), so the clients' reading does not run on
 * the bench's event loop that writes the probes. Each client is a real `ws` WebSocket subscribed to everything, like
 * the dashboard. Per message it only scans bytes (no JSON.parse): probe file names carry the time they were written,
 * and `"path":` is counted to prove every client got every file event.
 *
 * IPC: { cmd: 'connect', url, authorization, count } -> { ready }; { cmd: 'start' } (reset counters) -> { started };
 * { cmd: 'report' } -> { report }; { cmd: 'close' } -> exits.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import { WebSocket } from 'ws';

/**
 * Under `chrt -f` (the quiet-machine recipe) the pools must not stay SCHED_FIFO: with more busy FIFO threads than
 * cores, a pool's main thread spins in V8 waiting for its own helper threads, which can never run (FIFO does not
 * share a core among equals). Both pools then held 95 % of a core each for minutes, starving the server (which then
 * looked seconds late). So a pool leaves real time for the normal scheduler at the highest nice, before it connects:
 * real-time server, daemon and rsync first, the clients next, everything else on the machine after them.
 */
function leaveRealTime(): void {
  const policy = Number(fs.readFileSync('/proc/self/stat', 'utf8').split(') ')[1]!.split(' ')[38]);
  if (policy !== 1 && policy !== 2) return; // SCHED_FIFO or SCHED_RR
  spawnSync('chrt', ['--other', '--all-tasks', '--pid', '0', String(process.pid)]);
  for (const tid of fs.readdirSync('/proc/self/task')) {
    try {
      os.setPriority(Number(tid), -20);
    } catch {
      // not allowed: the normal priority then
    }
  }
}

export const PROBE_PREFIX = 'probe-t';
export const PROBE_END = 'probe-end';

interface ClientStats {
  ws: WebSocket;
  paths: number;
  messages: number;
  sawEnd: boolean;
  closed: boolean;
}

const PATH_KEY = Buffer.from('"path":');
const AT_KEY = Buffer.from('"at":"');
const clients: ClientStats[] = [];
let latencies: number[] = [];
/**
 * Each probe's latency split where the server stamped the message: a `session.file` batch's top-level `at` is the
 * moment the fan-out sent it. probe written -> sent is the server's part (log read, ingestion, commit, batching);
 * sent -> received is the delivery (the socket write, the kernel, this pool getting the CPU and reading it).
 */
let toServerSend: number[] = [];
let serverSendToClient: number[] = [];
let closesDuringRun = 0;
let running = false;

const nowMs = () => performance.timeOrigin + performance.now();

function onMessage(c: ClientStats, buf: Buffer): void {
  if (!running) return;
  const now = nowMs();
  c.messages++;
  for (let at = buf.indexOf(PATH_KEY); at !== -1; at = buf.indexOf(PATH_KEY, at + PATH_KEY.length)) c.paths++;
  let sentAt: number | null = null;
  for (let at = buf.indexOf(PROBE_PREFIX); at !== -1; at = buf.indexOf(PROBE_PREFIX, at + PROBE_PREFIX.length)) {
    let end = at + PROBE_PREFIX.length;
    while (end < buf.length && ((buf[end]! >= 0x30 && buf[end]! <= 0x39) || buf[end] === 0x2e)) end++;
    const written = Number(buf.toString('latin1', at + PROBE_PREFIX.length, end));
    latencies.push(now - written);
    if (sentAt === null) {
      const k = buf.indexOf(AT_KEY); // the message's own `at` comes before its data
      sentAt = k === -1 ? Number.NaN : Date.parse(buf.toString('latin1', k + AT_KEY.length, k + AT_KEY.length + 24));
    }
    if (Number.isFinite(sentAt)) {
      toServerSend.push(sentAt - written);
      serverSendToClient.push(now - sentAt);
    }
  }
  if (buf.includes(PROBE_END)) c.sawEnd = true;
}

function connectOne(url: string, authorization: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers: { authorization } });
    const c: ClientStats = { ws, paths: 0, messages: 0, sawEnd: false, closed: false };
    ws.on('message', (raw: Buffer) => onMessage(c, raw));
    ws.on('close', () => {
      c.closed = true;
      if (running) closesDuringRun++;
    });
    ws.once('open', () => {
      clients.push(c);
      resolve();
    });
    ws.once('error', reject);
  });
}

process.on('message', (msg: { cmd: string; url?: string; authorization?: string; count?: number }) => {
  void (async () => {
    if (msg.cmd === 'connect') {
      // here, not at load: scale-live.ts imports this file for its constants, and must keep its own scheduling
      leaveRealTime();
      // A few at a time: a thousand upgrades at once would measure the auth look-ups, not the stream.
      for (let done = 0; done < msg.count!; ) {
        const n = Math.min(25, msg.count! - done);
        await Promise.all(Array.from({ length: n }, () => connectOne(msg.url!, msg.authorization!)));
        done += n;
      }
      process.send!({ ready: clients.length });
    } else if (msg.cmd === 'start') {
      for (const c of clients) {
        c.paths = 0;
        c.messages = 0;
        c.sawEnd = false;
      }
      latencies = [];
      toServerSend = [];
      serverSendToClient = [];
      closesDuringRun = 0;
      running = true;
      process.send!({ started: true });
    } else if (msg.cmd === 'report') {
      process.send!({
        report: {
          latencies,
          toServerSend,
          serverSendToClient,
          paths: clients.map((c) => c.paths),
          messages: clients.reduce((n, c) => n + c.messages, 0),
          sawEnd: clients.filter((c) => c.sawEnd).length,
          open: clients.filter((c) => !c.closed).length,
          closesDuringRun,
        },
      });
    } else if (msg.cmd === 'close') {
      running = false;
      for (const c of clients) c.ws.terminate();
      process.exit(0);
    }
  })().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
});
