/**
 * Live-stream frames built once for all clients, and compressed once for all that negotiated `permessage-deflate`
 * (RFC 7692).
 *
 * A 10k-file push is about 2 MB of JSON per client. At a thousand clients, copying those bytes into the kernel was most
 * of the server's cost. File-event JSON shrinks about 10-15 times. If ws compressed it, that would happen per client
 * and per message, so ws's compression stays off. Every message is compressed without context takeover
 * (`server_no_context_takeover`), so one deflate of a batch is valid for every client. Those bytes go to all of them.
 *
 * ws (8.x) has no public way to send a frame that is already built. So a shared frame is written straight to the
 * connection's socket, which is the upgrade request's `req.socket` (public). ws writes its own frames (hello, replays,
 * close, pong) to that same socket, and this is safe for three reasons:
 * - ws's sender writes to the socket synchronously while it is idle.
 * - It only queues when it compresses or reads a Blob. With `threshold: Infinity` and `compress: false` it never
 *   compresses, and the fan-out sends no Blobs.
 * - `bufferedAmount` is the socket's write buffer plus the sender's queue, so the back-pressure and stall rules see
 *   these writes too.
 * shared-frame.test.ts checks each of these against the ws the gateway runs (@nestjs/platform-ws's own copy) and the
 * top-level one. If an upgrade changes any of them, that test fails.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import * as zlib from 'node:zlib';
import { WebSocket } from 'ws';

/**
 * What ws exports but @types/ws does not declare: `Sender.frame` builds a frame's header (public in ws's JSDoc), and
 * `extension.parse` reads a `Sec-WebSocket-Extensions` value.
 */
interface WsExtras {
  Sender: { frame(data: Buffer, options: { fin: boolean; opcode: number; rsv1: boolean; mask: boolean; readOnly: boolean }): Buffer[] };
  extension: { parse(value: string): Record<string, Record<string, (string | true)[]>[]> };
}
const wsExtras = WebSocket as unknown as WsExtras;

/**
 * The live WebSocket server's `perMessageDeflate` option.
 * - `serverNoContextTakeover`: every server message is compressed on its own. A client that offered context
 *   takeover still gets this (RFC 7692 7.1.1.1 lets the server add it), and its inflater reads such messages as they are.
 * - `threshold: Infinity`: ws itself never compresses. See the file comment.
 * Clients may still compress what they send; ws inflates it, and `maxPayload` limits the inflated size.
 */
export const LIVE_PER_MESSAGE_DEFLATE = { serverNoContextTakeover: true, threshold: Number.POSITIVE_INFINITY } as const;

/** Below this many JSON bytes a frame goes plain even to deflate clients: saving tens of bytes is not worth a deflate. */
export const DEFLATE_MIN_BYTES = 256;

/** Counts of the deflates done, for tests and benchmarks: one per shared message, whatever the number of clients. */
export interface FrameStats {
  deflates: number;
  /** JSON bytes that went into them, and compressed bytes that came out. */
  bytesIn: number;
  bytesOut: number;
}

/** How one client is written to: its socket, and whether it agreed to shared-deflate frames. */
export interface LiveWire {
  socket: Duplex;
  deflate: boolean;
}

/** The RFC 7692 7.2.1 tail that a sync flush ends with, and that is left off the wire. */
const SYNC_TAIL = Buffer.from([0x00, 0x00, 0xff, 0xff]);

/** One message for many clients. Its plain and compressed frames are built the first time a client needs them. */
export class SharedFrame {
  private plainFrame: Buffer | null = null;
  private deflatedFrame: Buffer | null = null;

  constructor(
    readonly json: Buffer,
    private readonly stats: FrameStats,
  ) {}

  /** A text frame carrying the JSON as it is. */
  plain(): Buffer {
    return (this.plainFrame ??= frame(this.json, false));
  }

  /** A text frame with RSV1 set, carrying the JSON deflated once for everyone (the plain frame for small messages). */
  deflated(): Buffer {
    if (this.json.length < DEFLATE_MIN_BYTES) return this.plain();
    if (!this.deflatedFrame) {
      const out = zlib.deflateRawSync(this.json, { finishFlush: zlib.constants.Z_SYNC_FLUSH });
      if (!out.subarray(out.length - 4).equals(SYNC_TAIL)) throw new Error('zlib sync flush did not end with 00 00 ff ff');
      const payload = out.subarray(0, out.length - 4);
      this.stats.deflates++;
      this.stats.bytesIn += this.json.length;
      this.stats.bytesOut += payload.length;
      this.deflatedFrame = frame(payload, true);
    }
    return this.deflatedFrame;
  }

  /** Writes the frame the client agreed to. The caller checks that the socket is open. */
  writeTo(wire: LiveWire): void {
    wire.socket.write(wire.deflate ? this.deflated() : this.plain());
  }
}

/** A final, unmasked text frame: header and payload in one buffer, so each client costs one socket write. */
function frame(payload: Buffer, rsv1: boolean): Buffer {
  const parts = wsExtras.Sender.frame(payload, { fin: true, opcode: 0x1, rsv1, mask: false, readOnly: false });
  return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
}

/**
 * Whether the handshake's response headers (ws's `headers` event) agreed to the deflate that shared frames need:
 * `permessage-deflate` with `server_no_context_takeover`, and a server window of 15 bits (zlib's default, which shared
 * frames use). A client that asked for a smaller window gets plain frames.
 */
export function agreesToSharedDeflate(responseHeaders: readonly string[]): boolean {
  const line = responseHeaders.find((h) => h.toLowerCase().startsWith('sec-websocket-extensions:'));
  if (!line) return false;
  let agreed: Record<string, (string | true)[]> | undefined;
  try {
    agreed = wsExtras.extension.parse(line.slice(line.indexOf(':') + 1).trim())['permessage-deflate']?.[0];
  } catch {
    return false;
  }
  if (!agreed || agreed['server_no_context_takeover']?.[0] !== true) return false;
  const bits = agreed['server_max_window_bits']?.[0];
  return bits === undefined || Number(bits) >= 15;
}

/**
 * Watches a ws server's handshakes. The function it returns gives a connection's wire from its upgrade request, as
 * the `connection` event and Nest's `handleConnection` receive it.
 */
export function trackLiveWires(server: { on(event: 'headers', listener: (headers: string[], req: IncomingMessage) => void): unknown }): (req: IncomingMessage) => LiveWire {
  const deflating = new WeakSet<IncomingMessage>();
  server.on('headers', (headers, req) => {
    if (agreesToSharedDeflate(headers)) deflating.add(req);
  });
  return (req) => ({ socket: req.socket, deflate: deflating.has(req) });
}
