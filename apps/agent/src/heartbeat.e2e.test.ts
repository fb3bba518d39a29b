import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { Agent } from './agent';
import { validateConfig } from './config';
import { createLogger } from './log';
import { RsyncDaemon, freePort, tmpDir, waitConverged, waitUntil } from './e2e-support';

test('heartbeat: POST /api/v1/sources/heartbeat with Bearer token; a dead hub is logged and never blocks syncing', async () => {
  const work = tmpDir('hb');
  const d = await new RsyncDaemon().start();
  const received: { auth: string | undefined; body: any }[] = [];
  const server = http.createServer((req, res) => {
    let data = '';
    req.on('data', (c) => (data += c));
    req.on('end', () => {
      if (req.method === 'POST' && req.url === '/api/v1/sources/heartbeat') received.push({ auth: req.headers.authorization, body: JSON.parse(data) });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const hubPort = (server.address() as { port: number }).port;
  const deadPort = await freePort();
  const logs: string[] = [];
  const agents: Agent[] = [];
  try {
    const src = path.join(work, 'src');
    fs.mkdirSync(src);
    const mk = (port: number, dir: string) => new Agent(validateConfig({
      name: 'edge-1',
      watches: [{ path: src, remotes: [{ host: '127.0.0.1', port: d.port, module: 'm' }] }],
      heartbeat: { url: `http://127.0.0.1:${port}`, token: 'tok-123', intervalSec: 1 },
      batchDelayMs: 50,
    }), { stateDir: path.join(work, dir), log: createLogger('info', (l) => logs.push(l)) });
    agents.push(mk(hubPort, 'state1'), mk(deadPort, 'state2'));
    for (const a of agents) await a.start();
    fs.writeFileSync(path.join(src, 'f'), 'x');
    await waitConverged(src, [d.moduleDir], 'sync while the hub of agent 2 is down');
    await waitUntil(() => received.some((r) => r.body.targets[0].lastSuccessAt !== null), 'heartbeat after a push');
    const hb = received.at(-1)!;
    assert.equal(hb.auth, 'Bearer tok-123');
    assert.equal(hb.body.name, 'edge-1');
    assert.equal(typeof hb.body.hostname, 'string');
    assert.equal(typeof hb.body.version, 'string');
    assert.deepEqual(Object.keys(hb.body.targets[0]).sort(), ['host', 'lagMs', 'lastError', 'lastMissedPaths', 'lastSuccessAt', 'missedByWatcher', 'module', 'pauseReason', 'paused', 'port', 'queueLength'].sort());
    assert.equal(hb.body.targets[0].port, d.port);
    assert.ok(logs.some((l) => l.includes('"msg":"heartbeat failed"') && l.includes(String(deadPort))));
  } finally {
    for (const a of agents) await a.stop();
    server.close();
    await d.destroy();
    fs.rmSync(work, { recursive: true, force: true });
  }
});
