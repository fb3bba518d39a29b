/**
 * The bytes of live-stream messages, built once and handed to every socket that wants them (ws sends a Buffer as
 * it is; a string would be copied into every client's frame). A `session.file` batch is assembled from the JSON of
 * each event's files, serialized once per event, so gathering a batch never re-serializes a file. Pure.
 */
import type { LiveMessage } from '@rsynchub/contracts';

/** One message, as JSON bytes. */
export function messageFrame(msg: LiveMessage): Buffer {
  return Buffer.from(JSON.stringify(msg));
}

/** The files of one `session.file` event as JSON array items without the brackets ('' for no files). */
export function fileFragment(files: readonly unknown[]): string {
  return JSON.stringify(files).slice(1, -1);
}

/**
 * A `session.file` batch: byte for byte what `messageFrame({ type: 'session.file', id, at, data })` gives for the
 * files the fragments hold, in their order.
 */
export function fileBatchFrame(id: number, at: string, fragments: readonly string[]): Buffer {
  let data = '';
  for (const f of fragments) {
    if (f === '') continue;
    data = data === '' ? f : `${data},${f}`;
  }
  return Buffer.from(`{"type":"session.file","id":${JSON.stringify(id)},"at":${JSON.stringify(at)},"data":[${data}]}`);
}
