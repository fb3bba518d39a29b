/**
 * File names are bytes on Linux, not necessarily UTF-8 (Latin-1 and GBK names are common among sersync users). Paths
 * travel through the agent as JS strings (coalescing, the JSON journal, logs), so a name that is not valid UTF-8 is
 * decoded losslessly, the way Python's "surrogateescape" does: every byte that is not part of a valid UTF-8 sequence
 * becomes the lone surrogate U+DC80 + (byte - 0x80). Valid UTF-8 names are untouched; encodePath() gives back the
 * exact bytes (for rsync's --files-from and for lstat). JSON.stringify escapes lone surrogates (\udcxx), so the journal
 * round-trips them too.
 */
import { isUtf8 } from 'node:buffer';

export function decodePath(bytes: Buffer): string {
  if (isUtf8(bytes)) return bytes.toString('utf8');
  let out = '';
  let i = 0;
  const n = bytes.length;
  while (i < n) {
    const b = bytes[i]!;
    if (b < 0x80) {
      out += String.fromCharCode(b);
      i++;
      continue;
    }
    const len = b >= 0xc2 && b <= 0xdf ? 2 : b >= 0xe0 && b <= 0xef ? 3 : b >= 0xf0 && b <= 0xf4 ? 4 : 0;
    if (len > 0 && i + len <= n && isUtf8(bytes.subarray(i, i + len))) {
      out += bytes.toString('utf8', i, i + len);
      i += len;
    } else {
      out += String.fromCharCode(0xdc00 + b);
      i++;
    }
  }
  return out;
}

/** The bytes of a path decoded by decodePath (or any ordinary string). */
export function encodePath(p: string): Buffer {
  if (!/[\udc80-\udcff]/.test(p)) return Buffer.from(p, 'utf8');
  const parts: Buffer[] = [];
  let run = '';
  for (let i = 0; i < p.length; i++) {
    const c = p.charCodeAt(i);
    const prev = i > 0 ? p.charCodeAt(i - 1) : 0;
    // A low surrogate that completes a pair is ordinary text; a lone one in U+DC80..U+DCFF is an escaped byte.
    if (c >= 0xdc80 && c <= 0xdcff && !(prev >= 0xd800 && prev <= 0xdbff)) {
      if (run) parts.push(Buffer.from(run, 'utf8'));
      run = '';
      parts.push(Buffer.of(c - 0xdc00));
    } else {
      run += p[i];
    }
  }
  if (run) parts.push(Buffer.from(run, 'utf8'));
  return Buffer.concat(parts);
}

/** True when a path holds bytes that are not UTF-8 (for log lines that say so). */
export function hasEscapedBytes(p: string): boolean {
  return /[\udc80-\udcff]/.test(p);
}
