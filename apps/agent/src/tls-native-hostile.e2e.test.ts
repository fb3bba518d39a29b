/**
 * Hostile review of the native TLS connector (native/rsynchub-tls.c), run directly as rsync runs it: settings in the
 * environment, rsync's connection on stdin/stdout. The server is a real node TLS server that records every decrypted
 * byte it receives, so "nothing is forwarded before the certificate is accepted" is checked where it matters.
 */
import 'reflect-metadata';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes, webcrypto } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as net from 'node:net';
import * as tls from 'node:tls';
import * as x509 from '@peculiar/x509';
import { waitUntil } from './e2e-support';
import { NATIVE_TLS_CONNECTOR } from './tls-native';
import { openTlsRelay } from './tls-relay';
import { makeCa, makeServerCert, type TestCa } from './tls-test-support';

const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
const DAY = 86_400_000;

/** A CA-signed server certificate whose only name is its subject CN (no subjectAltName at all). */
async function makeCnOnlyCert(ca: TestCa, cn: string): Promise<{ certPem: string; keyPem: string }> {
  const keys = await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify']) as webcrypto.CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: '0a0b', subject: `CN=${cn}`, issuer: ca.cert.subject, notBefore: new Date(Date.now() - DAY), notAfter: new Date(Date.now() + 30 * DAY),
    signingKey: ca.keys.privateKey, publicKey: keys.publicKey, signingAlgorithm: ALG,
    extensions: [new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth])],
  });
  const keyPem = x509.PemConverter.encode(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey), 'PRIVATE KEY');
  return { certPem: cert.toString('pem'), keyPem };
}

interface Server {
  port: number;
  /** Decrypted bytes the server received from clients. */
  received: () => number;
  secureConnections: () => number;
  close(): Promise<void>;
}

async function tlsServer(cert: { certPem: string; keyPem: string }, onSecure?: (s: tls.TLSSocket) => void): Promise<Server> {
  let received = 0;
  let secure = 0;
  const sockets = new Set<tls.TLSSocket>();
  const srv = tls.createServer({ cert: cert.certPem, key: cert.keyPem }, (s) => {
    secure++;
    sockets.add(s);
    s.on('error', () => undefined);
    s.on('close', () => sockets.delete(s));
    if (onSecure) onSecure(s);
    else s.on('data', (d: Buffer) => { received += d.length; });
  });
  srv.on('tlsClientError', () => undefined);
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return {
    port: (srv.address() as { port: number }).port,
    received: () => received,
    secureConnections: () => secure,
    close: () => new Promise<void>((r) => { for (const s of sockets) s.destroy(); srv.close(() => r()); }),
  };
}

/** The connector's settings for a server on 127.0.0.1 trusted by a pinned fingerprint, connect + handshake within 10 s. */
function pinnedTo(port: number, fingerprint: string): Record<string, string> {
  return { RSYNCHUB_TLS_HOST: '127.0.0.1', RSYNCHUB_TLS_PORT: String(port), RSYNCHUB_TLS_FINGERPRINT: fingerprint, RSYNCHUB_TLS_TIMEOUT_MS: '10000' };
}

