/**
 * The fan-out with real sockets: a real ws server on loopback, real ws clients, and a never-reading client whose
 * receive buffer is tiny (so the backlog stays in Node, where the stall rule looks).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';
import type { AppConfig } from '../config/app-config';
import { LiveEventsHub } from './live-events.hub';
import { filterFromSubscribe, LiveFanout } from './live-fanout';
import { slowReader } from '@rsynchub/testing';
import { LIVE_STALL_LIMITS } from './stall-rule';

let server: http.Server;
let wss: WebSocketServer;
let hub: LiveEventsHub;
let fanout: LiveFanout;
let port: number;
let ticker: NodeJS.Timeout;
/** Set by a test that ticks by hand. */
let manualTicks = false;
const drops: { client: WebSocket; at: number }[] = [];
/** Subscribe messages the server has handled (as the gateway does). */
let subscribed = 0;

before(async () => {
  hub = new LiveEventsHub({ liveReplayEvents: 1_000_000 } as AppConfig);
  fanout = new LiveFanout(hub, { batchMs: 100, onDrop: (client) => drops.push({ client, at: Date.now() }) });
  hub.events.subscribe((e) => fanout.dispatch(e));
  ticker = setInterval(() => manualTicks || fanout.tick(), 100);
  server = http.createServer();
  wss = new WebSocketServer({ server });
  wss.on('connection', (ws, req) => {
    const raw = new URL(req.url ?? '/', 'http://x').searchParams.get('lastEventId');
    ws.on('close', () => fanout.remove(ws));
    ws.on('message', (raw) => {
      const msg = JSON.parse(raw.toString());
      fanout.subscribe(ws, filterFromSubscribe(msg), msg.lastEventId);
      subscribed++;
    });
    fanout.add(ws, raw === null ? undefined : Number(raw));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});

after(async () => {
  clearInterval(ticker);
  for (const c of wss.clients) c.terminate();
  wss.close();
  await new Promise((resolve) => server.close(resolve));
});

const PATH_KEY = Buffer.from('"path":');

interface Recorder {
  ws: WebSocket;
  /** Raw text of every message, in order. */
  texts: string[];
  /** The same, parsed once on arrival. */
  messages: { type: string; id?: number; data: any }[];
  files: string[];
  bytes: number;
  close(): void;
}

/** `parse: false`: only count bytes and file events (a reader that keeps up even on a starved machine). */
function connect(query = '', parse = true): Promise<Recorder> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/${query}`);
    const rec: Recorder = { ws, texts: [], messages: [], files: [], bytes: 0, close: () => ws.close() };
    ws.on('message', (raw: Buffer, isBinary) => {
      assert.equal(isBinary, false, 'messages are text frames');
      if (!parse) {
        rec.bytes += raw.length;
        for (let at = raw.indexOf(PATH_KEY); at !== -1; at = raw.indexOf(PATH_KEY, at + PATH_KEY.length)) rec.files.push('');
        if (raw.includes('"type":"session.ended"')) rec.messages.push({ type: 'session.ended', data: null });
        return;
      }
      rec.texts.push(raw.toString());
      const msg = JSON.parse(rec.texts.at(-1)!);
      rec.messages.push(msg);
      if (msg.type === 'session.file') for (const f of msg.data) rec.files.push(f.path);
      rec.bytes += raw.length;
    });
    ws.once('open', () => resolve(rec));
    ws.once('error', reject);
  });
}

async function waitFor<T>(what: string, check: () => T | undefined | null | false, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const got = check();
    if (got) return got;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const parsed = (r: Recorder) => r.messages;
const filesOf = (r: Recorder) => r.files;
const file = (path: string, pad = 0) => ({ id: 0, at: '2026-12-01T10:00:00.000Z', op: 'recv', path: path + 'x'.repeat(pad), size: 1, bytes: 1, itemize: '>f+++++++++' });
const session = (module: string, daemonPid: number) => ({ id: daemonPid, daemonPid, module, status: 'active' }) as any;

test('clients with the same filter get the same bytes; narrower filters get only theirs; ids only increase', async () => {
  const all = await Promise.all([connect(), connect(), connect()]);
  const onlyA = await connect();
  const onlyAudit = await connect();
  const handled = subscribed;
  onlyA.ws.send(JSON.stringify({ type: 'subscribe', modules: ['A'] }));
  onlyAudit.ws.send(JSON.stringify({ type: 'subscribe', events: ['audit.entry', 'session.ended', 'no.such.type'] }));
  await waitFor('both subscriptions to be handled', () => subscribed === handled + 2);

  hub.publish('session.started', session('a', 1), 'a');
  for (let i = 0; i < 50; i++) hub.publish('session.file', [file(`a-${i}-1`), file(`a-${i}-2`)] as any, 'a');
  hub.publish('session.file', [file('b-1')] as any, 'b');
  hub.publish('audit.entry', { action: 'x' } as any);
  hub.publish('session.ended', session('a', 1), 'a');
  const ended = (r: Recorder) => parsed(r).some((m) => m.type === 'session.ended');
  await waitFor('every client to see the end', () => [...all, onlyA, onlyAudit].every(ended));

  const wanted = Array.from({ length: 50 }, (_, i) => [`a-${i}-1`, `a-${i}-2`]).flat();
  for (const r of all) {
    assert.deepEqual(r.texts.slice(1), all[0]!.texts.slice(1), 'identical frames after hello');
    assert.deepEqual(filesOf(r), [...wanted, 'b-1']);
    const ids = parsed(r).filter((m) => m.id !== undefined).map((m) => m.id!);
    assert.deepEqual(ids, [...ids].sort((x, y) => x - y), 'ids increase');
    assert.equal(new Set(ids).size, ids.length, 'no id twice');
  }
  assert.deepEqual(filesOf(onlyA), wanted, 'module filter (case-insensitive)');
  assert.ok(parsed(onlyA).some((m) => m.type === 'audit.entry'), 'events without a module still reach a module filter');
  assert.deepEqual(parsed(onlyAudit).map((m) => m.type), ['hello', 'audit.entry', 'session.ended'], 'event filter');
  for (const r of [...all, onlyA, onlyAudit]) r.close();
});

test('a resume while files are gathered gets every file after its id exactly once, then the live stream', async () => {
  const watcher = await connect();
  let n = 0;
  const publish = (count: number) => {
    for (let i = 0; i < count; i++) hub.publish('session.file', [file(`r-${n++}`)] as any, 'r');
  };
  publish(1); // the leading edge: sent at once, so the next ones wait for the timer
  publish(20);
  const resumeAfter = hub.lastEventId - 10; // the last 10 published are still waiting in the group's batch
  const resumed = await connect(`?lastEventId=${resumeAfter}`);
  publish(30);
  hub.publish('session.ended', session('r', 2), 'r');
  await waitFor('both to see the end', () => [watcher, resumed].every((r) => parsed(r).some((m) => m.type === 'session.ended')));
  const all = Array.from({ length: 51 }, (_, i) => `r-${i}`);
  assert.deepEqual(filesOf(watcher), all);
  assert.deepEqual(filesOf(resumed), all.slice(11), 'exactly the files after the id, in order, none twice');

  // The same through a subscribe message on an open socket, onto the same filter: once the client has everything,
  // it asks again for what came after r-52's event.
  let afterR52 = 0;
  for (let i = 0; i < 5; i++) {
    publish(1);
    if (n - 1 === 52) afterR52 = hub.lastEventId;
  }
  await waitFor('r-55 to arrive', () => filesOf(resumed).includes('r-55'));
  const handled = subscribed;
  resumed.ws.send(JSON.stringify({ type: 'subscribe', lastEventId: afterR52 }));
  await waitFor('the subscribe to be handled', () => subscribed === handled + 1);
  publish(3);
  hub.publish('session.ended', session('r', 3), 'r');
  await waitFor('the second end', () => parsed(resumed).filter((m) => m.type === 'session.ended').length === 2);
  const upToR55 = Array.from({ length: 56 }, (_, i) => `r-${i}`).slice(11);
  assert.deepEqual(filesOf(resumed), [...upToR55, 'r-53', 'r-54', 'r-55', 'r-56', 'r-57', 'r-58'], 'the replay asked for, then the stream');
  watcher.close();
  resumed.close();
});

/**
 * A reading client in its own process (so its reading does not compete with the server's event loop in this one):
 * counts file events, reports `open`, `ended <files>` at each session.ended, and `closed <code>`.
 */
function readerProcess(url: string): Promise<{ lines: string[]; child: ChildProcess }> {
  const script = `
    const WebSocket = require(process.argv[1]);
    const ws = new WebSocket(process.argv[2]);
    const key = Buffer.from('"path":');
    let files = 0;
    ws.on('open', () => process.stdout.write('open\\n'));
    ws.on('message', (b) => {
      for (let at = b.indexOf(key); at !== -1; at = b.indexOf(key, at + key.length)) files++;
      if (b.includes('"type":"session.ended"')) process.stdout.write('ended ' + files + '\\n');
    });
    ws.on('close', (code) => process.stdout.write('closed ' + code + '\\n'));`;
  const child = spawn(process.execPath, ['-e', script, require.resolve('ws'), url], { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines: string[] = [];
  let buf = '';
  child.stdout!.on('data', (d: Buffer) => {
    buf += d.toString();
    const parts = buf.split('\n');
    buf = parts.pop()!;
    lines.push(...parts);
  });
  return waitFor('the reader process to connect', () => lines.includes('open')).then(() => ({ lines, child }));
}

/** What the kernel can hold for a socket that is not read: the server's send buffer (the reader's is 4 KiB). */
function kernelSendBufferMax(): number {
  try {
    return Number(fs.readFileSync('/proc/sys/net/ipv4/tcp_wmem', 'utf8').trim().split(/\s+/)[2]);
  } catch {
    return 4 * 1024 * 1024;
  }
}

test('a client that stopped reading is dropped once its backlog stays over 4 MiB for 3 s; a reading client of the same flood is not', async () => {
  drops.length = 0;
  const healthy = await readerProcess(`ws://127.0.0.1:${port}/`);
  const stalled = await slowReader(port, '/', '', 4096);
  assert.match(stalled.status, /^HTTP\/1\.1 101/);
  await waitFor('both clients to be registered', () => fanout.size >= 2);
  try {
    // Whatever the kernel can take for the stalled socket, plus twice the limit, stays in Node: over 4 MiB for sure.
    const perEvent = 1000 * 1100;
    const events = Math.ceil((kernelSendBufferMax() + 2 * LIVE_STALL_LIMITS.maxBufferedBytes) / perEvent);
    const flood = Array.from({ length: events * 1000 }, (_, i) => file(`flood-${i}-`, 1000));
    // One event, built beforehand: the backlog cannot start before t0, so the drop must come >= 3 s after it.
    const t0 = Date.now();
    hub.publish('session.file', flood as any, 'flood');
    await waitFor('a backlog over 4 MiB in Node', () => [...wss.clients].some((c) => c.bufferedAmount > LIVE_STALL_LIMITS.maxBufferedBytes) || drops.length > 0);
    const drop = await waitFor('the stalled client to be dropped', () => drops[0], 30_000);
    const waited = drop.at - t0;
    assert.ok(waited >= LIVE_STALL_LIMITS.stallMs, `dropped after ${waited} ms, not before ${LIVE_STALL_LIMITS.stallMs} ms over the limit`);

    // After the drop the stream goes on for the others: the reading client gets the whole flood and the end.
    hub.publish('session.ended', session('flood', 4), 'flood');
    await waitFor('the reading client to see the end', () => healthy.lines.find((l) => l.startsWith('ended ')), 30_000);
    assert.deepEqual(healthy.lines, ['open', `ended ${events * 1000}`], 'every file event, and never closed');
    assert.equal(drops.length, 1, 'only the stalled client was dropped');
    assert.equal(fanout.size, 1);
  } finally {
    stalled.close();
    healthy.child.kill();
  }
});

