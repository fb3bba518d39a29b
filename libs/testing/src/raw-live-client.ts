/**
 * Test support: a WebSocket client over a plain TCP socket that keeps every server frame as
 * it came: RSV1 bit, opcode, payload. A ws client hides those bits. This one shows whether a frame was compressed,
 * and its bytes can go through any inflater a test chooses.
 */
import * as crypto from 'node:crypto';
import * as net from 'node:net';
import * as zlib from 'node:zlib';

export interface RawFrame {
  rsv1: boolean;
  opcode: number;
  payload: Buffer;
}

export interface RawLiveClient {
  /** The upgrade response's status line and headers. */
  response: string;
  frames: RawFrame[];
  socket: net.Socket;
  close(): void;
}

/** The bytes a compressed message's payload lacks (RFC 7692 7.2.2): added back before inflating. */
export const DEFLATE_TAIL = Buffer.from([0x00, 0x00, 0xff, 0xff]);

/** A message's text: inflated on its own when RSV1 is set (a standard raw inflater), as it is otherwise. */
export function textOf(frame: RawFrame): string {
  return (frame.rsv1 ? inflateMessage(frame.payload) : frame.payload).toString('utf8');
}

/**
 * One compressed message, inflated on its own: the tail put back, and read up to the sync flush (a message carries no
 * final deflate block, so zlib's default of "read to the end" would call it truncated).
 */
export function inflateMessage(payload: Buffer): Buffer {
  return zlib.inflateRawSync(Buffer.concat([payload, DEFLATE_TAIL]), { finishFlush: zlib.constants.Z_SYNC_FLUSH });
}

/**
 * The texts of the data frames in order, read as a client that keeps its inflater's context across messages does
 * (context takeover, as browsers do unless told otherwise): one inflate stream for the whole connection.
 */
export async function textsWithContextTakeover(frames: readonly RawFrame[]): Promise<string[]> {
  const inflate = zlib.createInflateRaw();
  let out: Buffer[] = [];
  inflate.on('data', (d: Buffer) => out.push(d));
  const texts: string[] = [];
  for (const f of frames) {
    if (f.opcode !== 0x1) continue;
    if (!f.rsv1) {
      texts.push(f.payload.toString('utf8'));
      continue;
    }
    inflate.write(Buffer.concat([f.payload, DEFLATE_TAIL]));
    await new Promise<void>((resolve) => inflate.flush(zlib.constants.Z_SYNC_FLUSH, () => resolve()));
    texts.push(Buffer.concat(out).toString('utf8'));
    out = [];
  }
  inflate.close();
  return texts;
}

/** Bytes of the first frame in `buf`, or how many are needed to know that. */
function frameLength(buf: Buffer): number {
  if (buf.length < 2) return 2;
  const len7 = buf[1]! & 0x7f;
  const header = 2 + (len7 === 126 ? 2 : len7 === 127 ? 8 : 0);
  if (buf.length < header) return header;
  return header + (len7 === 126 ? buf.readUInt16BE(2) : len7 === 127 ? Number(buf.readBigUInt64BE(2)) : len7);
}

/** `extensions`: the `Sec-WebSocket-Extensions` offer (none when undefined). */
export function rawLiveClient(port: number, path: string, extensions?: string, headers: Record<string, string> = {}): Promise<RawLiveClient> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    const client: RawLiveClient = { response: '', frames: [], socket, close: () => socket.destroy() };
    let handshake: Buffer | null = Buffer.alloc(0);
    let parts: Buffer[] = [];
    let have = 0;
    let need = 2;
    const onFrames = (chunk: Buffer) => {
      parts.push(chunk);
      have += chunk.length;
      while (have >= need) {
        const buf = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
        parts = [buf];
        const total = frameLength(buf);
        if (buf.length < total) {
          need = total;
          return;
        }
        const len7 = buf[1]! & 0x7f;
        const header = 2 + (len7 === 126 ? 2 : len7 === 127 ? 8 : 0);
        client.frames.push({ rsv1: (buf[0]! & 0x40) !== 0, opcode: buf[0]! & 0x0f, payload: Buffer.from(buf.subarray(header, total)) });
        const rest = buf.subarray(total);
        parts = rest.length > 0 ? [rest] : [];
        have = rest.length;
        need = 2;
      }
    };
    socket.on('connect', () => {
      const extra = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('');
      socket.write(
        `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          `Sec-WebSocket-Key: ${crypto.randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n` +
          (extensions === undefined ? '' : `Sec-WebSocket-Extensions: ${extensions}\r\n`) +
          `${extra}\r\n`,
      );
    });
    socket.on('data', (chunk: Buffer) => {
      if (handshake === null) return onFrames(chunk);
      handshake = Buffer.concat([handshake, chunk]);
      const end = handshake.indexOf('\r\n\r\n');
      if (end === -1) return;
      client.response = handshake.toString('latin1', 0, end);
      const rest = handshake.subarray(end + 4);
      handshake = null;
      if (!client.response.startsWith('HTTP/1.1 101')) {
        socket.destroy();
        reject(new Error(`upgrade refused: ${client.response.split('\r\n')[0]}`));
        return;
      }
      resolve(client);
      if (rest.length > 0) onFrames(rest);
    });
    socket.once('error', (err) => {
      if (handshake !== null) reject(err);
    });
  });
}