function runConnector(env: Record<string, string>, hangMs = 20_000): { child: ChildProcess; stderr: () => string; exit: Promise<number | null | 'hung'> } {
  const child = spawn(NATIVE_TLS_CONNECTOR, [], { env: { PATH: process.env.PATH, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
  child.stdout!.on('data', () => undefined);
  child.stdin!.on('error', () => undefined);
  // An exit within hangMs, or 'hung' (the connector kept relaying or waiting): killed then, so a test fails instead of hanging.
  const exit = new Promise<number | null | 'hung'>((r) => {
    const t = setTimeout(() => { child.kill('SIGKILL'); r('hung'); }, hangMs);
    child.on('exit', (code) => { clearTimeout(t); r(code); });
  });
  return { child, stderr: () => err, exit };
}

test('tls native hostile: with caFile, a certificate that names the host only in its subject CN (no subjectAltName) is refused before any rsync byte is forwarded; the same CA with a DNS SAN passes', async () => {
  const ca = await makeCa();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tls-hostile-'));
  const caFile = path.join(dir, 'ca.pem');
  fs.writeFileSync(caFile, ca.certPem);
  for (const [label, cert, expectOk] of [
    ['CN only', await makeCnOnlyCert(ca, 'localhost'), false],
    ['DNS SAN', await makeServerCert(ca, ['dns:localhost']), true],
  ] as const) {
    const srv = await tlsServer(cert);
    try {
      const run = runConnector({ RSYNCHUB_TLS_HOST: 'localhost', RSYNCHUB_TLS_PORT: String(srv.port), RSYNCHUB_TLS_CA_FILE: caFile, RSYNCHUB_TLS_TIMEOUT_MS: '10000' });
      run.child.stdin!.write('@RSYNCD: 31.0 sha512 sha256\n');
      if (expectOk) {
        await waitUntil(() => srv.received() > 0, `${label}: the bytes reach the server`, 15_000);
        run.child.stdin!.end();
        assert.equal(await run.exit, 0, `${label}: ${run.stderr()}`);
      } else {
        const code = await run.exit;
        assert.equal(srv.received(), 0, `${label}: nothing forwarded (the server got ${srv.received()} bytes)`);
        assert.equal(code, 1, `${label}: refused (${run.stderr()})`);
        assert.match(run.stderr(), /code=ERR_TLS_CERT_ALTNAME_INVALID/, `${label}: ${run.stderr()}`);
        assert.equal(srv.received(), 0, `${label}: nothing forwarded`);
      }
    } finally {
      await srv.close();
    }
  }
  fs.rmSync(dir, { recursive: true, force: true });
});

test('tls native hostile: an IP host with a certificate naming that address only as a DNS SAN is refused; a wrong pin forwards nothing', async () => {
  const ca = await makeCa();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tls-hostile-'));
  const caFile = path.join(dir, 'ca.pem');
  fs.writeFileSync(caFile, ca.certPem);
  const cert = await makeServerCert(ca, ['dns:127.0.0.1']);
  const srv = await tlsServer(cert);
  try {
    const run = runConnector({ RSYNCHUB_TLS_HOST: '127.0.0.1', RSYNCHUB_TLS_PORT: String(srv.port), RSYNCHUB_TLS_CA_FILE: caFile, RSYNCHUB_TLS_TIMEOUT_MS: '10000' });
    run.child.stdin!.write('@RSYNCD: 31.0\n');
    assert.equal(await run.exit, 1, run.stderr());
    assert.match(run.stderr(), /code=ERR_TLS_CERT_ALTNAME_INVALID/);
    // A pin that differs in its last digit, in lower case: refused, nothing forwarded.
    const wrong = cert.fingerprint.slice(0, -1) + (cert.fingerprint.endsWith('0') ? '1' : '0');
    const pinRun = runConnector(pinnedTo(srv.port, wrong.toLowerCase()));
    pinRun.child.stdin!.write('@RSYNCD: 31.0\n');
    assert.equal(await pinRun.exit, 1, pinRun.stderr());
    assert.match(pinRun.stderr(), /code=PIN_MISMATCH/);
    // A pin that is only a prefix of the right one: refused.
    const prefixRun = runConnector(pinnedTo(srv.port, cert.fingerprint.slice(0, 30)));
    assert.equal(await prefixRun.exit, 1, prefixRun.stderr());
    assert.equal(srv.received(), 0, 'nothing forwarded');
  } finally {
    await srv.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('tls native hostile: when rsync goes away while the server has stopped reading (the connector blocked on a full send buffer), the connector exits instead of holding rsync\'s stderr forever', async () => {
  const ca = await makeCa();
  const cert = await makeServerCert(ca, ['ip:127.0.0.1']);
  // The server completes the handshake, then never reads again: the connector's writes back up.
  const srv = await tlsServer(cert, (s) => s.pause());
  try {
    const run = runConnector(pinnedTo(srv.port, cert.fingerprint), 120_000);
    const chunk = Buffer.alloc(1 << 20, 0x61);
    for (let i = 0; i < 64; i++) run.child.stdin!.write(chunk);
    // Stuck: the connector stops taking bytes from its stdin (a full TLS send buffer) and stays so.
    let stuckSince = 0;
    await waitUntil(() => {
      if (run.child.stdin!.writableLength === 0) { stuckSince = 0; return false; }
      const before = run.child.stdin!.writableLength;
      if (!stuckSince) stuckSince = Date.now();
      return before > 0 && Date.now() - stuckSince > 1000;
    }, 'the connector blocked on the stalled server', 30_000);
    assert.equal(run.child.exitCode, null, 'still running while rsync is there');
    // rsync is killed (the stall watchdog): its end of the connection closes.
    run.child.stdin!.destroy();
    run.child.stdout!.destroy();
    const gone = Date.now();
    const code = await Promise.race([run.exit, new Promise<'hung'>((r) => setTimeout(() => r('hung'), 20_000))]);
    run.child.kill('SIGKILL');
    assert.notEqual(code, 'hung', 'the connector exited within 20 s of rsync going away');
    assert.ok(Date.now() - gone < 20_000);
  } finally {
    await srv.close();
  }
});

test('tls node relay (the fallback) hostile: with caFile, a CN-only certificate is refused as a name mismatch, before the relay would forward anything', async () => {
  const ca = await makeCa();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tls-hostile-'));
  const caFile = path.join(dir, 'ca.pem');
  fs.writeFileSync(caFile, ca.certPem);
  for (const [label, cert, expectOk] of [
    ['CN only', await makeCnOnlyCert(ca, 'localhost'), false],
    ['DNS SAN', await makeServerCert(ca, ['dns:localhost']), true],
  ] as const) {
    const srv = await tlsServer(cert);
    const lease = await openTlsRelay({ host: 'localhost', port: srv.port, caFile, timeoutMs: 10_000 });
    try {
      if (expectOk) {
        await waitUntil(() => srv.secureConnections() > 0, `${label}: the handshake completes`, 15_000);
        assert.equal(lease.failure, null, `${label}: ${lease.failure?.message}`);
      } else {
        await waitUntil(() => lease.failure !== null, `${label}: the relay reports a failure`, 15_000);
        assert.equal(lease.failure!.kind, 'verify', lease.failure!.message);
        assert.match(lease.failure!.message, /not valid for the name "localhost"/);
      }
    } finally {
      lease.close();
      await srv.close();
    }
  }
  fs.rmSync(dir, { recursive: true, force: true });
});

test('tls native hostile: a TLS 1.1 server, a server that sends garbage, and one that closes mid-handshake are each a clean failure (exit 1, a coded line), never a hang', async () => {
  const ca = await makeCa();
  const cert = await makeServerCert(ca, ['ip:127.0.0.1']);
  const cases: { label: string; code: RegExp; listen: () => Promise<{ port: number; close: () => void }> }[] = [
    {
      label: 'TLS 1.1 only', code: /code=ERR_SSL_/,
      listen: async () => {
        const srv = tls.createServer({ cert: cert.certPem, key: cert.keyPem, minVersion: 'TLSv1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT@SECLEVEL=0' }, (s) => s.destroy());
        srv.on('tlsClientError', () => undefined);
        await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
        return { port: (srv.address() as { port: number }).port, close: () => srv.close() };
      },
    },
    {
      label: 'garbage', code: /code=ERR_SSL_/,
      listen: async () => {
        const srv = net.createServer((s) => { s.on('error', () => undefined); s.end('HTTP/1.1 400 Bad Request\r\n\r\n' + 'x'.repeat(10_000)); });
        await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
        return { port: (srv.address() as { port: number }).port, close: () => srv.close() };
      },
    },
    {
      label: 'closes mid-handshake', code: /code=(ECONNRESET|ERR_SSL_)/,
      listen: async () => {
        const srv = net.createServer((s) => { s.on('error', () => undefined); s.once('data', () => s.destroy()); });
        await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
        return { port: (srv.address() as { port: number }).port, close: () => srv.close() };
      },
    },
  ];
  for (const c of cases) {
    const srv = await c.listen();
    try {
      const run = runConnector(pinnedTo(srv.port, cert.fingerprint));
      run.child.stdin!.write('@RSYNCD: 31.0\n');
      assert.equal(await run.exit, 1, `${c.label}: ${run.stderr()}`);
      assert.match(run.stderr(), /^rsynchub-agent tls-native:/m, c.label);
      assert.match(run.stderr(), c.code, `${c.label}: ${run.stderr()}`);
    } finally {
      srv.close();
    }
  }
});

test('tls native: an upload of odd-sized writes arrives byte for byte, the last partial buffer of records included, when rsync closes its end', async () => {
  // The connector gathers records in a 256 KiB buffer and sends it once per round: this proves nothing stays in it,
  // neither between rounds nor at the end (a tail left behind would change the digest or the count).
  const ca = await makeCa();
  const cert = await makeServerCert(ca, ['ip:127.0.0.1']);
  const digest = createHash('sha256');
  let got = 0;
  let ended!: () => void;
  const end = new Promise<void>((r) => (ended = r));
  // A server that stops reading for 100 ms after every 2 MiB: the connector's socket is full now and then, and likely
  // at the end too, so what is left in its buffer then must still go out before it leaves.
  const srv = await tlsServer(cert, (s) => {
    s.on('data', (d: Buffer) => {
      const before = got;
      got += d.length;
      digest.update(d);
      if (Math.floor(got / (2 << 20)) > Math.floor(before / (2 << 20))) {
        s.pause();
        setTimeout(() => s.resume(), 100);
      }
    });
    s.on('end', () => ended());
  });
  try {
    const run = runConnector(pinnedTo(srv.port, cert.fingerprint), 120_000);
    const sent = createHash('sha256');
    let total = 0;
    // Sizes from 1 byte to ~300 KiB (a record, less than one, more than the buffer), 24 MiB or so in all.
    for (let i = 0; total < 24 << 20; i++) {
      const chunk = randomBytes([1, 17, 16_384, 16_385, 65_535, 262_144, 300_001, 4_093][i % 8]!);
      sent.update(chunk);
      total += chunk.length;
      run.child.stdin!.write(chunk); // no waiting for 'drain': rsync's end closes while the connector is still behind
    }
    run.child.stdin!.end();
    assert.equal(await run.exit, 0, run.stderr());
    await Promise.race([end, new Promise((r) => setTimeout(r, 10_000))]);
    assert.equal(got, total, 'every byte arrived');
    assert.equal(digest.digest('hex'), sent.digest('hex'), 'and in order');
  } finally {
    await srv.close();
  }
});

test('tls native hostile: when rsync goes away after the connector took all it wrote (the tail still in its record buffer, the server no longer reading), the connector exits instead of holding rsync\'s stderr forever', async () => {
  // The 256 KiB record buffer takes rsync's last writes once the socket is full: the connector has read rsync's end to
  // its close, and only the buffer is left. A server that never reads again must not keep it (poll without end) there.
  const ca = await makeCa();
  const cert = await makeServerCert(ca, ['ip:127.0.0.1']);
  const srv = await tlsServer(cert, (s) => s.pause());
  try {
    const run = runConnector(pinnedTo(srv.port, cert.fingerprint), 120_000);
    // The connector's own counters: rchar = bytes it read (rsync's, once connected), wchar = bytes it wrote (the socket's).
    const io = (): { r: number; w: number } => {
      const t = fs.readFileSync(`/proc/${run.child.pid}/io`, 'utf8');
      return { r: Number(/rchar: (\d+)/.exec(t)![1]), w: Number(/wchar: (\d+)/.exec(t)![1]) };
    };
    run.child.stdin!.write('@RSYNCD: 31.0\n');
    await waitUntil(() => srv.secureConnections() > 0 && io().r > 0, 'the handshake is done', 15_000);
    await new Promise((r) => setTimeout(r, 200));
    const base = io();
    let written = 0;
    // 16 KiB at a time, each taken before the next, until the socket is full and the connector holds a tail of its own
    // (it read more than it sent by 64 KiB) or stops taking (the old way: rsync's end stays unread).
    for (let i = 0; ; i++) {
      assert.ok(i < 4096, 'the socket never filled');
      run.child.stdin!.write(Buffer.alloc(16_384, 0x61));
      written += 16_384;
      let last = -1;
      let still = 0;
      for (let j = 0; j < 50 && still < 5; j++) {
        await new Promise((r) => setTimeout(r, 10));
        const now = io().r;
        still = now === last ? still + 1 : 0;
        last = now;
      }
      const now = io();
      if (now.r - base.r < written || now.r - base.r - (now.w - base.w) > 65_536) break;
    }
    assert.equal(run.child.exitCode, null, 'still running while rsync is there');
    // rsync goes away (killed, or its own timeout): its end closes.
    run.child.stdin!.destroy();
    run.child.stdout!.destroy();
    const code = await Promise.race([run.exit, new Promise<'hung'>((r) => setTimeout(() => r('hung'), 20_000).unref())]);
    run.child.kill('SIGKILL');
    assert.notEqual(code, 'hung', 'the connector exited within 20 s of rsync going away');
  } finally {
    await srv.close();
  }
});

test('tls native hostile: TLS 1.3 KeyUpdates from the server during an upload into a full socket are answered and the upload arrives whole (openssl s_server)', async (t) => {
  // The connector's answer to a KeyUpdate goes through OpenSSL's own handshake buffer, pushed on the record buffer;
  // with the socket full its flush must read as "retry", not as a broken connection. s_server is the one server here
  // that sends KeyUpdates on request ('k', 'K' on its stdin); it prints what it reads on its stdout, which is drained
  // 5 ms in every 50 so its socket (and the connector's) stays full.
  const ca = await makeCa();
  const cert = await makeServerCert(ca, ['ip:127.0.0.1']);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tls-hostile-'));
  fs.writeFileSync(path.join(dir, 'cert.pem'), cert.certPem);
  fs.writeFileSync(path.join(dir, 'key.pem'), cert.keyPem);
  const port = await new Promise<number>((r) => { const s = net.createServer().listen(0, '127.0.0.1', () => { const p = (s.address() as net.AddressInfo).port; s.close(() => r(p)); }); });
  const sv = spawn('openssl', ['s_server', '-tls1_3', '-accept', `127.0.0.1:${port}`, '-cert', path.join(dir, 'cert.pem'), '-key', path.join(dir, 'key.pem'), '-naccept', '1'], { stdio: ['pipe', 'pipe', 'pipe'] });
  const spawned = await new Promise<boolean>((r) => { sv.once('error', () => r(false)); sv.once('spawn', () => r(true)); });
  if (!spawned) { t.skip('no openssl command'); return; }
  let svOut = '';
  sv.stderr!.on('data', (d: Buffer) => { svOut += d.toString(); });
  // The upload is bytes 0x07 only (no other output of s_server has one): counting them in its output is the check.
  let got = 0;
  let head = '';
  sv.stdout!.on('data', (d: Buffer) => {
    if (head.length < 4096) head += d.toString('latin1');
    for (const b of d) if (b === 7) got++;
  });
  const throttle = setInterval(() => { sv.stdout!.resume(); setTimeout(() => sv.stdout!.pause(), 5); }, 50);
  try {
    await waitUntil(() => /ACCEPT/.test(head), `s_server listens (${svOut})`, 10_000);
    const run = runConnector(pinnedTo(port, cert.fingerprint), 60_000);
    let total = 0;
    let writing = true;
    const writer = (async () => {
      const chunk = Buffer.alloc(100_000, 7);
      while (writing && run.child.exitCode === null) {
        total += chunk.length;
        // A connector that died never drains: its exit ends the wait too.
        if (!run.child.stdin!.write(chunk)) await Promise.race([new Promise((r) => run.child.stdin!.once('drain', r)), run.exit]);
      }
    })();
    await new Promise((r) => setTimeout(r, 500));
    for (let i = 0; i < 80 && run.child.exitCode === null; i++) {
      sv.stdin!.write(i % 2 ? 'K\n' : 'k\n'); // K: the server asks for the connector's KeyUpdate in return
      await new Promise((r) => setTimeout(r, 100));
    }
    writing = false;
    await writer;
    assert.equal(run.child.exitCode, null, `the connector still relays after the KeyUpdates: ${run.stderr()}`);
    clearInterval(throttle);
    sv.stdout!.resume();
    run.child.stdin!.end();
    assert.equal(await run.exit, 0, run.stderr());
    await waitUntil(() => got >= total, `every byte arrived (${got} of ${total})`, 20_000);
    assert.equal(got, total);
  } finally {
    clearInterval(throttle);
    sv.kill('SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
