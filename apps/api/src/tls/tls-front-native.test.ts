// The native TLS front (rsynchub-tls-front, built by `nx run api:build`) with the real per-connection rsync daemon in
// inetd mode behind it: no fake backend. Each test speaks the rsync daemon protocol's greeting over real TLS.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tls from 'node:tls';
import { createCa, issueServerCertificate } from './certificates';
import { MAX_CONNECTIONS_PER_ADDRESS } from './tls-front';
import { chooseTlsFront, NATIVE_TLS_FRONT, NativeTlsFront, probeNativeFront } from './tls-front-native';

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

async function waitFor(what: string, check: () => boolean, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** pids of the rsync daemons started with this config file (from /proc). */
function daemonsOf(configFile: string): number[] {
  const pids: number[] = [];
  for (const e of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const cmd = fs.readFileSync(`/proc/${e}/cmdline`, 'utf8');
      if (cmd.includes('--daemon') && cmd.includes(`--config=${configFile}`)) pids.push(Number(e));
    } catch {
      /* gone */
    }
  }
  return pids;
}

const quiet = { log: () => undefined, warn: () => undefined, error: () => undefined };

/** A TLS client that speaks the daemon greeting; `text` collects what the daemon says. */
class Client {
  readonly socket: tls.TLSSocket;
  text = '';
  closed = false;
  secured = false;
  constructor(port: number, localAddress = '127.0.0.1') {
    const raw = net.connect({ host: '127.0.0.1', port, localAddress });
    raw.on('error', () => undefined);
    this.socket = tls.connect({ socket: raw, rejectUnauthorized: false });
    this.socket.on('error', () => undefined);
    this.socket.on('data', (d: Buffer) => (this.text += d.toString('utf8')));
    this.socket.on('close', () => (this.closed = true));
    this.socket.on('secureConnect', () => (this.secured = true));
  }
  async secure(): Promise<void> {
    await waitFor('the handshake', () => this.secured || this.closed);
    if (!this.secured) throw new Error('closed before the handshake finished');
  }
  /** The daemon's greeting, then our version and a module request: resolves with the daemon's answer line. */
  async ask(module: string): Promise<string> {
    await waitFor('the greeting', () => this.text.includes('\n') || this.closed);
    const before = this.text.length;
    this.socket.write(`@RSYNCD: 32.0 md5\n${module}\n`);
    await waitFor('an answer', () => /@RSYNCD: (OK|AUTHREQD|EXIT)|@ERROR[^\n]*\n/.test(this.text.slice(before)) || this.closed);
    return this.text.slice(before);
  }
  fingerprint(): string {
    return this.socket.getPeerCertificate().fingerprint256;
  }
}

