import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tls from 'node:tls';
import { createCa, issueServerCertificate } from './certificates';
import { MAX_CONNECTIONS_PER_ADDRESS, TlsFront } from './tls-front';

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

async function waitFor(what: string, check: () => boolean, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('TlsFront', () => {
  const front = new TlsFront();
  // The real per-connection daemon (rsync in inetd mode): it waits for the client's greeting, which these test
  // clients never send, so each admitted connection holds one process.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rsynchub-front-test-'));
  const configFile = path.join(dir, 'rsyncd-tls.conf');
  fs.writeFileSync(configFile, `use chroot = no\nlog file = ${dir}/log\nproxy protocol = yes\nproxy protocol hosts = 127.0.0.1\n[m]\npath = ${dir}\n`);
  const clients: tls.TLSSocket[] = [];
  let port = 0;

  before(async () => {
    const ca = await createCa({ commonName: 'test CA' });
    const leaf = await issueServerCertificate({ ca, names: ['127.0.0.1', '127.0.0.2'] });
    port = await freePort();
    await front.start({ host: '0.0.0.0', port, cert: leaf.certPem, key: leaf.keyPem, daemon: () => ({ rsyncPath: 'rsync', configFile }) });
  });

  after(async () => {
    for (const c of clients) c.destroy();
    await front.stop();
    assert.equal(front.daemons, 0, 'stop takes every per-connection daemon down');
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const open = (localAddress: string) => {
    const raw = net.connect({ host: '127.0.0.1', port, localAddress });
    raw.on('error', () => undefined);
    const c = tls.connect({ socket: raw, rejectUnauthorized: false });
    c.on('error', () => undefined);
    clients.push(c);
    return c;
  };

  test('one address cannot hold more than its share of daemon processes (the rest of the world still gets in)', async () => {
    for (let i = 0; i < MAX_CONNECTIONS_PER_ADDRESS + 10; i++) open('127.0.0.2');
    await waitFor('the allowed connections to get a daemon each', () => front.daemons === MAX_CONNECTIONS_PER_ADDRESS, 30_000);
    // Every connection of the flooding address over its share is closed without reaching the backend.
    await waitFor('the excess connections to be closed', () => clients.filter((c) => c.destroyed).length >= 10);
    assert.equal(front.daemons, MAX_CONNECTIONS_PER_ADDRESS);
    const other = open('127.0.0.3');
    await waitFor('another address to get its daemon', () => front.daemons === MAX_CONNECTIONS_PER_ADDRESS + 1, 30_000);
    assert.equal(other.destroyed, false);
  });
});
