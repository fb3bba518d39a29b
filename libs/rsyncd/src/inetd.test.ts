/**
 * The TLS config's proof with the real rsync in inetd mode (rsync must be installed, as for every daemon test): a
 * rendered TLS config is accepted and lists its modules; configs rsync would not serve are refused with its reason.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { renderRsyncdConf } from './render';
import { connectedLoopbackPair, verifyInetdConfig } from './inetd';
import { baseModule } from './testing';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rsynchub-inetd-test-'));
const paths = { secretsFile: path.join(dir, 's'), pidFile: path.join(dir, 'p'), lockDir: dir, logFile: path.join(dir, 'log') };
const settings = { port: 8730, address: '127.0.0.1', motd: '', maxConnections: 0, timeout: 0, reverseLookup: false, hostsAllow: [], hostsDeny: [] };

function tlsConfig(proxyProtocolHosts = ['127.0.0.1']): string {
  const modules = [
    baseModule({ name: 'open', path: dir, users: [{ name: 'deploy', access: 'rw' }] }),
    baseModule({ name: 'secure', path: dir, tlsOnly: true, users: [{ name: 'deploy', access: 'rw' }] }),
  ];
  return renderRsyncdConf({ settings, modules, runningAsRoot: false, paths, transport: 'tls', proxyProtocolHosts }).text;
}

describe('verifyInetdConfig (real rsync, inetd mode, PROXY line)', () => {
  const cases: { name: string; config: () => string; ok: boolean; error?: RegExp }[] = [
    { name: 'a rendered TLS config is accepted and lists its modules, tlsOnly ones included', config: () => tlsConfig(), ok: true },
    { name: 'an unknown parameter is refused', config: () => tlsConfig().replace('proxy protocol = yes', 'proxy protocol = yes\nproxy protocol typo = yes'), ok: false, error: /Unknown Parameter|IGNORING/i },
    { name: 'a daemon that does not trust 127.0.0.1 for the PROXY line is refused (it would drop every connection)', config: () => tlsConfig(['192.0.2.1']), ok: false, error: /did not list/ },
    { name: 'a config without proxy protocol is refused (the PROXY line is not a greeting)', config: () => tlsConfig().replace('proxy protocol = yes\n', ''), ok: false },
  ];
  for (const c of cases) {
    test(c.name, async () => {
      const result = await verifyInetdConfig(c.config(), { timeoutMs: 20_000 });
      assert.equal(result.ok, c.ok, JSON.stringify(result));
      if (result.ok) assert.deepEqual(result.modules, ['open', 'secure']);
      else if (c.error) assert.match(result.error, c.error);
    });
  }
});

describe('connectedLoopbackPair', () => {
  test('the two ends are connected to each other, and the listener is gone afterwards', async () => {
    const { ours, theirs } = await connectedLoopbackPair();
    try {
      assert.equal(theirs.remotePort, ours.localPort);
      assert.equal(ours.remotePort, theirs.localPort);
      // The one-shot listener was closed: its port refuses new connections.
      const refused = await new Promise<boolean>((resolve) => {
        const s = require('node:net').connect({ host: '127.0.0.1', port: ours.remotePort });
        s.on('connect', () => (s.destroy(), resolve(false)));
        s.on('error', () => resolve(true));
      });
      assert.ok(refused, 'nothing listens on the pair\'s port any more');
      theirs.resume();
      const got = new Promise<string>((r) => theirs.once('data', (d: Buffer) => r(d.toString())));
      ours.write('hello');
      assert.equal(await got, 'hello');
    } finally {
      ours.destroy();
      theirs.destroy();
    }
  });
});
