import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { LogLineSplitter, splitLogLines, type LogLine } from './split';
import { bytes, readFixture } from './fixture-support';

/** What a splitter must produce, computed the obvious way. */
function reference(data: Buffer, startOffset = 0): { lines: { line: Buffer; start: number; end: number }[]; rest: number } {
  const lines: { line: Buffer; start: number; end: number }[] = [];
  let from = 0;
  for (let i = 0; i < data.length; i++) {
    if (data[i] === 0x0a) {
      lines.push({ line: data.subarray(from, i), start: startOffset + from, end: startOffset + i + 1 });
      from = i + 1;
    }
  }
  return { lines, rest: data.length - from };
}

function feed(splitter: LogLineSplitter, chunks: Buffer[]): LogLine[] {
  const out: LogLine[] = [];
  for (const chunk of chunks) {
    // Copy what we keep and scribble over the chunk: the splitter must not depend on the caller's buffer later.
    for (const l of splitter.push(chunk)) out.push({ ...l, line: Buffer.from(l.line) });
    chunk.fill(0x21);
  }
  return out;
}

function simplify(lines: LogLine[]) {
  return lines.map(({ line, start, end, truncated }) => ({ line: line.toString('hex'), start, end, truncated }));
}

describe('LogLineSplitter', () => {
  const data = readFixture();
  const expected = reference(data);
  const expectedSimple = simplify(expected.lines.map((l) => ({ ...l, truncated: false })));

  it('splits the real log into the lines that end at raw \\n bytes', () => {
    const splitter = new LogLineSplitter();
    const lines = feed(splitter, [Buffer.from(data)]);
    assert.deepStrictEqual(simplify(lines), expectedSimple);
    assert.equal(lines.length, 112);
    assert.equal(splitter.offset, data.length);
    assert.equal(splitter.pendingBytes, 0);
  });

  it('gives the same lines and offsets for a split at every byte position', () => {
    for (let cut = 0; cut <= data.length; cut++) {
      const splitter = new LogLineSplitter();
      const lines = feed(splitter, [Buffer.from(data.subarray(0, cut)), Buffer.from(data.subarray(cut))]);
      assert.deepStrictEqual(simplify(lines), expectedSimple, `cut at ${cut}`);
      assert.equal(splitter.offset, data.length);
    }
  });

  it('gives the same lines and offsets fed one byte at a time, and in random chunk sizes', () => {
    const oneByte = new LogLineSplitter();
    const chunks: Buffer[] = [];
    for (let i = 0; i < data.length; i++) chunks.push(Buffer.from(data.subarray(i, i + 1)));
    assert.deepStrictEqual(simplify(feed(oneByte, chunks)), expectedSimple);

    let seed = 99;
    const random = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
    for (let round = 0; round < 50; round++) {
      const parts: Buffer[] = [];
      for (let at = 0; at < data.length; ) {
        const size = Math.floor(random() * 300);
        parts.push(Buffer.from(data.subarray(at, at + size)));
        at += size;
      }
      assert.deepStrictEqual(simplify(feed(new LogLineSplitter(), parts)), expectedSimple);
    }
  });

  it('keeps a partial last line pending, offset at the last complete line', () => {
    const cut = data.length - 10;
    const splitter = new LogLineSplitter();
    const lines = feed(splitter, [Buffer.from(data.subarray(0, cut))]);
    const lastEnd = lines[lines.length - 1]!.end;
    assert.equal(splitter.offset, lastEnd);
    assert.equal(splitter.pendingBytes, cut - lastEnd);
    assert.equal(lines.length, 111);
    const more = feed(splitter, [Buffer.from(data.subarray(cut))]);
    assert.deepStrictEqual(simplify(more), expectedSimple.slice(111));
  });

  it('resumes at a stored offset', () => {
    const resumeAt = expected.lines[50]!.start;
    const splitter = new LogLineSplitter({ startOffset: resumeAt });
    const lines = feed(splitter, [Buffer.from(data.subarray(resumeAt))]);
    assert.deepStrictEqual(simplify(lines), expectedSimple.slice(50));
    assert.equal(splitter.offset, data.length);
  });

  it('handles empty chunks, empty lines and \\r as data', () => {
    const splitter = new LogLineSplitter({ startOffset: 100 });
    const lines = feed(splitter, [Buffer.alloc(0), bytes('\n\na\r\n'), Buffer.alloc(0), bytes('b')]);
    assert.deepStrictEqual(simplify(lines), [
      { line: '', start: 100, end: 101, truncated: false },
      { line: '', start: 101, end: 102, truncated: false },
      { line: bytes('a\r').toString('hex'), start: 102, end: 105, truncated: false },
    ]);
    assert.equal(splitter.pendingBytes, 1);
    const last = splitter.flush()!;
    assert.deepStrictEqual(simplify([last]), [{ line: bytes('b').toString('hex'), start: 105, end: 106, truncated: false }]);
    assert.equal(splitter.flush(), null);
    assert.equal(splitter.offset, 106);
  });

  it('cuts over-long lines but keeps offsets exact, whether they arrive whole or in pieces', () => {
    const input = bytes('0123456789\nabc\n0123456789');
    for (const chunks of [[input], [input.subarray(0, 3), input.subarray(3, 13), input.subarray(13)]]) {
      const splitter = new LogLineSplitter({ maxLineBytes: 4 });
      const lines = feed(splitter, chunks.map((c) => Buffer.from(c)));
      lines.push(splitter.flush()!);
      assert.deepStrictEqual(simplify(lines), [
        { line: bytes('0123').toString('hex'), start: 0, end: 11, truncated: true },
        { line: bytes('abc').toString('hex'), start: 11, end: 15, truncated: false },
        { line: bytes('0123').toString('hex'), start: 15, end: 25, truncated: true },
      ]);
      assert.equal(splitter.offset, 25);
    }
  });

  it('rejects nonsense options', () => {
    assert.throws(() => new LogLineSplitter({ startOffset: -1 }), RangeError);
    assert.throws(() => new LogLineSplitter({ maxLineBytes: 0 }), RangeError);
  });

  it('splitLogLines includes a final unterminated line', () => {
    const lines = splitLogLines(bytes('a\nb'), 10);
    assert.deepStrictEqual(simplify(lines), [
      { line: bytes('a').toString('hex'), start: 10, end: 12, truncated: false },
      { line: bytes('b').toString('hex'), start: 12, end: 13, truncated: false },
    ]);
  });
});
