/**
 * Daemon settings that cannot take the daemon down: an address change is bind-tested before anything is saved,
 * and a port/address pinned by an environment variable cannot be changed through the API.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { rsync, RunningServer, startServer } from './support/server';

describe('address changes on an unpinned server', () => {
  let server: RunningServer;
  before(async () => {
    server = await startServer({ pinListen: false });
  });
  after(async () => {
    await server?.stop();
  });

  test('an address this machine does not have is a 400 naming the field; nothing is saved and the daemon keeps running', async () => {
    const before = (await server.admin.get('/api/v1/daemon')).body;
    const res = await server.admin.put('/api/v1/daemon/settings', { address: '1.2.3.4' });
    assert.equal(res.status, 400, res.text);
    assert.match(res.body.message, /address/);
    assert.match(res.body.message, /not an address of this machine/);
    const settings = (await server.admin.get('/api/v1/daemon/settings')).body;
    assert.equal(settings.address, '127.0.0.1');
    assert.deepEqual(settings.pinnedByEnvironment, {});
    const st = (await server.admin.get('/api/v1/daemon')).body;
    assert.equal(st.state, 'running');
    assert.equal(st.pid, before.pid, 'not restarted');
    assert.equal((await rsync([`rsync://127.0.0.1:${server.rsyncPort}/`])).code, 0, 'still serving');
  });

  test('an address the machine has is accepted on the same port (our own daemon holding the port is not a conflict)', async () => {
    const res = await server.admin.put('/api/v1/daemon/settings', { address: '0.0.0.0' });
    assert.equal(res.status, 200, res.text);
    const back = await server.admin.put('/api/v1/daemon/settings', { address: '127.0.0.1' });
    assert.equal(back.status, 200, back.text);
  });
});

describe('a port and address pinned by the environment', () => {
  let server: RunningServer;
  before(async () => {
    server = await startServer();
  });
  after(async () => {
    await server?.stop();
  });

  test('changing them is a 409 naming the variable; the same value and other fields are fine; the view says what is pinned', async () => {
    const port = await server.admin.put('/api/v1/daemon/settings', { port: server.rsyncPort + 1 });
    assert.equal(port.status, 409, port.text);
    assert.match(port.body.message, /RSYNCHUB_RSYNC_PORT/);
    const address = await server.admin.put('/api/v1/daemon/settings', { address: '0.0.0.0' });
    assert.equal(address.status, 409, address.text);
    assert.match(address.body.message, /RSYNCHUB_RSYNC_ADDRESS/);
    const same = await server.admin.put('/api/v1/daemon/settings', { port: server.rsyncPort, address: '127.0.0.1', timeout: 30 });
    assert.equal(same.status, 200, same.text);
    const view = (await server.admin.get('/api/v1/daemon/settings')).body;
    assert.deepEqual(view.pinnedByEnvironment, { port: 'RSYNCHUB_RSYNC_PORT', address: 'RSYNCHUB_RSYNC_ADDRESS' });
    assert.equal(view.port, server.rsyncPort);
    assert.equal(view.timeout, 30);
  });
});
