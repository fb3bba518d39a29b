/**
 * Shared frames: built and compressed once, decoded by a standard inflater. Also what they rely on in ws (see the
 * comment of shared-frame.ts). Those checks run against both copies of ws in node_modules: the top-level one, and
 * @nestjs/platform-ws's own, which the gateway runs. A ws upgrade that changes any of it fails here.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { DEFLATE_TAIL, inflateMessage, rawLiveClient, textOf } from '@rsynchub/testing';
import { agreesToSharedDeflate, DEFLATE_MIN_BYTES, FrameStats, LIVE_PER_MESSAGE_DEFLATE, SharedFrame, trackLiveWires } from './shared-frame';

const newStats = (): FrameStats => ({ deflates: 0, bytesIn: 0, bytesOut: 0 });
const json = (bytes: number) => Buffer.from(JSON.stringify({ type: 'session.file', id: 1, data: 'ab'.repeat(bytes) }).slice(0, bytes - 2) + '"}');

/** Header length and payload of a single unmasked frame, as a receiver reads it. */
function parseFrame(frame: Buffer): { fin: boolean; rsv1: boolean; opcode: number; payload: Buffer } {
  const len7 = frame[1]! & 0x7f;
  const header = 2 + (len7 === 126 ? 2 : len7 === 127 ? 8 : 0);
  const len = len7 === 126 ? frame.readUInt16BE(2) : len7 === 127 ? Number(frame.readBigUInt64BE(2)) : len7;
  assert.equal(frame[1]! & 0x80, 0, 'server frames are not masked');
  assert.equal(frame.length, header + len, 'one frame, header and payload, nothing else');
  return { fin: (frame[0]! & 0x80) !== 0, rsv1: (frame[0]! & 0x40) !== 0, opcode: frame[0]! & 0x0f, payload: frame.subarray(header) };
}

test('a shared frame: plain is the JSON as it is; deflated has RSV1 set, is deflated once, and a standard inflater gives the JSON back', () => {
  for (const size of [DEFLATE_MIN_BYTES, 300, 70_000, 200_000]) {
    const stats = newStats();
    const body = json(size);
    const frame = new SharedFrame(body, stats);
    const plain = parseFrame(frame.plain());
    assert.deepEqual([plain.fin, plain.rsv1, plain.opcode], [true, false, 0x1], `${size}: a final text frame`);
    assert.ok(plain.payload.equals(body));
    const deflated = parseFrame(frame.deflated());
    assert.deepEqual([deflated.fin, deflated.rsv1, deflated.opcode], [true, true, 0x1], `${size}: a final text frame with RSV1`);
    assert.ok(!deflated.payload.subarray(-4).equals(DEFLATE_TAIL), 'the sync-flush tail is left off the wire');
    assert.ok(inflateMessage(deflated.payload).equals(body), `${size}: inflates to the JSON`);
    assert.ok(deflated.payload.length < body.length, 'smaller');
    assert.equal(frame.deflated(), frame.deflated(), 'built once');
    assert.equal(frame.plain(), frame.plain(), 'built once');
    assert.deepEqual(stats, { deflates: 1, bytesIn: body.length, bytesOut: deflated.payload.length });
  }
  const stats = newStats();
  const small = new SharedFrame(json(DEFLATE_MIN_BYTES - 1), stats);
  assert.equal(small.deflated(), small.plain(), 'a small message goes plain to deflate clients too');
  assert.equal(stats.deflates, 0);
});

test('which handshake responses agree to shared deflate', () => {
  const cases: [string[], boolean][] = [
    [['HTTP/1.1 101 Switching Protocols', 'Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover'], true],
    [['sec-websocket-extensions: permessage-deflate; server_no_context_takeover; client_max_window_bits=15'], true],
    [['Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; server_max_window_bits=15'], true],
    // zlib's 15-bit window would reach back further than the client keeps
    [['Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; server_max_window_bits=10'], false],
    // with context takeover the client could expect later messages to refer back to earlier ones
    [['Sec-WebSocket-Extensions: permessage-deflate'], false],
    [['Sec-WebSocket-Extensions: x-webkit-deflate-frame'], false],
    [['Sec-WebSocket-Extensions: ;;;'], false],
    [['HTTP/1.1 101 Switching Protocols', 'Upgrade: websocket'], false],
  ];
  for (const [headers, agrees] of cases) assert.equal(agreesToSharedDeflate(headers), agrees, headers.join(' | '));
});

