/**
 * Issue 11: the console and API over HTTPS on the same certificate as the rsync TLS listener (RSYNCHUB_HTTPS=1),
 * HSTS and Secure cookies there, and the plain HTTP port answering only with redirects to HTTPS.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ChildProcess, spawn } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import * as os from 'node:os';
import * as path from 'node:path';
import { REPO_ROOT, freePort, waitFor } from './support/server';

const ADMIN_PASSWORD = 'e2e-admin-password-1';

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

function call(url: string, opts: { method?: string; body?: unknown; headers?: Record<string, string>; ca?: string } = {}): Promise<Answer> {
  const u = new URL(url);
  const lib = u.protocol === 'https:' ? https : http;
  const payload = opts.body === undefined ? undefined : JSON.stringify(opts.body);
  return new Promise((resolve, reject) => {
    const req = lib.request(
      u,
      {
        method: opts.method ?? 'GET',
        headers: { ...(payload ? { 'content-type': 'application/json' } : {}), ...opts.headers },
        ...(u.protocol === 'https:' ? { ca: opts.ca, servername: u.hostname === '127.0.0.1' ? undefined : u.hostname } : {}),
      },
      (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

describe('HTTPS console', () => {
  let child: ChildProcess;
  let output = '';
  let dataDir = '';
  let httpPort = 0;
  let httpsPort = 0;
  let ca = '';

  before(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'rh-https-'));
    httpPort = await freePort();
    httpsPort = await freePort();
    child = spawn(process.execPath, [path.join(REPO_ROOT, 'apps/api/dist/main.js')], {
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        HOME: process.env.HOME ?? '/root',
        RSYNCHUB_DATA_DIR: dataDir,
        RSYNCHUB_HTTP_HOST: '127.0.0.1',
        RSYNCHUB_HTTP_PORT: String(httpPort),
        RSYNCHUB_HTTPS: '1',
        RSYNCHUB_HTTPS_PORT: String(httpsPort),
        RSYNCHUB_RSYNC_PORT: String(await freePort()),
        RSYNCHUB_RSYNC_ADDRESS: '127.0.0.1',
        RSYNCHUB_RSYNC_TLS_PORT: String(await freePort()),
        RSYNCHUB_ADMIN_PASSWORD: ADMIN_PASSWORD,
        NO_COLOR: '1',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
    try {
      await waitFor(
        'the HTTPS console',
        async () => {
          if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode}`);
          const caFile = path.join(dataDir, 'tls', 'ca.pem');
          if (!fs.existsSync(caFile)) return false;
          ca = fs.readFileSync(caFile, 'utf8');
          return (await call(`https://localhost:${httpsPort}/api/v1/health`, { ca }).catch(() => null))?.status;
        },
        60_000,
      );
    } catch (err) {
      child.kill('SIGKILL');
      throw new Error(`${(err as Error).message}\n${output}`);
    }
  });

  after(async () => {
    if (child && child.exitCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
  });

  test('the HTTPS port presents the private CA\'s server certificate, the one the rsync listener presents', async () => {
    const peer = await new Promise<crypto.X509Certificate>((resolve, reject) => {
      const req = https.get({ host: '127.0.0.1', port: httpsPort, path: '/api/v1/health', ca, servername: 'localhost' }, (res) => {
        resolve((res.socket as import('node:tls').TLSSocket).getPeerX509Certificate()!);
        res.resume();
      });
      req.on('error', reject);
    });
    assert.ok(peer.checkIssued(new crypto.X509Certificate(ca)));
    const login = await call(`https://localhost:${httpsPort}/api/v1/auth/login`, { method: 'POST', body: { username: 'admin', password: ADMIN_PASSWORD }, ca });
    const token = JSON.parse(login.body).token as string;
    const tls = JSON.parse((await call(`https://localhost:${httpsPort}/api/v1/tls`, { ca, headers: { authorization: `Bearer ${token}` } })).body);
    assert.equal(tls.certificate.fingerprint256, peer.fingerprint256);
  });

  test('HTTPS answers carry HSTS and the session cookie is Secure', async () => {
    const health = await call(`https://localhost:${httpsPort}/api/v1/health`, { ca });
    assert.match(String(health.headers['strict-transport-security']), /max-age=\d+/);
    const login = await call(`https://localhost:${httpsPort}/api/v1/auth/login`, { method: 'POST', body: { username: 'admin', password: ADMIN_PASSWORD }, ca });
    assert.ok(login.status === 200 || login.status === 201, login.body);
    const cookie = String(login.headers['set-cookie']);
    assert.match(cookie, /rsynchub_session=/);
    assert.match(cookie, /;\s*Secure/i);
    assert.match(cookie, /HttpOnly/i);
  });

  test('plain HTTP only redirects to the same path on HTTPS (308 keeps the method), never serving the API', async () => {
    const page = await call(`http://127.0.0.1:${httpPort}/transfers?x=1`);
    assert.equal(page.status, 308);
    assert.equal(page.headers.location, `https://127.0.0.1:${httpsPort}/transfers?x=1`);
    assert.equal(page.headers['strict-transport-security'], undefined, 'no HSTS over plain HTTP');
    const login = await call(`http://127.0.0.1:${httpPort}/api/v1/auth/login`, { method: 'POST', body: { username: 'admin', password: ADMIN_PASSWORD } });
    assert.equal(login.status, 308);
    assert.equal(login.headers['set-cookie'], undefined);
    assert.doesNotMatch(login.body, /token/);
    // A Host header that is not a plain host is not echoed into the Location.
    const odd = await call(`http://127.0.0.1:${httpPort}/`, { headers: { host: 'evil.example/@x' } });
    assert.equal(odd.headers.location, `https://127.0.0.1:${httpsPort}/`);
    const named = await call(`http://127.0.0.1:${httpPort}/`, { headers: { host: `hub.example.org:${httpPort}` } });
    assert.equal(named.headers.location, `https://hub.example.org:${httpsPort}/`);
  });
});
