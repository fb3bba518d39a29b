/**
 * A pool of live-stream clients in its own process (forked by scale-live.ts), so the clients' reading does not run on
 * the bench's event loop that writes the probes. Each client is a real WebSocket connection subscribed to everything,
 * like the dashboard, but read as raw frames over a plain TCP socket. Like a browser, it offers permessage-deflate
 * (Chromium's offer: `permessage-deflate; client_max_window_bits`), unless BENCH_LIVE_DEFLATE=0.
 *
 * Per frame, a client reads the header and the first bytes of the payload, records (id or fingerprint, arrival time,
 * size) and skips the rest. No message assembly, no UTF-8 validation, no JSON, no inflating: per client and frame
 * O(1), so what 1,000 clients cost this machine is mostly the kernel's copy of the bytes, not JavaScript.
 * - A plain frame's first bytes hold the message's `"id":`.
 * - A compressed frame (RSV1) is recorded by its fingerprint: its size and a CRC-32 of its first compressed bytes. The
 *   server deflates each message once for every client, so every client gets the same bytes; the full reader maps a
 *   fingerprint to the message id.
 *
 * One client per pool (the first) is the "full reader". It reads every payload in full and inflates the compressed ones
 * on its own, as a browser does. It finds the probes (their file names carry the time they were written), the server's
 * send time (a `session.file` batch's top-level `at`) and counts `"path":`. The others are checked against it: every
 * client subscribes to the same filter, so the server sends all of them the same frames; a client whose frames from
 * the first probe on differ in number or bytes missed something.
 *
 * IPC: { cmd: 'connect', url, authorization, count } -> { ready }; { cmd: 'start' } (reset counters) -> { started };
 * { cmd: 'status' } -> { status: { sawEnd, open } }; { cmd: 'report' } -> { report }; { cmd: 'close' } -> exits.
 */
import { spawnSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import * as zlib from 'node:zlib';
import { inflateMessage } from '@rsynchub/testing';

/**
 * Under `chrt -f` (the quiet-machine recipe) the pools must not stay SCHED_FIFO at the server's priority: with more
 * busy FIFO threads than cores, a pool's main thread spins in V8 waiting for its own helper threads, which can never
 * run (FIFO does not share a core among equals), and the server starves. Left to the normal scheduler instead, on a
 * loaded machine the pools waited seconds for a CPU (a 2.3 s round: 5.7 s runnable and waiting, event loop delay p99
 * 0.9 s), which the latency then showed. So a pool takes SCHED_RR at priority 1, all its threads: below the real-time
 * server, daemon and rsync (which preempt it), above everything else on the machine, and time-sliced among its own
 * threads (RR), so a spinning main thread yields to its helpers.
 */
function belowServer(): void {
  const policy = Number(fs.readFileSync('/proc/self/stat', 'utf8').split(') ')[1]!.split(' ')[38]);
  if (policy !== 1 && policy !== 2) return; // not real time: the bench runs without chrt, nothing to do
  spawnSync('chrt', ['--rr', '--all-tasks', '--pid', '1', String(process.pid)]);
}

export const PROBE_PREFIX = 'probe-t';
export const PROBE_END = 'probe-end';

/** What a pool tells the bench. Latency samples are per client and probe; the splits come from the full reader. */
export interface PoolReport {
  latencies: number[];
  toServerSend: number[];
  serverSendToClient: number[];
  /** `"path":` counted by the full reader. */
  fullReaderPaths: number;
  /** Clients whose frames from the first probe on differ from the full reader's (in number or bytes). */
  incomplete: number;
  /** Frames whose id was not above the one before (the stream's ids only increase). */
  outOfOrder: number;
  /** Clients whose handshake agreed to permessage-deflate. */
  deflateClients: number;
  /** What the full reader got while running: payload bytes on the wire, and the JSON they carried. */
  fullReaderWireBytes: number;
  fullReaderJsonBytes: number;
  messages: number;
  sawEnd: number;
  open: number;
  closesDuringRun: number;
  /** This pool's event loop delay while running, ms: how long a frame that had arrived could wait for JavaScript. */
  loopDelayP50: number;
  loopDelayP99: number;
}

const PATH_KEY = Buffer.from('"path":');
const AT_KEY = Buffer.from('"at":"');
const ID_KEY = Buffer.from('"id":');
/**
 * How much of each payload a client keeps: enough for `{"type":"session.progress","id":<16 digits>` in a plain frame,
 * and, in a compressed one, for a fingerprint that covers the deflate block's header and the message's id.
 */
const HEAD_BYTES = 256;
/** Offered as Chromium does, unless BENCH_LIVE_DEFLATE=0 (then every frame comes plain, as before deflate). */
const OFFER_DEFLATE = process.env.BENCH_LIVE_DEFLATE !== '0';
/** In FrameLog.ids: a compressed frame, whose id the full reader knows by the frame's fingerprint (FrameLog.keys). */
const BY_KEY = -2;

/** A compressed frame's fingerprint: its size and a CRC-32 of its first bytes, one number. */
function fingerprint(size: number, head: Buffer, headLen: number): number {
  return zlib.crc32(head.subarray(0, headLen)) * 1_048_576 + (size % 1_048_576);
}

/** Message ids by compressed frames' fingerprints, from the full readers. */
const idByKey = new Map<number, number>();

/**
 * The frames one client got while running: id (or BY_KEY and the fingerprint), arrival (ms since the epoch), payload
 * size; grown by doubling.
 */
class FrameLog {
  ids = new Float64Array(1024);
  keys = new Float64Array(1024);
  times = new Float64Array(1024);
  sizes = new Float64Array(1024);
  length = 0;
  /** The message id of frame k (-1: none known). */
  id(k: number): number {
    const id = this.ids[k]!;
    return id === BY_KEY ? (idByKey.get(this.keys[k]!) ?? -1) : id;
  }
  push(id: number, key: number, time: number, size: number): void {
    if (this.length === this.ids.length) {
      const grow = (a: Float64Array) => {
        const b = new Float64Array(a.length * 2);
        b.set(a);
        return b;
      };
      this.ids = grow(this.ids);
      this.keys = grow(this.keys);
      this.times = grow(this.times);
      this.sizes = grow(this.sizes);
    }
    this.ids[this.length] = id;
    this.keys[this.length] = key;
    this.times[this.length] = time;
    this.sizes[this.length] = size;
    this.length++;
  }
}

interface Client {
  socket: net.Socket;
  full: boolean;
  /** The handshake agreed to permessage-deflate. */
  deflate: boolean;
  frames: FrameLog;
  closed: boolean;
  // frame parser state
  header: Buffer;
  headerLen: number;
  /** Payload bytes of the current frame still to come (-1: reading a header). */
  remaining: number;
  payloadSize: number;
  opcode: number;
  rsv1: boolean;
  head: Buffer;
  headLen: number;
  /** The full reader's payload parts of the current frame. */
  parts: Buffer[];
}

/** Per frame id, from the full readers: probes' write times and the server's send time. */
const probesById = new Map<number, number[]>();
const sentAtById = new Map<number, number>();
let fullReaderPaths = 0;
/** The full readers' bytes while running: on the wire, and inflated. */
let fullReaderWireBytes = 0;
let fullReaderJsonBytes = 0;
const clients: Client[] = [];
let closesDuringRun = 0;
let running = false;
const loopDelay = monitorEventLoopDelay({ resolution: 10 });

const nowMs = () => performance.timeOrigin + performance.now();

/** The message id from the first bytes of a payload (-1 for messages without one, like hello). */
function idOf(head: Buffer, len: number): number {
  const at = head.subarray(0, len).indexOf(ID_KEY);
  if (at === -1) return -1;
  let id = 0;
  for (let i = at + ID_KEY.length; i < len && head[i]! >= 0x30 && head[i]! <= 0x39; i++) id = id * 10 + (head[i]! - 0x30);
  return id;
}

/** The full reader's look at a whole payload: probes, the send time, file events, the end marker. */
function readFully(id: number, payload: Buffer): void {
  for (let at = payload.indexOf(PATH_KEY); at !== -1; at = payload.indexOf(PATH_KEY, at + PATH_KEY.length)) fullReaderPaths++;
  let probes: number[] | null = null;
  for (let at = payload.indexOf(PROBE_PREFIX); at !== -1; at = payload.indexOf(PROBE_PREFIX, at + PROBE_PREFIX.length)) {
    let end = at + PROBE_PREFIX.length;
    while (end < payload.length && ((payload[end]! >= 0x30 && payload[end]! <= 0x39) || payload[end] === 0x2e)) end++;
    (probes ??= []).push(Number(payload.toString('latin1', at + PROBE_PREFIX.length, end)));
  }
  if (probes && id >= 0) {
    probesById.set(id, probes);
    const k = payload.indexOf(AT_KEY); // the message's own `at` comes before its data
    sentAtById.set(id, k === -1 ? Number.NaN : Date.parse(payload.toString('latin1', k + AT_KEY.length, k + AT_KEY.length + 24)));
  }
  if (payload.includes(PROBE_END)) endIds.add(id);
}

/** Ids of the frames that carried the end marker (seen by a full reader): every client must get one of them. */
const endIds = new Set<number>();

function frameDone(c: Client, now: number): void {
  if (c.opcode === 0x8) {
    c.closed = true;
    if (running) closesDuringRun++;
    c.socket.destroy();
    return;
  }
  if (c.opcode !== 0x1 && c.opcode !== 0x2) return; // ping/pong/continuation: the server sends none of them
  const key = c.rsv1 ? fingerprint(c.payloadSize, c.head, c.headLen) : 0;
  let id = c.rsv1 ? BY_KEY : idOf(c.head, c.headLen);
  if (c.full) {
    const wire = c.parts.length === 1 ? c.parts[0]! : Buffer.concat(c.parts);
    c.parts = [];
    // as a browser does: each compressed message inflated (the server compresses each on its own)
    const payload = c.rsv1 ? inflateMessage(wire) : wire;
    if (c.rsv1) {
      id = idOf(payload, Math.min(payload.length, HEAD_BYTES));
      idByKey.set(key, id);
    }
    if (running) {
      readFully(id, payload);
      fullReaderWireBytes += wire.length;
      fullReaderJsonBytes += payload.length;
    }
  }
  if (!running) return;
  c.frames.push(id, key, now, c.payloadSize);
}

/** Feeds socket bytes through the frame parser: headers are gathered, payloads skipped but for their first bytes. */
function onData(c: Client, chunk: Buffer): void {
  const now = nowMs();
  let i = 0;
  while (i < chunk.length) {
    if (c.remaining < 0) {
      // header: 2 bytes, then 0, 2 or 8 length bytes (server frames are not masked)
      c.header[c.headerLen++] = chunk[i++]!;
      if (c.headerLen < 2) continue;
      const len7 = c.header[1]! & 0x7f;
      const need = 2 + (len7 === 126 ? 2 : len7 === 127 ? 8 : 0);
      if (c.headerLen < need) continue;
      c.opcode = c.header[0]! & 0x0f;
      c.rsv1 = (c.header[0]! & 0x40) !== 0;
      c.payloadSize = len7 === 126 ? c.header.readUInt16BE(2) : len7 === 127 ? Number(c.header.readBigUInt64BE(2)) : len7;
      c.remaining = c.payloadSize;
      c.headerLen = 0;
      c.headLen = 0;
      if (c.remaining === 0) {
        frameDone(c, now);
        c.remaining = -1;
      }
      continue;
    }
    const take = Math.min(c.remaining, chunk.length - i);
    if (c.headLen < HEAD_BYTES) {
      const n = Math.min(HEAD_BYTES - c.headLen, take);
      chunk.copy(c.head, c.headLen, i, i + n);
      c.headLen += n;
    }
    if (c.full) c.parts.push(chunk.subarray(i, i + take));
    i += take;
    c.remaining -= take;
    if (c.remaining === 0) {
      frameDone(c, now);
      c.remaining = -1;
    }
  }
}

function connectOne(url: string, authorization: string, full: boolean): Promise<void> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(u.port), u.hostname);
    const c: Client = {
      socket,
      full,
      deflate: false,
      frames: new FrameLog(),
      closed: false,
      header: Buffer.alloc(14),
      headerLen: 0,
      remaining: -1,
      payloadSize: 0,
      opcode: 0,
      rsv1: false,
      head: Buffer.alloc(HEAD_BYTES),
      headLen: 0,
      parts: [],
    };
    let handshake: Buffer | null = Buffer.alloc(0);
    socket.setNoDelay(true);
    socket.on('connect', () =>
      socket.write(
        `GET ${u.pathname}${u.search} HTTP/1.1\r\nHost: ${u.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          `Sec-WebSocket-Key: ${crypto.randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\nAuthorization: ${authorization}\r\n` +
          (OFFER_DEFLATE ? 'Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n' : '') +
          '\r\n',
      ),
    );
    socket.on('data', (chunk: Buffer) => {
      if (handshake === null) return onData(c, chunk);
      handshake = Buffer.concat([handshake, chunk]);
      const end = handshake.indexOf('\r\n\r\n');
      if (end === -1) return;
      const status = handshake.toString('latin1', 0, handshake.indexOf('\r\n'));
      const response = handshake.toString('latin1', 0, end);
      const rest = handshake.subarray(end + 4);
      handshake = null;
      if (!status.startsWith('HTTP/1.1 101')) {
        socket.destroy();
        reject(new Error(`upgrade refused: ${status}`));
        return;
      }
      c.deflate = /^sec-websocket-extensions: *permessage-deflate/im.test(response);
      clients.push(c);
      resolve();
      if (rest.length > 0) onData(c, rest);
    });
    socket.on('close', () => {
      if (!c.closed && running) closesDuringRun++;
      c.closed = true;
    });
    socket.once('error', (err) => {
      if (handshake !== null) reject(err);
    });
  });
}

/** Whether the client got a frame that carried the end marker (ids only increase: look back from its newest). */
function sawEnd(c: Client): boolean {
  if (endIds.size === 0) return false;
  const first = Math.min(...endIds);
  for (let k = c.frames.length - 1; k >= 0; k--) {
    const id = c.frames.id(k);
    if (endIds.has(id)) return true;
    if (id !== -1 && id < first) return false; // -1: a compressed frame the full reader has not read yet
  }
  return false;
}

/**
 * Frames whose id was not above the one before (the stream's ids only increase), or that have no id (a compressed
 * frame no full reader got, so none this client should have got).
 */
function outOfOrder(c: Client): number {
  let n = 0;
  let last = -1;
  for (let k = 0; k < c.frames.length; k++) {
    const id = c.frames.id(k);
    if (id === -1 && c.frames.ids[k] !== BY_KEY) continue; // a plain message without an id
    if (id <= last) n++;
    last = Math.max(last, id);
  }
  return n;
}

function report(): PoolReport {
  // From the first frame with a probe on, every client got the frames the full reader got.
  const probeIds = [...probesById.keys()].sort((a, b) => a - b);
  const firstProbeId = probeIds[0] ?? Number.POSITIVE_INFINITY;
  const from = (c: Client) => {
    let frames = 0;
    let bytes = 0;
    for (let k = 0; k < c.frames.length; k++) {
      if (c.frames.id(k) >= firstProbeId) {
        frames++;
        bytes += c.frames.sizes[k]!;
      }
    }
    return `${frames}/${bytes}`;
  };
  const reference = clients.find((c) => c.full);
  const expected = reference ? from(reference) : '';
  const latencies: number[] = [];
  const toServerSend: number[] = [];
  const serverSendToClient: number[] = [];
  for (const c of clients) {
    for (let k = 0; k < c.frames.length; k++) {
      const id = c.frames.id(k);
      const probes = probesById.get(id);
      if (!probes) continue;
      const got = c.frames.times[k]!;
      const sentAt = sentAtById.get(id)!;
      for (const written of probes) {
        latencies.push(got - written);
        if (Number.isFinite(sentAt)) {
          toServerSend.push(sentAt - written);
          serverSendToClient.push(got - sentAt);
        }
      }
    }
  }
  return {
    latencies,
    toServerSend,
    serverSendToClient,
    fullReaderPaths,
    incomplete: clients.filter((c) => !c.closed && from(c) !== expected).length,
    outOfOrder: clients.reduce((n, c) => n + outOfOrder(c), 0),
    deflateClients: clients.filter((c) => c.deflate).length,
    fullReaderWireBytes,
    fullReaderJsonBytes,
    messages: clients.reduce((n, c) => n + c.frames.length, 0),
    sawEnd: clients.filter(sawEnd).length,
    open: clients.filter((c) => !c.closed).length,
    closesDuringRun,
    loopDelayP50: loopDelay.percentile(50) / 1e6,
    loopDelayP99: loopDelay.percentile(99) / 1e6,
  };
}

process.on('message', (msg: { cmd: string; url?: string; authorization?: string; count?: number }) => {
  void (async () => {
    if (msg.cmd === 'connect') {
      // here, not at load: scale-live.ts imports this file for its constants, and must keep its own scheduling
      belowServer();
      // A few at a time: a thousand upgrades at once would measure the auth look-ups, not the stream.
      for (let done = 0; done < msg.count!; ) {
        const n = Math.min(25, msg.count! - done);
        await Promise.all(Array.from({ length: n }, (_, k) => connectOne(msg.url!, msg.authorization!, done + k === 0)));
        done += n;
      }
      process.send!({ ready: clients.length });
    } else if (msg.cmd === 'start') {
      for (const c of clients) c.frames = new FrameLog();
      probesById.clear();
      fullReaderWireBytes = 0;
      fullReaderJsonBytes = 0;
      sentAtById.clear();
      endIds.clear();
      fullReaderPaths = 0;
      closesDuringRun = 0;
      loopDelay.reset();
      loopDelay.enable();
      running = true;
      process.send!({ started: true });
    } else if (msg.cmd === 'status') {
      process.send!({ status: { sawEnd: clients.filter(sawEnd).length, open: clients.filter((c) => !c.closed).length } });
    } else if (msg.cmd === 'report') {
      process.send!({ report: report() });
    } else if (msg.cmd === 'close') {
      running = false;
      for (const c of clients) c.socket.destroy();
      process.exit(0);
    }
  })().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
});
