import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { API_PREFIX, ApiErrorBody } from '@rsynchub/contracts';
import type { AuditAggregator } from '../audit/audit-aggregator';
import type { LoginThrottle } from './login-throttle';
import { PasswordWorkBusy, PasswordWorkGate, PasswordWorkTicket } from './password-work-gate';

const LOGIN_PATH = `${API_PREFIX}/auth/login`;
const TICKET = Symbol('passwordWorkTicket');

/**
 * Whether Express will route this request to the login handler: it matches paths case-insensitively and with a
 * trailing slash, so `/API/V1/AUTH/LOGIN/` is a login too and must not skip the checks below.
 */
function isLoginRequest(req: Request): boolean {
  return req.method === 'POST' && req.path.replace(/\/+$/, '').toLowerCase() === LOGIN_PATH.toLowerCase();
}

/** The password-check place `earlyLoginRefusal` admitted this login with, if any. */
export function admittedPasswordWork(req: Request): PasswordWorkTicket | undefined {
  return (req as Request & { [TICKET]?: PasswordWorkTicket })[TICKET];
}

function refuse(res: Response, wait: number, message: string): void {
  const body: ApiErrorBody = { statusCode: 429, error: 'too_many_requests', message };
  res.setHeader('Retry-After', String(wait));
  res.status(429).json(body);
}

/**
 * Every login is checked here, in memory, before its body is parsed and before Nest's guards, pipes, interceptors
 * and any database work: an address over its per-address limit, and an attempt whose lane in the password queue
 * (PasswordWorkGate) is full, get 429 at once (the per-(username, address) limit needs the body: AuthService checks
 * it, still before any database work). Nothing is reserved yet: a client that never finishes sending its body
 * must not hold a place in the queue (see `loginAdmission`). Refusals are counted in the audit log like any
 * throttled login (one row per address and minute, AuditAggregator).
 */
export function earlyLoginRefusal(throttle: LoginThrottle, gate: PasswordWorkGate, aggregator: AuditAggregator): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    if (!isLoginRequest(req)) return next();
    const ip = req.ip ?? req.socket.remoteAddress ?? 'unknown';
    const now = Date.now();
    const wait = throttle.addressRetryAfterSeconds(ip, now);
    if (wait > 0) {
      void aggregator.count(ip, now);
      return refuse(res, wait, `too many failed logins; try again in ${wait} seconds`);
    }
    if (gate.isFull(throttle.laneFor(ip, now))) {
      void aggregator.count(ip, now);
      const busy = new PasswordWorkBusy();
      return refuse(res, busy.retryAfterSeconds, busy.message);
    }
    next();
  };
}

/**
 * Right after the body parser: the login takes its place in the password queue (429 at once when the lane filled
 * up meanwhile) and carries it to AuthService; the place is given back when the response ends, if unused.
 */
export function loginAdmission(throttle: LoginThrottle, gate: PasswordWorkGate, aggregator: AuditAggregator): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    if (!isLoginRequest(req)) return next();
    const ip = req.ip ?? req.socket.remoteAddress ?? 'unknown';
    const now = Date.now();
    let ticket: PasswordWorkTicket;
    try {
      ticket = gate.admit(throttle.laneFor(ip, now));
    } catch (err) {
      if (!(err instanceof PasswordWorkBusy)) throw err;
      void aggregator.count(ip, now);
      return refuse(res, err.retryAfterSeconds, err.message);
    }
    (req as Request & { [TICKET]?: PasswordWorkTicket })[TICKET] = ticket;
    res.once('close', () => ticket.release());
    next();
  };
}
