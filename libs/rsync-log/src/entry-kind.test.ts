import { test } from 'node:test';
import assert from 'node:assert/strict';
import { entryKind } from './entry-kind';
import type { FileOp } from './types';

test('entryKind: regular files are files, directories are apart, deletions are deletions', () => {
  const cases: [FileOp, string, ReturnType<typeof entryKind>][] = [
    ['recv', '>f+++++++++', 'file'], // new file pushed
    ['recv', '>f.st......', 'file'], // changed file pushed
    ['recv', '.f...p.....', 'file'], // attributes of a file only
    ['recv', 'hf+++++++++', 'file'], // hard link to a file
    ['send', '<f+++++++++', 'file'], // file pulled
    ['recv', 'cd+++++++++', 'dir'], // new directory
    ['recv', '.d..t......', 'dir'], // directory times
    ['send', 'cd+++++++++', 'dir'],
    ['recv', 'cL+++++++++', 'other'], // symlink
    ['recv', 'cD+++++++++', 'other'], // device
    ['recv', 'cS+++++++++', 'other'], // fifo/socket
    ['del', '*deleting  ', 'deleted'],
    ['recv', '', 'other'], // nothing to go by
  ];
  for (const [op, itemize, kind] of cases) assert.equal(entryKind(op, itemize), kind, `${op} ${JSON.stringify(itemize)}`);
});