/** Both copies of ws: the gateway runs @nestjs/platform-ws's own (8.21 today), the tests and bench the top-level one. */
function wsCopies(): { name: string; ws: typeof import('ws') }[] {
  const nestDir = path.dirname(require.resolve('@nestjs/platform-ws/package.json'));
  const nestWs = require.resolve('ws', { paths: [nestDir] });
  const topWs = require.resolve('ws');
  const version = (main: string) => (require(path.join(path.dirname(main), 'package.json')) as { version: string }).version;
  return [
    { name: `ws ${version(nestWs)} (@nestjs/platform-ws's, which the gateway runs)`, ws: require(nestWs) },
    { name: `ws ${version(topWs)} (top level)`, ws: require(topWs) },
  ];
}

for (const copy of wsCopies()) {
  test(`${copy.name}: negotiates what shared frames need; writes its own frames to req.socket at once, uncompressed, so frames written there directly keep their place; bufferedAmount counts them`, async () => {
    const server = http.createServer();
    const wss = new copy.ws.WebSocketServer({ server, perMessageDeflate: LIVE_PER_MESSAGE_DEFLATE });
    const wireOf = trackLiveWires(wss);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    const shared = new SharedFrame(json(3000), newStats());
    const big = new SharedFrame(Buffer.alloc(32 * 1024 * 1024, 0x20), newStats());
    const checks: string[] = [];
    wss.on('connection', (ws, req) => {
      const wire = wireOf(req);
      checks.push(`deflate ${wire.deflate}`);
      const written = () => req.socket.bytesWritten + req.socket.writableLength;
      let before = written();
      ws.send(Buffer.from('a'.repeat(2000)), { binary: false, compress: false });
      checks.push(`ws.send wrote ${written() - before}`);
      before = written();
      // ws's defaults (compress: true with the extension on): still plain, still at once
      ws.send('b'.repeat(5000));
      checks.push(`ws.send with defaults wrote ${written() - before}`);
      shared.writeTo(wire);
      ws.send('tail', { binary: false, compress: false });
      // more than the kernel takes at once: the rest waits in the socket, and ws's back-pressure figure shows it
      big.writeTo({ socket: req.socket, deflate: false });
      checks.push(`bufferedAmount ${ws.bufferedAmount > 0 && ws.bufferedAmount === req.socket.writableLength ? 'is the socket backlog' : `${ws.bufferedAmount} vs ${req.socket.writableLength}`}`);
    });
    try {
      // Chromium's offer: context takeover allowed, so the server adds server_no_context_takeover on its own
      const client = await rawLiveClient(port, '/', 'permessage-deflate; client_max_window_bits');
      assert.match(client.response, /sec-websocket-extensions: permessage-deflate; server_no_context_takeover/i);
      const deadline = Date.now() + 15_000;
      while (client.frames.length < 4 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      assert.deepEqual(checks, ['deflate true', 'ws.send wrote 2004', 'ws.send with defaults wrote 5004', 'bufferedAmount is the socket backlog']);
      const [a, b, c, d] = client.frames;
      assert.deepEqual(
        [a, b, c, d].map((f) => f && { rsv1: f.rsv1, text: textOf(f) }),
        [
          { rsv1: false, text: 'a'.repeat(2000) },
          { rsv1: false, text: 'b'.repeat(5000) },
          { rsv1: true, text: shared.json.toString() },
          { rsv1: false, text: 'tail' },
        ],
        'in the order sent, only the shared frame compressed',
      );
      client.close();
    } finally {
      for (const c of wss.clients) c.terminate();
      wss.close();
      await new Promise((resolve) => server.close(resolve));
    }
  });
}
