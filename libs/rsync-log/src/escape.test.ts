import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { decodeRsyncEscapes, encodeRsyncEscapes } from './escape';
import { bytes } from './fixture-support';

describe('decodeRsyncEscapes', () => {
  const CASES: { name: string; logged: Buffer; decoded: Buffer }[] = [
    { name: 'no escapes', logged: bytes('plain/name.txt'), decoded: bytes('plain/name.txt') },
    { name: 'newline', logged: bytes('a\\#012b'), decoded: bytes('a\nb') },
    { name: '\\#377 is the byte 0xff', logged: bytes('\\#377'), decoded: Buffer.from([0xff]) },
    { name: 'escaped backslash before #digits', logged: bytes('x\\#134#012y'), decoded: bytes('x\\#012y') },
    { name: 'escape at the very end', logged: bytes('end\\#134#012'), decoded: bytes('end\\#012') },
    { name: 'escape at the very start', logged: bytes('\\#001z'), decoded: bytes([0x01], 'z') },
    { name: 'adjacent escapes', logged: bytes('\\#237\\#230\\#200'), decoded: Buffer.from([0x9f, 0x98, 0x80]) },
    { name: 'lone backslash kept', logged: bytes('a\\b\\'), decoded: bytes('a\\b\\') },
    { name: 'backslash-hash without 3 digits kept', logged: bytes('a\\#xyz\\#12'), decoded: bytes('a\\#xyz\\#12') },
    { name: 'non-octal digits kept', logged: bytes('\\#089'), decoded: bytes('\\#089') },
    { name: 'value above 0377 kept', logged: bytes('\\#400'), decoded: bytes('\\#400') },
    { name: 'raw high bytes kept', logged: Buffer.from([0xc3, 0xbc, 0xff, 0x7f]), decoded: Buffer.from([0xc3, 0xbc, 0xff, 0x7f]) },
    { name: 'empty', logged: Buffer.alloc(0), decoded: Buffer.alloc(0) },
  ];
  for (const { name, logged, decoded } of CASES) {
    it(name, () => assert.deepStrictEqual(decodeRsyncEscapes(logged), decoded));
  }

  it('decodes only the given range and never shares memory with the input', () => {
    const buf = bytes('head|a\\#012b|tail');
    const out = decodeRsyncEscapes(buf, 5, 12);
    assert.deepStrictEqual(out, bytes('a\nb'));
    const plain = decodeRsyncEscapes(buf, 0, 4);
    buf[0] = 0x58;
    assert.deepStrictEqual(plain, bytes('head'));
  });
});

describe('encodeRsyncEscapes (the escaping rule observed in rsync 3.5.0 logs)', () => {
  const CASES: { name: string; fileName: Buffer; logged: Buffer }[] = [
    { name: 'C0 controls but tab', fileName: Buffer.from([0x01, 0x09, 0x0a, 0x1f]), logged: bytes('\\#001\t\\#012\\#037') },
    { name: 'C1 bytes', fileName: Buffer.from([0x80, 0x9f, 0xa0]), logged: bytes('\\#200\\#237', [0xa0]) },
    { name: 'DEL and 0xff raw', fileName: Buffer.from([0x7f, 0xff]), logged: Buffer.from([0x7f, 0xff]) },
    { name: '\\#ddd gets its backslash escaped', fileName: bytes('\\#999'), logged: bytes('\\#134#999') },
    { name: '\\#dd is raw', fileName: bytes('\\#99'), logged: bytes('\\#99') },
    { name: '| is raw', fileName: bytes('a|b'), logged: bytes('a|b') },
  ];
  for (const { name, fileName, logged } of CASES) {
    it(name, () => assert.deepStrictEqual(encodeRsyncEscapes(fileName), logged));
  }

  it('round-trips random names through decode', () => {
    let seed = 7;
    const random = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
    // Bias towards the interesting bytes.
    const interesting = [0x5c, 0x23, 0x30, 0x31, 0x37, 0x39, 0x0a, 0x09, 0x7f, 0x80, 0xff, 0x7c];
    for (let i = 0; i < 3000; i++) {
      const name = Buffer.alloc(Math.floor(random() * 24));
      for (let k = 0; k < name.length; k++) {
        name[k] = random() < 0.7 ? interesting[Math.floor(random() * interesting.length)]! : Math.floor(random() * 256);
      }
      const logged = encodeRsyncEscapes(name);
      for (const b of logged) assert.ok(b === 0x09 || (b & 0x7f) >= 0x20, 'encoded output holds a control byte');
      assert.deepStrictEqual(decodeRsyncEscapes(logged), name, name.toString('hex'));
    }
  });
});
