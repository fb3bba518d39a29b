import { ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import type { LoginResponse } from '@rsynchub/contracts';

export const REPO_ROOT = path.resolve(__dirname, '../../..');
const MAIN = path.join(REPO_ROOT, 'apps/api/dist/main.js');

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Polls `check` until it returns a truthy value or the deadline passes (then throws with `what`). The default
 * deadline is generous on purpose: CI machines are loaded (ingestion, a daemon, rsync or Chromium can lag well past
 * 15 s there), and a deadline only bounds how long a failure takes to show, never what passes.
 */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined | null | false> | T | undefined | null | false, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await check();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    await sleep(100);
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
}

export interface ApiResponse<T = any> {
  status: number;
  body: T;
  headers: Headers;
  text: string;
}

export class ApiClient {
  constructor(
    readonly baseUrl: string,
    public token?: string,
  ) {}

  async request<T = any>(method: string, urlPath: string, body?: unknown, headers: Record<string, string> = {}): Promise<ApiResponse<T>> {
    const res = await fetch(this.baseUrl + urlPath, {
      method,
      headers: {
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...(this.token ? { authorization: `Bearer ${this.token}` } : {}),
        ...headers,
      },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      /* not JSON */
    }
    return { status: res.status, body: parsed as T, headers: res.headers, text };
  }

  get<T = any>(p: string) {
    return this.request<T>('GET', p);
  }
  post<T = any>(p: string, body?: unknown) {
    return this.request<T>('POST', p, body ?? {});
  }
  patch<T = any>(p: string, body: unknown) {
    return this.request<T>('PATCH', p, body);
  }
  put<T = any>(p: string, body: unknown) {
    return this.request<T>('PUT', p, body);
  }
  delete<T = any>(p: string) {
    return this.request<T>('DELETE', p);
  }

  /** Logs in and keeps the session token for later requests. */
  async login(username: string, password: string): Promise<LoginResponse> {
    const res = await this.request<LoginResponse>('POST', '/api/v1/auth/login', { username, password });
    if (res.status !== 200 && res.status !== 201) throw new Error(`login as ${username} failed: ${res.status} ${res.text}`);
    this.token = res.body.token;
    return res.body;
  }
}

export interface RunningServer {
  baseUrl: string;
  httpPort: number;
  rsyncPort: number;
  /** The rsync-over-TLS listener's port (RSYNCHUB_RSYNC_TLS_PORT; a free one unless the test sets it). */
  rsyncTlsPort: number;
  dataDir: string;
  storageRoot: string;
  adminPassword: string;
  process: ChildProcess;
  output: () => string;
  /** A client already logged in as the first admin. */
  admin: ApiClient;
  client: () => ApiClient;
  stop: () => Promise<void>;
  /** SIGKILL: no shutdown hooks run, the daemon it supervised is left behind. */
  kill: () => Promise<void>;
}

export interface StartOptions {
  dataDir?: string;
  env?: Record<string, string>;
  /** Wait until the daemon is running too (health 200); default true. */
  waitForDaemon?: boolean;
  /**
   * Run the server as this unprivileged uid:gid (through util-linux `setpriv`), to prove the non-root behaviour on
   * a machine where tests run as root. The data dir is handed to that account first.
   */
  runAs?: { uid: number; gid: number };
  /** Reuse ports, e.g. to restart a server on the same data dir. */
  httpPort?: number;
  rsyncPort?: number;
  rsyncTlsPort?: number;
  /**
   * Default true: RSYNCHUB_RSYNC_PORT/RSYNCHUB_RSYNC_ADDRESS pin the daemon's port and address (the API then
   * refuses to change them). false: the server runs without them, taking both from its database; on a fresh data
   * dir it is started pinned once first (to a free port on 127.0.0.1), so the test still owns its ports.
   */
  pinListen?: boolean;
}

/** Starts the real server (built dist/main.js) as a child process on free ports with a fresh data dir. */
export async function startServer(opts: StartOptions = {}): Promise<RunningServer> {
  const dataDir = opts.dataDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'rh-e2e-'));
  const storageRoot = path.join(dataDir, 'modules');
  const httpPort = opts.httpPort ?? (await freePort());
  const rsyncPort = opts.rsyncPort ?? (await freePort());
  const rsyncTlsPort = opts.rsyncTlsPort ?? (opts.env?.RSYNCHUB_RSYNC_TLS_PORT ? Number(opts.env.RSYNCHUB_RSYNC_TLS_PORT) : await freePort());
  const pinned = opts.pinListen !== false;
  if (!pinned && !fs.existsSync(path.join(dataDir, 'rsynchub.sqlite'))) {
    const first = await startServer({ ...opts, dataDir, httpPort, rsyncPort, rsyncTlsPort, pinListen: true });
    await first.stop();
  }
  const listenEnv: Record<string, string> = pinned ? { RSYNCHUB_RSYNC_PORT: String(rsyncPort), RSYNCHUB_RSYNC_ADDRESS: '127.0.0.1' } : {};
  const adminPassword = 'e2e-admin-password-1';
  let output = '';
  const command = opts.runAs ? 'setpriv' : process.execPath;
  const args = opts.runAs
    ? [`--reuid=${opts.runAs.uid}`, `--regid=${opts.runAs.gid}`, '--clear-groups', process.execPath, MAIN]
    : [MAIN];
  if (opts.runAs) {
    fs.chmodSync(dataDir, 0o755);
    fs.chownSync(dataDir, opts.runAs.uid, opts.runAs.gid);
  }
  const child = spawn(command, args, {
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: opts.runAs ? dataDir : (process.env.HOME ?? '/root'),
      RSYNCHUB_DATA_DIR: dataDir,
      RSYNCHUB_HTTP_PORT: String(httpPort),
      RSYNCHUB_HTTP_HOST: '127.0.0.1',
      ...listenEnv,
      RSYNCHUB_ADMIN_PASSWORD: adminPassword,
      // Never the default 8874: tests run side by side.
      RSYNCHUB_RSYNC_TLS_PORT: String(rsyncTlsPort),
      NO_COLOR: '1',
      // RSYNCHUB_TLS_FRONT=node npm test: every TLS test against the Node front (default: the native one).
      ...(process.env.RSYNCHUB_TLS_FRONT ? { RSYNCHUB_TLS_FRONT: process.env.RSYNCHUB_TLS_FRONT } : {}),
      ...opts.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const baseUrl = `http://127.0.0.1:${httpPort}`;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    await waitFor(
      'the server to answer /api/v1/health',
      async () => {
        if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode}:\n${output}`);
        const res = await fetch(`${baseUrl}/api/v1/health`).catch(() => null);
        return res && (opts.waitForDaemon === false ? res.status > 0 : res.status === 200);
      },
      120_000, // a loaded machine (argon2 for the first admin, two daemons) took over 60 s; only a failure waits this long
    );
  } catch (err) {
    child.kill('SIGKILL');
    throw new Error(`${(err as Error).message}\n--- server output ---\n${output}`);
  }
  const admin = new ApiClient(baseUrl);
  await admin.login('admin', adminPassword);
  return {
    baseUrl,
    httpPort,
    rsyncPort,
    rsyncTlsPort,
    dataDir,
    storageRoot,
    adminPassword,
    process: child,
    output: () => output,
    admin,
    client: () => new ApiClient(baseUrl),
    kill: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await exited;
      }
    },
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(timer);
      }
    },
  };
}

/** A password every policy of the server takes (long, mixed, random). */
export function strongTestPassword(): string {
  return `${randomBytes(12).toString('hex')}-Kx!`;
}

/**
 * A read-only auditor ready to use: created by the first admin, logged in, and past the first-login password change
 * (a password another admin set is temporary: the server allows nothing else until the account changes it).
 * Returns its logged-in client and the password it chose (for a browser login).
 */
export async function readyAuditor(server: RunningServer, username: string): Promise<{ client: ApiClient; password: string }> {
  const temporary = strongTestPassword();
  const password = strongTestPassword();
  const made = await server.admin.post('/api/v1/admins', { username, password: temporary, role: 'auditor' });
  if (made.status !== 201) throw new Error(`creating auditor ${username}: ${made.status} ${made.text}`);
  const client = server.client();
  await client.login(username, temporary);
  const changed = await client.post('/api/v1/auth/password', { currentPassword: temporary, newPassword: password });
  if (changed.status !== 204) throw new Error(`auditor ${username} changing its password: ${changed.status} ${changed.text}`);
  return { client, password };
}
