import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
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

async function waitFor(what: string, check: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('TlsFront', () => {
  const front = new TlsFront();
  // Stands in for the proxy-protocol daemon: holds every connection open, as a forked rsync child waiting for the
  // client's greeting does.
  const backendSockets = new Set<net.Socket>();
  const backend = net.createServer((s) => {
    backendSockets.add(s);
    s.on('close', () => backendSockets.delete(s));
    s.on('error', () => undefined);
  });
  const clients: tls.TLSSocket[] = [];
  let port = 0;

  before(async () => {
    await new Promise<void>((r) => backend.listen(0, '127.0.0.1', () => r()));
    const ca = await createCa({ commonName: 'test CA' });
    const leaf = await issueServerCertificate({ ca, names: ['127.0.0.1', '127.0.0.2'] });
    port = await freePort();
    const backendPort = (backend.address() as net.AddressInfo).port;
    await front.start({ host: '0.0.0.0', port, cert: leaf.certPem, key: leaf.keyPem, backend: () => ({ host: '127.0.0.1', port: backendPort }) });
  });

  after(async () => {
    for (const c of clients) c.destroy();
    await front.stop();
    for (const s of backendSockets) s.destroy();
    backend.close();
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
    await waitFor('the allowed connections to reach the backend', () => backendSockets.size === MAX_CONNECTIONS_PER_ADDRESS);
    // Every connection of the flooding address over its share is closed without reaching the backend.
    await waitFor('the excess connections to be closed', () => clients.filter((c) => c.destroyed).length >= 10);
    assert.equal(backendSockets.size, MAX_CONNECTIONS_PER_ADDRESS);
    const other = open('127.0.0.3');
    await waitFor('another address to be relayed', () => backendSockets.size === MAX_CONNECTIONS_PER_ADDRESS + 1);
    assert.equal(other.destroyed, false);
  });
});
