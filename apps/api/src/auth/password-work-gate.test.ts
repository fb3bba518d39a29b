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

  it('admit() refuses at once when the lane is full, counting admitted tickets that have not run yet; an unused ticket gives its place back', async () => {
    const gate = new PasswordWorkGate({ concurrent: 1, queued: { trusted: 1, unknown: 1, suspect: 2 } });
    // Idle: one free slot plus two queue places; many admissions in the same tick (before any run) stay bounded.
    const tickets = [gate.admit('suspect'), gate.admit('suspect'), gate.admit('suspect')];
    assert.throws(() => gate.admit('suspect'), (err: unknown) => err instanceof PasswordWorkBusy);
    assert.doesNotThrow(() => gate.admit('trusted').release(), 'other lanes keep their places');
    tickets[2]!.release();
    tickets[2]!.release(); // idempotent
    const again = gate.admit('suspect');
    assert.throws(() => gate.admit('suspect'), (err: unknown) => err instanceof PasswordWorkBusy);
    // A ticket is used by run(); releasing it afterwards changes nothing.
    assert.equal(await gate.run(tickets[0]!, async () => 'ran'), 'ran');
    tickets[0]!.release();
    const third = gate.admit('suspect'); // the place the finished run left
    assert.throws(() => gate.admit('suspect'), (err: unknown) => err instanceof PasswordWorkBusy);
    for (const t of [tickets[1]!, again, third]) t.release();
    assert.deepEqual([gate.admit('suspect'), gate.admit('suspect'), gate.admit('suspect')].length, 3);
  });

  it('suspectShare pauses the suspect lane after each suspect check; other lanes do not wait', async () => {
    const gate = new PasswordWorkGate({ concurrent: 1, queued: { trusted: 5, unknown: 5, suspect: 5 }, suspectShare: 0.5 });
    const slow = () => new Promise<number>((r) => setTimeout(() => r(performance.now()), 60));
    const firstEnd = await gate.run('suspect', slow);
    const t0 = performance.now();
    await gate.run('trusted', async () => undefined);
    assert.ok(performance.now() - t0 < 40, 'a trusted check does not wait for the pause');
    const started = await gate.run('suspect', async () => performance.now());
    // The first suspect check took ~60 ms, so at a share of 0.5 the next one starts no earlier than ~60 ms after it.
    assert.ok(started - firstEnd >= 50, `next suspect check started ${(started - firstEnd).toFixed(0)} ms after the first ended`);
  });
});