describe('native TLS front (rsynchub-tls-front)', { skip: probeNativeFront() ?? false }, () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rsynchub-native-front-test-'));
  const configFile = path.join(dir, 'rsyncd-tls.conf');
  fs.mkdirSync(path.join(dir, 'data'));
  fs.writeFileSync(
    configFile,
    [
      'use chroot = no',
      `log file = ${dir}/log`,
      ...(process.getuid?.() === 0 ? ['uid = root', 'gid = root'] : []),
      'proxy protocol = yes',
      'proxy protocol hosts = 127.0.0.1',
      '[open]',
      `path = ${dir}/data`,
      '[only2]',
      `path = ${dir}/data`,
      'hosts allow = 127.0.0.2',
      '',
    ].join('\n'),
  );
  const front = new NativeTlsFront(NATIVE_TLS_FRONT, quiet);
  const clients: Client[] = [];
  let port = 0;
  let second: { certPem: string; keyPem: string };
  let first: { certPem: string; keyPem: string };
  const open = (localAddress = '127.0.0.1') => {
    const c = new Client(port, localAddress);
    clients.push(c);
    return c;
  };
  const closeAll = async () => {
    for (const c of clients.splice(0)) c.socket.destroy();
    await waitFor('every connection to be closed', () => front.active === 0);
  };

  before(async () => {
    const ca = await createCa({ commonName: 'test CA' });
    first = await issueServerCertificate({ ca, names: ['127.0.0.1'] });
    second = await issueServerCertificate({ ca, names: ['127.0.0.1', 'renewed.example'] });
    port = await freePort();
    await front.start({ host: '0.0.0.0', port, cert: first.certPem, key: first.keyPem, daemon: () => ({ rsyncPath: 'rsync', configFile }) });
  });

  after(async () => {
    for (const c of clients) c.socket.destroy();
    await front.stop();
    assert.deepEqual(daemonsOf(configFile), [], 'stop leaves no per-connection daemon');
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('is chosen by default when built, and RSYNCHUB_TLS_FRONT=node picks the Node front', () => {
    assert.equal(chooseTlsFront('native', quiet).front.kind, 'native');
    const node = chooseTlsFront('node', quiet);
    assert.equal(node.front.kind, 'node');
    assert.match(node.why!, /RSYNCHUB_TLS_FRONT=node/);
    const missing = chooseTlsFront('native', quiet, path.join(dir, 'no-such-front'));
    assert.equal(missing.front.kind, 'node');
    assert.match(missing.why!, /not built/);
  });

  test('the daemon sees the real client address (PROXY line): hosts allow admits 127.0.0.2 and refuses 127.0.0.3', async () => {
    assert.match(await open('127.0.0.2').ask('only2'), /@RSYNCD: OK/);
    const refused = await open('127.0.0.3').ask('only2');
    assert.match(refused, /@ERROR: access denied to only2 from .*127\.0\.0\.3/);
    assert.ok(front.accepted >= 2);
    await closeAll();
  });

  test('a client that never finishes the handshake does not block others, and is dropped after the handshake timeout', async () => {
    const failuresBefore = front.handshakeFailures;
    const silent = net.connect({ host: '127.0.0.1', port });
    silent.on('error', () => undefined);
    let silentClosed = false;
    silent.on('close', () => (silentClosed = true));
    const partial = net.connect({ host: '127.0.0.1', port });
    partial.on('error', () => undefined);
    partial.write(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01])); // the start of a ClientHello, never finished
    await new Promise((r) => silent.once('connect', r));
    const t = Date.now();
    assert.match(await open().ask('open'), /@RSYNCD: OK/);
    assert.ok(Date.now() - t < 5_000, 'another client got its daemon at once');
    await waitFor('the silent client to be dropped', () => silentClosed, 20_000);
    await waitFor('the handshake failures to be counted', () => front.handshakeFailures >= failuresBefore + 2, 5_000);
    partial.destroy();
    await closeAll();
  });

  test('50 clients at once (from 50 addresses) each get their own daemon', async () => {
    const many = Array.from({ length: 50 }, (_, i) => open(`127.0.1.${i + 1}`));
    const answers = await Promise.all(many.map((c) => c.ask('open')));
    assert.equal(answers.filter((a) => a.includes('@RSYNCD: OK')).length, 50);
    assert.equal(front.active, 50);
    await closeAll();
    await waitFor('their daemons to exit', () => daemonsOf(configFile).length === 0);
  });

  test('one address cannot hold more than its share of connections', async () => {
    const refusedBefore = front.refusedPerAddress;
    const flood = Array.from({ length: MAX_CONNECTIONS_PER_ADDRESS + 8 }, () => open('127.0.0.5'));
    await waitFor('the share to be used up and the rest refused', () => front.active === MAX_CONNECTIONS_PER_ADDRESS && front.refusedPerAddress === refusedBefore + 8, 30_000);
    assert.equal(flood.filter((c) => c.closed).length, 8);
    assert.match(await open('127.0.0.6').ask('open'), /@RSYNCD: OK/, 'another address still gets in');
    await closeAll();
  });

  test('half-close: a client that ends its side after its request still gets the whole answer', async () => {
    const c = open();
    await waitFor('the greeting', () => c.text.includes('\n'));
    c.socket.end('@RSYNCD: 32.0 md5\n#list\n'); // close_notify + FIN right after the request
    await waitFor('the module list and EXIT', () => c.text.includes('@RSYNCD: EXIT'));
    assert.match(c.text, /^open\s/m);
    assert.match(c.text, /^only2\s/m);
    await waitFor('the connection to close', () => c.closed);
    await closeAll();
  });

  test('a new certificate is used for new handshakes; a connection opened before keeps working', async () => {
    const before = open();
    await before.secure();
    const oldPrint = before.fingerprint();
    front.setCertificate(second.certPem, second.keyPem);
    const expected = new crypto.X509Certificate(second.certPem).fingerprint256;
    let after: Client | null = null;
    // The certificate travels to the front over its stdin: the first handshakes after the call may still get the old one.
    await waitFor('a new handshake to get the new certificate', () => {
      if (after?.secured && after.fingerprint() === expected) return true;
      if (after && !after.secured && !after.closed) return false;
      after?.socket.destroy();
      after = open();
      return false;
    });
    assert.notEqual(oldPrint, expected);
    assert.match(await before.ask('open'), /@RSYNCD: OK/, 'the connection from before the reload still reaches its daemon');
    // A certificate the front cannot use is refused: the one served stays.
    front.setCertificate('-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n', second.keyPem);
    await waitFor('the refusal to be reported', () => front.lastFrontError !== null);
    assert.match(front.lastFrontError!, /refused the certificate/);
    const still = open();
    await still.secure();
    assert.equal(still.fingerprint(), expected);
    front.setCertificate(second.certPem, second.keyPem);
    await waitFor('the good certificate to clear the error', () => front.lastFrontError === null);
    await closeAll();
  });

  test('killed with SIGKILL: its connections and their daemons go, and the supervisor starts it again', async () => {
    const c = open();
    assert.match(await c.ask('open'), /@RSYNCD: OK/);
    await waitFor('the daemon to run', () => daemonsOf(configFile).length === 1);
    const pid = front.pid!;
    process.kill(pid, 'SIGKILL');
    await waitFor('the open connection to close', () => c.closed);
    await waitFor('its daemon to exit', () => daemonsOf(configFile).length === 0);
    await waitFor('a new front process', () => front.listening && front.pid !== undefined && front.pid !== pid);
    assert.equal(front.restarts, 1);
    assert.match(await open().ask('open'), /@RSYNCD: OK/);
    await closeAll();
  });
});
