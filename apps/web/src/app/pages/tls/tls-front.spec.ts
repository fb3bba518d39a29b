import { tlsFrontText } from './tls-front';

describe('tlsFrontText', () => {
  const cases: [string, Parameters<typeof tlsFrontText>[0], string][] = [
    ['native, never restarted', { kind: 'native', why: null, restarts: 0 }, 'native (rsynchub-tls-front)'],
    ['native after one crash', { kind: 'native', why: null, restarts: 1 }, 'native (rsynchub-tls-front) · restarted 1 time after a crash'],
    ['native after three crashes', { kind: 'native', why: null, restarts: 3 }, 'native (rsynchub-tls-front) · restarted 3 times after a crash'],
    ['node, with the reason', { kind: 'node', why: 'RSYNCHUB_TLS_FRONT=node', restarts: 0 }, 'Node.js fallback — RSYNCHUB_TLS_FRONT=node'],
    ['node without a reason', { kind: 'node', why: null, restarts: 0 }, 'Node.js fallback'],
  ];
  for (const [name, front, expected] of cases) it(name, () => expect(tlsFrontText(front)).toBe(expected));
});
