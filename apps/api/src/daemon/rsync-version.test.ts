import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compareVersions, parseRsyncVersion, probeRsync } from './rsync-version';

test('parseRsyncVersion reads the version of real --version banners', () => {
  const cases: [string, string | null][] = [
    ['rsync  version 3.5.0  protocol version 32\nCopyright (C) 1996-2026', '3.5.0'],
    ['rsync  version v3.2.7  protocol version 31', '3.2.7'],
    ['rsync  version 3.1.3  protocol version 31', '3.1.3'],
    ['openrsync: protocol version 29', null],
    ['', null],
  ];
  for (const [input, expected] of cases) assert.equal(parseRsyncVersion(input), expected, input);
});

test('compareVersions orders numerically, not as text', () => {
  const cases: [string, string, number][] = [
    ['3.5.0', '3.5.0', 0],
    ['3.10.0', '3.5.0', 1],
    ['3.2.7', '3.5.0', -1],
    ['4.0.0', '3.99.99', 1],
  ];
  for (const [a, b, expected] of cases) assert.equal(compareVersions(a, b), expected, `${a} vs ${b}`);
});

test('probeRsync accepts the installed rsync and names the package when the binary is missing', async () => {
  const real = await probeRsync('rsync');
  assert.equal(real.ok, true, JSON.stringify(real));
  const missing = await probeRsync('/nonexistent/rsync');
  assert.equal(missing.ok, false);
  if (!missing.ok) assert.match(missing.error, /install rsync >= 3\.5\.0/);
});

test('probeRsync refuses a version below 3.5.0', async () => {
  // A real executable that prints an old banner, as an old distribution rsync would.
  const fs = await import('node:fs');
  const os = await import('node:os');
  const path = await import('node:path');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rh-oldrsync-'));
  const fake = path.join(dir, 'rsync');
  fs.writeFileSync(fake, '#!/bin/sh\necho "rsync  version 3.2.7  protocol version 31"\n', { mode: 0o755 });
  const old = await probeRsync(fake);
  assert.equal(old.ok, false);
  if (!old.ok) assert.match(old.error, /rsync 3\.2\.7 is too old/);
});