test('progress snapshots of a session waiting in a batch are replaced by the newest; files and id order are kept', async () => {
  // A fan-out whose batches only go out when the test ticks, so what is gathered together is certain.
  const shared = fanout;
  manualTicks = true;
  fanout = new LiveFanout(hub, { batchMs: 3_600_000 });
  try {
    const r = await connect();
    await waitFor('the client to be registered', () => fanout.size === 1);
    const ids: Record<string, number> = {};
    const pub = (name: string, publish: () => void) => {
      publish();
      ids[name] = hub.lastEventId;
    };
    const progress = (pid: number, bytes: number) => ({ ...session('p', pid), bytesReceived: bytes });
    // The first file goes out at once (leading edge); everything after it waits for the tick.
    pub('F1', () => hub.publish('session.file', [file('p-1')] as any, 'p'));
    pub('Q1', () => hub.publish('session.progress', progress(8, 1), 'p')); // another session: kept
    pub('F2', () => hub.publish('session.file', [file('p-2')] as any, 'p'));
    pub('P1', () => hub.publish('session.progress', progress(7, 1), 'p'));
    pub('F3', () => hub.publish('session.file', [file('p-3'), file('p-4')] as any, 'p'));
    pub('P2', () => hub.publish('session.progress', progress(7, 2), 'p'));
    fanout.tick();
    await waitFor('the batch', () => r.messages.some((m) => m.id === ids.P2));
    const got = r.messages.slice(1).map((m) => [m.type, m.id, m.type === 'session.file' ? m.data.map((f: { path: string }) => f.path) : m.data.bytesReceived]);
    assert.deepEqual(got, [
      ['session.file', ids.F1, ['p-1']],
      ['session.progress', ids.Q1, 1],
      // P1 was replaced by P2, so the files on both sides of it are one batch, with the id of its newest file.
      ['session.file', ids.F3, ['p-2', 'p-3', 'p-4']],
      ['session.progress', ids.P2, 2],
    ]);
    // The replay still has every snapshot (a resume gets exactly what was published).
    const replay = hub.since(ids.F1!);
    assert.ok(replay.ok && replay.events.filter((e) => e.type === 'session.progress').length === 3);
    r.close();
    await waitFor('the client to be gone', () => fanout.size === 0);
  } finally {
    fanout = shared;
    manualTicks = false;
  }
});
