/**
 * Streamed CSV exports (issue 10): the real server, fed a daemon log with thousands of sessions and a 12,000-file
 * session (so exports cross several of the server's pages), must send exactly the bytes the old all-in-memory
 * renderer produced. The oracle below is a verbatim copy of that renderer and its column lists, applied to the
 * same rows read through the JSON API.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { RunningServer, startServer, waitFor } from './support/server';

// ---- the old renderer (apps/api/src/common/csv.ts and transfers.service.ts before streaming), kept as the oracle ----
function toCsv<T>(rows: T[], columns: { header: string; value: (row: T) => unknown }[]): string {
  const cell = (v: unknown): string => {
    let s = v === null || v === undefined ? '' : typeof v === 'object' ? JSON.stringify(v) : String(v);
    if (/^[=+\-@\t\r]/.test(s)) s = `'${s}`;
    return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
  };
  const lines = [columns.map((c) => cell(c.header)).join(',')];
  for (const row of rows) lines.push(columns.map((c) => cell(c.value(row))).join(','));
  return lines.join('\r\n') + '\r\n';
}
const oldSessionsCsv = (rows: any[]) =>
  toCsv(rows, [
    { header: 'id', value: (r) => r.id },
    { header: 'started_at', value: (r) => r.startedAt },
    { header: 'ended_at', value: (r) => r.endedAt },
    { header: 'module', value: (r) => r.module },
    { header: 'user', value: (r) => r.user },
    { header: 'client_ip', value: (r) => r.clientIp },
    { header: 'client_host', value: (r) => r.clientHost },
    { header: 'direction', value: (r) => r.direction },
    { header: 'status', value: (r) => r.status },
    { header: 'exit_code', value: (r) => r.exitCode },
    { header: 'error', value: (r) => r.error },
    { header: 'bytes_received', value: (r) => r.bytesReceived },
    { header: 'bytes_sent', value: (r) => r.bytesSent },
    { header: 'total_size', value: (r) => r.totalSize },
    { header: 'files', value: (r) => r.fileCount },
    { header: 'directories', value: (r) => r.dirCount },
    { header: 'deleted', value: (r) => r.deletedCount },
  ]);
const oldFilesCsv = (rows: any[]) =>
  toCsv(rows, [
    { header: 'id', value: (r) => r.id },
    { header: 'at', value: (r) => r.at },
    { header: 'op', value: (r) => r.op },
    { header: 'path', value: (r) => r.path },
    { header: 'size', value: (r) => r.size },
    { header: 'bytes', value: (r) => r.bytes },
    { header: 'itemize', value: (r) => r.itemize },
  ]);
// ---------------------------------------------------------------------------------------------------------------

const ODD_PATHS = ['plain.txt', 'comma,name.csv', 'quote"d "twice".txt', '=SUM(A1:A9)', '+1', '-rf', '@home', 'sp ace/ lead', 'pipe|in|name', 'üñíçødé/ファイル', "it's"];
const BIG_FILES = 12_000;
const SMALL_SESSIONS = 2_300;

function writeLog(file: string): number {
  const at = '2026/11/30 10:00:00';
  const lines: string[] = [];
  const big = 4_500_000;
  lines.push(`${at} [${big}] connect from client (10.1.1.1)`, `${at} [${big}] rsync to csv/ from alice@client (10.1.1.1)`);
  for (let i = 0; i < BIG_FILES; i++) {
    const name = `${ODD_PATHS[i % ODD_PATHS.length]}-${i}`;
    const op = i % 17 === 0 ? 'del.|' : 'recv|';
    const itemize = op === 'del.|' ? '*deleting  ' : i % 5 === 0 ? 'cd+++++++++' : '>f+++++++++';
    lines.push(`${at} [${big}] ${op}10.1.1.1|client|csv|alice|${i}|${i * 3}|${itemize}|2026/11/30-09:59:59|${name}`);
  }
  lines.push(`${at} [${big}] sent 77 bytes  received 123456 bytes  total size 654321`);
  for (let s = 0; s < SMALL_SESSIONS; s++) {
    const pid = 4_600_000 + s;
    const module = s % 3 === 0 ? 'other' : 'csv';
    lines.push(`${at} [${pid}] connect from host-${s % 7} (10.2.${s % 250}.${s % 7})`, `${at} [${pid}] rsync to ${module}/ from bob@host-${s % 7} (10.2.${s % 250}.${s % 7})`);
    lines.push(`${at} [${pid}] recv|10.2.${s % 250}.${s % 7}|host-${s % 7}|${module}|bob|${s}|${s}|>f+++++++++|2026/11/30-09:59:59|${ODD_PATHS[s % ODD_PATHS.length]}`);
    if (s % 11 === 0) lines.push(`${at} [${pid}] rsync error: some files/attrs were not transferred (see previous errors) (code 23) at main.c(1338) [generator=3.4.1]`);
    lines.push(`${at} [${pid}] sent ${s} bytes  received ${s * 2} bytes  total size ${s * 4}`);
  }
  fs.appendFileSync(file, lines.join('\n') + '\n');
  return lines.length;
}

let server: RunningServer;
let bigId: number;

before(async () => {
  server = await startServer();
  const ingested = async () => Number(/^rsynchub_ingested_lines_total (\d+)$/m.exec((await server.admin.get('/metrics')).text)?.[1] ?? 0);
  const before = await ingested();
  const lines = writeLog(path.join(server.dataDir, 'rsyncd.log'));
  await waitFor('the log to be ingested', async () => (await ingested()) >= before + lines, 120_000);
  const big = (await allSessions('&module=csv')).find((s) => s.fileCount + s.dirCount + s.deletedCount === BIG_FILES);
  assert.ok(big, 'the big session was ingested');
  bigId = big.id;
});

after(async () => {
  await server?.stop();
});

async function allSessions(filter = ''): Promise<any[]> {
  const out: any[] = [];
  let cursor: string | null = null;
  do {
    const page: { items: any[]; nextCursor: string | null } = (await server.admin.get(`/api/v1/transfers?limit=500${filter}${cursor ? `&cursor=${cursor}` : ''}`)).body;
    out.push(...page.items);
    cursor = page.nextCursor;
  } while (cursor);
  return out;
}

async function allFiles(id: number, filter = ''): Promise<any[]> {
  const out: any[] = [];
  let cursor: string | null = null;
  do {
    const page: { items: any[]; nextCursor: string | null } = (await server.admin.get(`/api/v1/transfers/${id}/files?limit=5000${filter}${cursor ? `&cursor=${cursor}` : ''}`)).body;
    out.push(...page.items);
    cursor = page.nextCursor;
  } while (cursor);
  return out;
}

test('the streamed CSV of all transfers equals the old renderer byte for byte, past the server page size', { timeout: 180_000 }, async () => {
  for (const filter of ['', '&module=other', '&status=error', '&user=bob&ip=10.2.3.3']) {
    const rows = await allSessions(filter);
    const res = await server.admin.get(`/api/v1/transfers?format=csv${filter}`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/csv/);
    assert.match(res.headers.get('content-disposition') ?? '', /attachment; filename="rsynchub-transfers.csv"/);
    assert.equal(res.text, oldSessionsCsv(rows), `filter '${filter}' (${rows.length} rows)`);
    // Every logged session is listed (the server's own readiness probe of its daemon may add one without a module:
    // a product issue, see the flake-audit report), so count the ones this file wrote.
    if (filter === '') assert.equal(rows.filter((s) => s.daemonPid >= 4_500_000).length, SMALL_SESSIONS + 1);
  }
});

test('the streamed CSV of a 12,000-file session equals the old renderer byte for byte, with and without filters', { timeout: 180_000 }, async () => {
  for (const filter of ['', '&op=del', '&path=%2C', `&path=${encodeURIComponent('"')}`]) {
    const rows = await allFiles(bigId, filter);
    const res = await server.admin.get(`/api/v1/transfers/${bigId}/files?format=csv${filter}`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-disposition') ?? '', new RegExp(`rsynchub-transfer-${bigId}-files.csv`));
    assert.equal(res.text, oldFilesCsv(rows), `filter '${filter}' (${rows.length} rows)`);
    if (filter === '') assert.equal(rows.length, BIG_FILES);
  }
});

test('bad CSV requests are refused before any byte is sent', async () => {
  assert.equal((await server.admin.get('/api/v1/transfers?format=csv&status=bogus')).status, 400);
  assert.equal((await server.admin.get('/api/v1/transfers?format=csv&cursor=bogus')).status, 400);
  assert.equal((await server.admin.get('/api/v1/transfers/999999/files?format=csv')).status, 404);
  assert.equal((await server.admin.get(`/api/v1/transfers/${bigId}/files?format=csv&cursor=bogus`)).status, 400);
});
