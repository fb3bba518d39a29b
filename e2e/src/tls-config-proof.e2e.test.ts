/**
 * Review finding F6 (issue 11): `rsyncd-tls.conf` is proven by the real rsync before it is written, as the plain file
 * is. To get a TLS config that rsync refuses while the plain one is fine, the server runs rsync through a wrapper that
 * adds an unknown daemon parameter to an inetd-mode rsync (how TLS connections and their proof run) whose config
 * holds a module named `tlsreject`: the real rsync then refuses to start, exactly as it would for a config it cannot
 * accept. Everything else is the real server and the real rsync.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { RunningServer, startServer, waitFor } from './support/server';

describe('the TLS daemon config is proven before it is written (F6)', () => {
  let server: RunningServer;

  before(async () => {
    const realRsync = execFileSync('sh', ['-c', 'command -v rsync'], { encoding: 'utf8' }).trim();
    const wrapper = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'rh-tls-proof-')), 'rsync');
    fs.writeFileSync(
      wrapper,
      `#!/bin/sh
inetd=yes; conf=
for a in "$@"; do case "$a" in --port=*) inetd=no;; --config=*) conf="\${a#--config=}";; esac; done
if [ "$inetd" = yes ] && [ -n "$conf" ] && grep -q '^\\[tlsreject' "$conf"; then exec ${realRsync} --dparam=nosuchparameter=1 "$@"; fi
exec ${realRsync} "$@"
`,
      { mode: 0o755 },
    );
    server = await startServer({ env: { RSYNCHUB_RSYNC_BINARY: wrapper } });
    const res = await server.admin.post('/api/v1/modules', { name: 'kept', path: path.join(server.storageRoot, 'kept'), anonymous: 'read' });
    assert.equal(res.status, 201, res.text);
    await waitFor('the TLS listener', async () => (await server.admin.get('/api/v1/tls')).body.listening);
  });

  after(async () => {
    await server?.stop();
  });

  test('a change whose TLS config rsync refuses is refused with rsync\'s reason; both files and the database stay', async () => {
    const files = ['rsyncd.conf', 'rsyncd-tls.conf'].map((f) => path.join(server.dataDir, f));
    const before = files.map((f) => fs.readFileSync(f, 'utf8'));
    const res = await server.admin.post('/api/v1/modules', { name: 'tlsreject', path: path.join(server.storageRoot, 'tlsreject'), anonymous: 'read', tlsOnly: true });
    assert.equal(res.status, 400, res.text);
    assert.match(res.text, /rsyncd-tls\.conf/);
    assert.match(res.text, /nosuchparameter/, 'rsync\'s own reason is named');
    assert.deepEqual(files.map((f) => fs.readFileSync(f, 'utf8')), before, 'the old files stay');
    assert.equal((await server.admin.get('/api/v1/modules/tlsreject')).status, 404, 'nothing committed');
    // The listener keeps serving the old config.
    const status = (await server.admin.get('/api/v1/tls')).body;
    assert.equal(status.listening, true);
    // A change rsync accepts still goes through.
    assert.equal((await server.admin.post('/api/v1/modules', { name: 'fine', path: path.join(server.storageRoot, 'fine'), anonymous: 'read', tlsOnly: true })).status, 201);
    assert.match(fs.readFileSync(files[1]!, 'utf8'), /^\[fine\]/m);
  });
});
