import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { classifyRsyncFailure } from './classify-rsync-failure';

const ctx = { user: 'backup', module: 'data', from: '127.0.0.1' };

test('classifyRsyncFailure names what failed from the daemon\'s @ERROR lines and rsync\'s exit code', () => {
  const cases: [string, number | null, string, string][] = [
    ['auth failed', 5, '@ERROR: auth failed on module data\nrsync error: error starting client-server protocol (code 5) at main.c(1850) [Receiver=3.2.7]', 'auth_failed'],
    ['unknown module', 5, '@ERROR: Unknown module \'nope\'\nrsync error: error starting client-server protocol (code 5)', 'unknown_module'],
    ['host denied', 5, '@ERROR: access denied to data from localhost (127.0.0.1)\nrsync error: error starting client-server protocol (code 5)', 'host_denied'],
    ['max connections', 5, '@ERROR: max connections (1) reached -- try again later', 'other'],
    ['connection refused', 10, 'rsync: failed to connect to 127.0.0.1 (127.0.0.1): Connection refused (111)\nrsync error: error in socket IO (code 10)', 'connection_refused'],
    ['timeout exit code', 35, 'rsync error: timeout waiting for daemon connection (code 35)', 'timeout'],
    ['unrecognised', 12, 'rsync: protocol violation\n', 'other'],
    ['no output at all', null, '', 'other'],
  ];
  for (const [name, code, stderr, want] of cases) {
    const r = classifyRsyncFailure(code, stderr, ctx);
    assert.equal(r.problem, want, name);
    assert.ok(r.message.length > 10, name);
  }
  assert.match(classifyRsyncFailure(5, '@ERROR: auth failed on module data', ctx).message, /user "backup"/);
  assert.match(classifyRsyncFailure(5, '@ERROR: auth failed on module data', { ...ctx, user: null }).message, /anonymous/);
  assert.match(classifyRsyncFailure(12, 'rsync: protocol violation\n', ctx).message, /exit 12.*protocol violation/);
});
