import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileBatchFrame, fileFragment, messageFrame } from './live-frames';

const file = (path: string) => ({ id: 1, at: '2026-12-01T10:00:00.000Z', op: 'recv', path, size: 10, bytes: 10, itemize: '>f+++++++++' });

test('a file batch is byte for byte the JSON of the same message, whatever the file names', () => {
  const cases: [string, unknown[][]][] = [
    ['one event, one file', [[file('a')]]],
    ['several events in order', [[file('a'), file('b')], [file('c')], [file('d'), file('e'), file('f')]]],
    ['an event without files in between', [[file('a')], [], [file('b')]]],
    ['names that need escaping', [[file('quote " backslash \\ newline \n tab \t'), file('ünïcödé ✓ 😀'), file('</script>'), file('\u2028\u2029')]]],
    ['no files at all', [[], []]],
  ];
  for (const [what, events] of cases) {
    const id = 1_764_583_200_000_123;
    const at = '2026-12-01T10:00:00.100Z';
    const got = fileBatchFrame(id, at, events.map(fileFragment));
    const want = messageFrame({ type: 'session.file', id, at, data: events.flat() });
    assert.equal(got.toString(), want.toString(), what);
    assert.deepEqual(JSON.parse(got.toString()), { type: 'session.file', id, at, data: events.flat() }, what);
  }
});

test('a message frame is the JSON of the message in UTF-8', () => {
  const msg = { type: 'hello' as const, at: '2026-12-01T10:00:00.000Z', data: { name: 'é' } };
  assert.deepEqual(messageFrame(msg), Buffer.from(JSON.stringify(msg), 'utf8'));
});
