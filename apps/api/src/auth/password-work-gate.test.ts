import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PasswordWorkBusy, PasswordWorkGate, PasswordWorkLane } from './password-work-gate';

/** A job that runs until released, recording the order in which jobs started. */
function job(started: string[], name: string): { work: () => Promise<string>; release: () => void } {
  let release!: () => void;
  const done = new Promise<void>((r) => (release = r));
  return { work: async () => { started.push(name); await done; return name; }, release: () => release() };
}

describe('PasswordWorkGate', () => {
  it('runs at most `concurrent` jobs; the rest wait in lane order: trusted, unknown, suspect', async () => {
    const gate = new PasswordWorkGate({ concurrent: 1, queued: { trusted: 5, unknown: 5, suspect: 5 } });
    const started: string[] = [];
    const jobs = new Map<string, ReturnType<typeof job>>();
    const order: [string, PasswordWorkLane][] = [['first', 'suspect'], ['s1', 'suspect'], ['u1', 'unknown'], ['s2', 'suspect'], ['t1', 'trusted']];
    const results = order.map(([name, lane]) => {
      const j = job(started, name);
      jobs.set(name, j);
      return gate.run(lane, j.work);
    });
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(started, ['first']);
    assert.deepEqual(gate.load(), { running: 1, trusted: 1, unknown: 1, suspect: 2 });
    for (const expected of ['t1', 'u1', 's1', 's2']) {
      jobs.get(started[started.length - 1]!)!.release();
      await new Promise((r) => setImmediate(r));
      await new Promise((r) => setImmediate(r));
      assert.equal(started[started.length - 1], expected, started.join(','));
    }
    jobs.get('s2')!.release();
    assert.deepEqual(await Promise.all(results), ['first', 's1', 'u1', 's2', 't1']);
    assert.deepEqual(gate.load(), { running: 0, trusted: 0, unknown: 0, suspect: 0 });
  });

  it('refuses at once (429) when a lane\'s queue is full, without touching the other lanes', async () => {
    const gate = new PasswordWorkGate({ concurrent: 1, queued: { trusted: 1, unknown: 1, suspect: 1 } });
    const started: string[] = [];
    const running = job(started, 'running');
    const p1 = gate.run('suspect', running.work);
    const queued = job(started, 'queued');
    const p2 = gate.run('suspect', queued.work);
    const t0 = Date.now();
    await assert.rejects(gate.run('suspect', async () => 'never'), (err: unknown) => err instanceof PasswordWorkBusy && err.getStatus() === 429);
    assert.ok(Date.now() - t0 < 50, 'no waiting for a refusal');
    const trusted = job(started, 'trusted');
    const p3 = gate.run('trusted', trusted.work);
    running.release();
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(started, ['running', 'trusted']);
    trusted.release();
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
    queued.release();
    assert.deepEqual(await Promise.all([p1, p2, p3]), ['running', 'queued', 'trusted']);
  });

  it('a failing job frees its slot', async () => {
    const gate = new PasswordWorkGate({ concurrent: 1, queued: { trusted: 1, unknown: 1, suspect: 1 } });
    await assert.rejects(gate.run('trusted', async () => { throw new Error('boom'); }), /boom/);
    assert.equal(await gate.run('trusted', async () => 'ok'), 'ok');
    assert.equal(gate.load().running, 0);
  });
});
