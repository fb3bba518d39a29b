import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { NextFunction, Request, Response } from 'express';
import type { AuditAggregator } from '../audit/audit-aggregator';
import { earlyLoginRefusal } from './early-login-refusal';
import { LoginThrottle } from './login-throttle';
import { PasswordWorkGate } from './password-work-gate';

/** Runs the middleware on a fake request; 'next' when it let the request through, else the status it answered. */
function outcome(path: string, throttle: LoginThrottle): number | 'next' {
  const aggregator = { count: async () => undefined } as unknown as AuditAggregator;
  const mw = earlyLoginRefusal(throttle, new PasswordWorkGate(), aggregator);
  let status: number | 'next' = 'next';
  const res = { setHeader: () => undefined, status: (s: number) => ((status = s), { json: () => undefined }) } as unknown as Response;
  mw({ method: 'POST', path, ip: '192.0.2.1', socket: {} } as unknown as Request, res, (() => undefined) as NextFunction);
  return status;
}

describe('earlyLoginRefusal', () => {
  // Express routes case-insensitively and with or without a trailing slash: every spelling that reaches the login
  // handler must be refused before its body is read.
  it('refuses an address over its limit on every spelling of the login path', () => {
    const throttle = new LoginThrottle();
    for (let i = 0; i < 20; i++) throttle.recordFailure(`u${i}`, '192.0.2.1', Date.now());
    for (const path of ['/api/v1/auth/login', '/api/v1/auth/login/', '/API/V1/AUTH/LOGIN', '/api/v1/auth/Login//']) {
      assert.equal(outcome(path, throttle), 429, path);
    }
    assert.equal(outcome('/api/v1/auth/logout', throttle), 'next', 'other routes pass');
    assert.equal(outcome('/api/v1/auth/login/x', throttle), 'next', 'a longer path is another route');
  });
});
