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
import { LIVE_STALL_LIMITS } from './stall-rule';
import { DEFLATE_MIN_BYTES, LIVE_PER_MESSAGE_DEFLATE, trackLiveWires } from './shared-frame';
import { RawLiveClient, rawLiveClient, slowReader, textOf, textsWithContextTakeover } from '@rsynchub/testing';

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
  // As the gateway: ws clients (which offer permessage-deflate) get shared deflated frames, raw ones plain frames.
  wss = new WebSocketServer({ server, perMessageDeflate: LIVE_PER_MESSAGE_DEFLATE });
  const wireOf = trackLiveWires(wss);
  wss.on('connection', (ws, req) => {
    const raw = new URL(req.url ?? '/', 'http://x').searchParams.get('lastEventId');
    // The fan-out it joined, even after a test swapped in another one.
    const joined = fanout;
    ws.on('close', () => joined.remove(ws));
    ws.on('message', (raw) => {
      const msg = JSON.parse(raw.toString());
      joined.subscribe(ws, filterFromSubscribe(msg), msg.lastEventId);
      subscribed++;
    });
    joined.add(ws, raw === null ? undefined : Number(raw), wireOf(req));
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

test('clients that negotiated deflate and clients that did not get the same event sequence; each shared message is deflated once however many clients get it', async () => {
  const wsClients = await Promise.all(Array.from({ length: 6 }, () => connect()));
  // no offer; Chromium's offer (context takeover allowed: it keeps one inflater for the connection); a smaller window
  const plain = await rawLiveClient(port, '/');
  const takeover = await rawLiveClient(port, '/', 'permessage-deflate; client_max_window_bits');
  const smallWindow = await rawLiveClient(port, '/', 'permessage-deflate; server_max_window_bits=10');
  await waitFor('every client to be registered', () => fanout.size === 9);
  for (const r of wsClients) assert.equal(r.ws.extensions, 'permessage-deflate', 'the ws clients negotiated deflate');
  assert.doesNotMatch(plain.response, /sec-websocket-extensions/i);
  assert.match(takeover.response, /sec-websocket-extensions: permessage-deflate; server_no_context_takeover/i);
  assert.match(smallWindow.response, /server_max_window_bits=10/);

  const deflatesBefore = fanout.frameStats.deflates;
  hub.publish('session.started', session('z', 7), 'z');
  for (let pass = 0; pass < 5; pass++) {
    for (let k = 0; k < 6; k++) hub.publish('session.file', Array.from({ length: 20 }, (_, i) => file(`z-${pass}-${k}-${i}`)) as any, 'z');
    hub.publish('session.progress', { ...session('z', 7), fileCount: (pass + 1) * 120 }, 'z');
    await new Promise((r) => setTimeout(r, 120)); // longer than the widest window: each pass its own batch
  }
  hub.publish('audit.entry', { action: 'x' } as any);
  hub.publish('session.file', [file('z-last')] as any, 'z');
  hub.publish('session.ended', session('z', 7), 'z');
  const ENDED = '"type":"session.ended"';
  const rawTexts = (c: RawLiveClient) => c.frames.filter((f) => f.opcode === 0x1).map(textOf);
  await waitFor('every client to see the end', () => wsClients.every((r) => r.texts.some((t) => t.includes(ENDED))) && [plain, takeover, smallWindow].every((c) => rawTexts(c).some((t) => t.includes(ENDED))));

  const reference = wsClients[0]!.texts.slice(1); // after hello (its time differs per connection)
  assert.equal(reference.filter((t) => t.includes('"path":')).length >= 5, true, 'several file batches');
  for (const r of wsClients) assert.deepEqual(r.texts.slice(1), reference, 'every ws client: the same messages');
  assert.deepEqual(rawTexts(plain).slice(1), reference, 'the client without deflate: the same messages');
  assert.deepEqual(rawTexts(smallWindow).slice(1), reference, 'the client that asked for a smaller window: the same messages');
  assert.deepEqual(rawTexts(takeover).slice(1), reference, 'the deflate client, each message inflated on its own');
  assert.deepEqual((await textsWithContextTakeover(takeover.frames)).slice(1), reference, 'the deflate client, with one inflater for the connection');

  const compressed = takeover.frames.filter((f) => f.rsv1);
  assert.ok(compressed.length >= 5, `the file batches came compressed (RSV1 set on ${compressed.length} frames)`);
  for (const f of takeover.frames.slice(1)) assert.equal(f.rsv1, f.opcode === 0x1 && f.payload.length > 0 && textOf(f).length >= DEFLATE_MIN_BYTES, `RSV1 on every shared message of ${DEFLATE_MIN_BYTES} bytes or more only: ${textOf(f).slice(0, 60)}`);
  assert.ok(textOf(takeover.frames[0]!).includes('"type":"hello"') && !takeover.frames[0]!.rsv1, 'hello (for one client) goes plain');
  for (const c of [plain, smallWindow]) assert.ok(c.frames.every((f) => !f.rsv1), 'nothing compressed for clients that did not agree');
  // seven clients agreed to deflate (six ws, one raw): one deflate per compressed message, not seven
  assert.equal(fanout.frameStats.deflates - deflatesBefore, compressed.length, 'one deflate per message');
  for (const r of wsClients) r.close();
  for (const c of [plain, takeover, smallWindow]) c.close();
  await waitFor('the clients to be gone', () => fanout.size === 0);
});

/**
 * Runs `body` with a fan-out whose window is an hour: the first batch goes out at once, every later one only when
 * the test calls tick() (or an event of another type flushes it), so what is gathered together is certain.
 */
async function withManualFanout(body: (manual: LiveFanout) => Promise<void>): Promise<void> {
  const shared = fanout;
  manualTicks = true;
  fanout = new LiveFanout(hub, { batchMs: 3_600_000, minBatchMs: 3_600_000 });
  try {
    await body(fanout);
  } finally {
    fanout.closeAll(1001, 'test done');
    fanout = shared;
    manualTicks = false;
  }
}

const nextTurn = () => new Promise((r) => setImmediate(r));

test('a resume while files are gathered gets every file after its id exactly once, then the live stream', () =>
  withManualFanout(async (manual) => {
    const watcher = await connect();
    await waitFor('the watcher to be registered', () => manual.size === 1);
    let n = 0;
    const publish = (count: number) => {
      for (let i = 0; i < count; i++) hub.publish('session.file', [file(`r-${n++}`)] as any, 'r');
    };
    publish(1); // a quiet stream: sent at once, so the next ones wait for the window (an hour here)
    await nextTurn();
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
    manual.tick();
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
  }));

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

test('progress snapshots of a session waiting in a batch are replaced by the newest; files and id order are kept', () =>
  withManualFanout(async () => {
    const r = await connect();
    await waitFor('the client to be registered', () => fanout.size === 1);
    const ids: Record<string, number> = {};
    const pub = (name: string, publish: () => void) => {
      publish();
      ids[name] = hub.lastEventId;
    };
    const progress = (pid: number, bytes: number) => ({ ...session('p', pid), bytesReceived: bytes });
    // One synchronous run of publishes (like one ingestion pass): gathered, then sent together.
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
  }));

test('the window adapts: one pass goes out at once and together when quiet; a steady stream waits for the window, not a timer tick', async () => {
  // The tick (batchMs) never comes in this test: whatever arrives was sent by the adaptive window alone.
  const shared = fanout;
  manualTicks = true;
  const windowMs = 1500;
  fanout = new LiveFanout(hub, { batchMs: 3_600_000, minBatchMs: windowMs, costFactor: 0 });
  try {
    const r = await connect();
    await waitFor('the client to be registered', () => fanout.size === 1);
    const progress = (pid: number, files: number) => ({ ...session('w', pid), fileCount: files });
    // One ingestion pass: its files and its progress snapshot, published in one synchronous run.
    const pass = (name: string, files: number) => {
      hub.publish('session.file', [file(name)] as any, 'w');
      hub.publish('session.progress', progress(9, files), 'w');
      return { id: hub.lastEventId, at: Date.now() };
    };
    const sentAt = (id: number) => {
      const i = r.messages.findIndex((m) => m.id === id);
      if (i === -1) return null;
      const files = r.messages[i - 1]!;
      assert.equal(files.type, 'session.file', 'the files of the pass come right before its progress');
      return Date.parse((files as { at?: string }).at!);
    };
    const p1 = pass('w-1', 1);
    const at1 = await waitFor('the first pass', () => sentAt(p1.id));
    const p2 = pass('w-2', 2); // right after: a steady stream
    const at2 = await waitFor('the second pass', () => sentAt(p2.id), 15_000);
    assert.ok(at2 - at1 >= windowMs - 5, `the second batch waited for the window: ${at2 - at1} ms after the first`);
    // Quiet for longer than the window: the next pass goes at once.
    await new Promise((res) => setTimeout(res, windowMs + 100));
    const p3 = pass('w-3', 3);
    const at3 = await waitFor('the third pass', () => sentAt(p3.id));
    assert.ok(at3 - p3.at < windowMs, `sent ${at3 - p3.at} ms after it was published, without waiting for a window`);
    assert.deepEqual(
      r.messages.slice(1).map((m) => [m.type, m.type === 'session.file' ? m.data.map((f: { path: string }) => f.path) : m.data.fileCount]),
      [
        ['session.file', ['w-1']],
        ['session.progress', 1],
        ['session.file', ['w-2']],
        ['session.progress', 2],
        ['session.file', ['w-3']],
        ['session.progress', 3],
      ],
      'one frame of files and one progress per pass',
    );
    r.close();
    await waitFor('the client to be gone', () => fanout.size === 0);
  } finally {
    fanout.closeAll(1001, 'test done');
    fanout = shared;
    manualTicks = false;
  }
});

test('a burst of 20,000 file events in uneven passes, with the default adaptive window: every client gets every file once, in order; a resume mid-burst gets exactly the rest', async () => {
  const clients = await Promise.all([connect(), connect(), connect('', false)]);
  await waitFor('the clients to be registered', () => fanout.size >= 3);
  const names: string[] = [];
  let resumed: Recorder | null = null;
  let resumeFrom = 0;
  let publishes = 0;
  let rnd = 7;
  const random = (n: number) => ((rnd = (rnd * 1103515245 + 12345) % 2 ** 31) % n);
  while (names.length < 20_000) {
    // a pass: a few runs of files of two sessions, their progress, now and then a session start
    if (random(10) === 0) hub.publish('session.started', session('burst', 100 + random(5)), 'burst');
    for (let run = 0; run <= random(3); run++) {
      const count = 1 + random(120);
      const files = Array.from({ length: count }, (_, k) => file(`burst-${names.length + k}`));
      for (const f of files) names.push(f.path);
      hub.publish('session.file', files as any, 'burst');
      publishes++;
    }
    hub.publish('session.progress', { ...session('burst', 100), fileCount: names.length }, 'burst');
    if (resumed === null && names.length > 10_000) {
      resumeFrom = names.length;
      const from = hub.lastEventId;
      resumed = await connect(`?lastEventId=${from}`);
    }
    // between passes: sometimes nothing (the next pass right away), sometimes a short pause
    const pause = random(4);
    await (pause === 0 ? nextTurn() : new Promise((res) => setTimeout(res, pause)));
  }
  hub.publish('session.ended', session('burst', 100), 'burst');
  const ended = (r: Recorder) => parsed(r).some((m) => m.type === 'session.ended');
  await waitFor('every client to see the end', () => [...clients, resumed!].every(ended), 60_000);
  for (const r of [clients[0]!, clients[1]!]) {
    assert.deepEqual(filesOf(r), names, 'every file once, in order');
    const ids = parsed(r).filter((m) => m.id !== undefined).map((m) => m.id!);
    assert.ok(ids.every((id, k) => k === 0 || id > ids[k - 1]!), 'ids only increase');
    const frames = parsed(r).filter((m) => m.type === 'session.file').length;
    assert.ok(frames < publishes, `runs published in one pass share a frame (${frames} frames for ${publishes} publishes)`);
  }
  assert.equal(filesOf(clients[2]!).length, names.length, 'the byte-counting client too');
  assert.deepEqual(filesOf(resumed!), names.slice(resumeFrom), 'the resumed client: exactly the files after its id');
  for (const r of [...clients, resumed!]) r.close();
  await waitFor('the clients to be gone', () => fanout.size === 0);
});

/**
 * A client that stops reading until told to go on: like slowReader (a tiny SO_RCVBUF set before connecting, so the
 * backlog builds in the server's Node process, not in the kernel), but on "go" on its stdin it reads everything and
 * copies the raw WebSocket bytes to its stdout, parsed here.
 */
const PAUSED_READER = String.raw`
use strict; use Socket;
my ($port, $rcvbuf) = @ARGV;
socket(my $s, PF_INET, SOCK_STREAM, getprotobyname('tcp')) or die "socket: $!";
setsockopt($s, SOL_SOCKET, SO_RCVBUF, pack('i', $rcvbuf)) or die "setsockopt: $!";
connect($s, sockaddr_in($port, inet_aton('127.0.0.1'))) or die "connect: $!";
my $key = join('', map { chr(65 + int(rand(26))) } 1..22) . '==';
syswrite($s, "GET / HTTP/1.1\r\nHost: 127.0.0.1:$port\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: $key\r\nSec-WebSocket-Version: 13\r\n\r\n");
my $head = '';
while ($head !~ /\r\n\r\n/) { sysread($s, $head, 1, length $head) or die "closed during the handshake\n"; }
binmode STDOUT; $| = 1; print STDERR "open\n";
my $go = <STDIN>;
my $buf;
while (1) { my $n = sysread($s, $buf, 65536); last if !$n; syswrite(STDOUT, $buf); }
`;

/**
 * Text frames of a server-to-client WebSocket byte stream (unmasked, unfragmented), parsed as JSON into `out`;
 * returns the bytes of an incomplete last frame, to be passed again with what follows.
 */
function framesOf(bytes: Buffer, out: any[]): Buffer {
  let i = 0;
  while (i + 2 <= bytes.length) {
    const len7 = bytes[i + 1]! & 0x7f;
    const hdr = 2 + (len7 === 126 ? 2 : len7 === 127 ? 8 : 0);
    if (i + hdr > bytes.length) break;
    const len = len7 === 126 ? bytes.readUInt16BE(i + 2) : len7 === 127 ? Number(bytes.readBigUInt64BE(i + 2)) : len7;
    if (i + hdr + len > bytes.length) break;
    if ((bytes[i]! & 0x0f) === 1) out.push(JSON.parse(bytes.toString('utf8', i + hdr, i + hdr + len)));
    i += hdr + len;
  }
  return bytes.subarray(i);
}

for (const replayRoom of ['kept', 'evicted'] as const) {
  test(`a client that falls behind is not queued for beyond the limit; once it reads again it gets what it missed (replay ${replayRoom}: ${replayRoom === 'kept' ? 'the events' : 'a resync'}), and the others never wait`, async () => {
    // Its own hub, so the replay buffer can be small; a stall time long enough that the paused client is not dropped.
    const flood = 16;
    const perEvent = 1000;
    const ownHub = new LiveEventsHub({ liveReplayEvents: replayRoom === 'kept' ? 1_000_000 : 3 * perEvent } as AppConfig);
    const shared = fanout;
    manualTicks = true;
    const own = new LiveFanout(ownHub, { limits: { maxBufferedBytes: LIVE_STALL_LIMITS.maxBufferedBytes, stallMs: 600_000 } });
    fanout = own;
    const feed = ownHub.events.subscribe((e) => own.dispatch(e));
    const ticks = setInterval(() => own.tick(), 100);
    const child = spawn('perl', ['-e', PAUSED_READER, String(port), '4096'], { stdio: ['pipe', 'pipe', 'pipe'] });
    // parsed as it arrives (this process also runs the server: re-parsing everything at each check starved it)
    const got: any[] = [];
    let carry: Buffer = Buffer.alloc(0);
    child.stdout!.on('data', (d: Buffer) => (carry = framesOf(carry.length === 0 ? d : Buffer.concat([carry, d]), got)));
    let err = '';
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    try {
      await waitFor('the paused reader to connect', () => err.includes('open'));
      const healthy = await readerProcess(`ws://127.0.0.1:${port}/`);
      await waitFor('both clients to be registered', () => own.size === 2);
      // ~1.1 MB per event, each its own pass: far more than the kernel takes for the paused socket plus the limit.
      const names: string[] = [];
      let maxBacklog = 0;
      for (let k = 0; k < flood; k++) {
        const files = Array.from({ length: perEvent }, (_, i) => file(`fall-${k}-${i}-`, 1000));
        for (const f of files) names.push(f.path);
        ownHub.publish('session.file', files as any, 'fall');
        // longer than the widest batch window: each event is its own frame (the bound below is one frame)
        await new Promise((res) => setTimeout(res, 120));
        for (const c of wss.clients) maxBacklog = Math.max(maxBacklog, c.bufferedAmount);
      }
      const limit = LIVE_STALL_LIMITS.maxBufferedBytes;
      // the largest frame: one event's files, as JSON, plus the message around them
      const frameBytes = Buffer.byteLength(JSON.stringify(Array.from({ length: perEvent }, (_, i) => file(`fall-${flood}-${i}-`, 1000)))) + 200;
      assert.ok(maxBacklog > limit, `the paused client fell behind (backlog ${maxBacklog})`);
      assert.ok(maxBacklog <= limit + frameBytes, `its backlog stayed bounded: ${maxBacklog} <= ${limit} + one frame`);
      // The others never waited: the reading client got the whole flood while the other one was paused.
      ownHub.publish('session.ended', session('fall', 5), 'fall');
      await waitFor('the reading client to see the end', () => healthy.lines.find((l) => l.startsWith('ended ')), 30_000);
      assert.deepEqual(healthy.lines, ['open', `ended ${names.length}`]);

      // Now it reads: it is caught up, then gets the live stream.
      child.stdin!.write('go\n');
      const lastId = ownHub.lastEventId;
      await waitFor('the paused client to catch up', () => got.some((m) => m.id === lastId || m.type === 'resync'), 30_000);
      ownHub.publish('session.file', [file('after-1')] as any, 'fall');
      ownHub.publish('session.ended', session('fall', 6), 'fall');
      const endId = ownHub.lastEventId;
      await waitFor('the live stream after the catch-up', () => got.some((m) => m.id === endId), 30_000);
      const paths = got.filter((m) => m.type === 'session.file').flatMap((m) => m.data.map((f: { path: string }) => f.path));
      const ids = got.filter((m) => m.id !== undefined).map((m) => m.id);
      assert.ok(ids.every((id, k) => k === 0 || id > ids[k - 1]), 'ids only increase');
      assert.equal(own.size, 2, 'nobody was dropped');
      if (replayRoom === 'kept') {
        assert.equal(got.filter((m) => m.type === 'resync').length, 0);
        assert.deepEqual(paths, [...names, 'after-1'], 'every file once, in order: what was queued, then the replay, then the stream');
      } else {
        const resync = got.findIndex((m) => m.type === 'resync');
        assert.ok(resync > 0, 'told to re-fetch: what it missed is gone from the replay buffer');
        assert.equal(got[resync].data.lastEventId, lastId, 'the resync names where the stream is now');
        assert.ok(paths.length < names.length, 'it did not get the evicted files');
        assert.deepEqual(
          got.slice(resync + 1).map((m) => m.type),
          ['session.file', 'session.ended'],
          'then the live stream',
        );
        assert.deepEqual(paths.slice(0, -1), names.slice(0, paths.length - 1), 'what it got before falling behind is a prefix, in order');
      }
      healthy.child.kill();
    } finally {
      clearInterval(ticks);
      feed.unsubscribe();
      child.kill('SIGKILL');
      own.closeAll(1001, 'test done');
      fanout = shared;
      manualTicks = false;
    }
  });
}
