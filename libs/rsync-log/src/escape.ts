/**
 * rsync's escaping of bytes in the lines it writes to the daemon log (verified against rsync 3.5.0, see
 * fixtures/capture.sh): a byte b with (b & 0x7f) < 0x20 other than TAB is written as `\#ooo` (3 octal digits), and
 * a `\` that starts `\#` + 3 decimal digits is itself written as `\#134`. Everything else is written raw, including
 * `|`, TAB, DEL and bytes that are not UTF-8. Decoding therefore works on bytes, never on decoded text.
 */

const BACKSLASH = 0x5c;
const HASH = 0x23;
const TAB = 0x09;

function isOctalDigit(b: number): boolean {
  return b >= 0x30 && b <= 0x37;
}

function isDecimalDigit(b: number): boolean {
  return b >= 0x30 && b <= 0x39;
}

/**
 * Decodes every `\#ooo` in buf[start, end) to the byte it stands for (`\#377` -> 0xff, `\#012` -> 0x0a); any other
 * byte, a lone `\` included, is kept. Returns a new Buffer (never shares memory with `buf`).
 */
export function decodeRsyncEscapes(buf: Uint8Array, start = 0, end = buf.length): Buffer {
  let i = buf.indexOf(BACKSLASH, start);
  if (i === -1 || i >= end) return Buffer.from(buf.subarray(start, end));
  const out = Buffer.allocUnsafe(end - start);
  let o = 0;
  let from = start;
  while (i !== -1 && i < end) {
    if (
      i + 4 < end &&
      buf[i + 1] === HASH &&
      isOctalDigit(buf[i + 2]!) &&
      isOctalDigit(buf[i + 3]!) &&
      isOctalDigit(buf[i + 4]!)
    ) {
      const value = ((buf[i + 2]! - 0x30) << 6) | ((buf[i + 3]! - 0x30) << 3) | (buf[i + 4]! - 0x30);
      if (value <= 0xff) {
        out.set(buf.subarray(from, i), o);
        o += i - from;
        out[o++] = value;
        from = i + 5;
        i = buf.indexOf(BACKSLASH, from);
        continue;
      }
    }
    i = buf.indexOf(BACKSLASH, i + 1);
  }
  out.set(buf.subarray(from, end), o);
  o += end - from;
  return out.subarray(0, o);
}

/** True if rsync writes byte b of a name as `\#ooo`. */
function mustEscape(b: number): boolean {
  return (b & 0x7f) < 0x20 && b !== TAB;
}

/**
 * Encodes bytes the way rsync 3.5.0 writes them into its log (the inverse of decodeRsyncEscapes). Useful to build
 * expected log lines and to search a log for a known name.
 */
export function encodeRsyncEscapes(bytes: Uint8Array): Buffer {
  const parts: number[] = [];
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    const startsEscapeLookalike =
      b === BACKSLASH &&
      i + 4 < bytes.length &&
      bytes[i + 1] === HASH &&
      isDecimalDigit(bytes[i + 2]!) &&
      isDecimalDigit(bytes[i + 3]!) &&
      isDecimalDigit(bytes[i + 4]!);
    if (startsEscapeLookalike || mustEscape(b)) {
      const octal = b.toString(8).padStart(3, '0');
      parts.push(BACKSLASH, HASH, octal.charCodeAt(0), octal.charCodeAt(1), octal.charCodeAt(2));
    } else {
      parts.push(b);
    }
  }
  return Buffer.from(parts);
}
