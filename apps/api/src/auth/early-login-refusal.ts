import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { API_PREFIX, ApiErrorBody } from '@rsynchub/contracts';
import type { AuditAggregator } from '../audit/audit-aggregator';
import type { LoginThrottle } from './login-throttle';
import { PasswordWorkBusy, PasswordWorkGate, PasswordWorkTicket } from './password-work-gate';

const LOGIN_PATH = `${API_PREFIX}/auth/login`;
const TICKET = Symbol('passwordWorkTicket');

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
 * Every login is admitted or refused here, in memory, before its body is parsed and before Nest's guards, pipes,
 * interceptors and any database work: an address over its per-address limit, and an attempt for which the password
 * queue of its lane (PasswordWorkGate) has no place, get 429 at once (the per-(username, address) limit needs the
 * body: AuthService checks it, still before any database work). A flood of thousands per second
 * then costs a few map lookups each and leaves the CPU, the thread pool and SQLite to everybody else. Refusals are
 * counted in the audit log like any throttled login (one row per address and minute, AuditAggregator). An admitted
 * login carries its place in the queue to AuthService (given back when the response ends, if unused).
 */
export function earlyLoginRefusal(throttle: LoginThrottle, gate: PasswordWorkGate, aggregator: AuditAggregator): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    if (req.method !== 'POST' || req.path !== LOGIN_PATH) return next();
    const ip = req.ip ?? req.socket.remoteAddress ?? 'unknown';
    const now = Date.now();
    const wait = throttle.addressRetryAfterSeconds(ip, now);
    if (wait > 0) {
      void aggregator.count(ip, now);
      return refuse(res, wait, `too many failed logins; try again in ${wait} seconds`);
    }
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
