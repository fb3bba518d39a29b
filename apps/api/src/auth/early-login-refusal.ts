import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { API_PREFIX, ApiErrorBody } from '@rsynchub/contracts';
import type { AuditAggregator } from '../audit/audit-aggregator';
import type { LoginThrottle } from './login-throttle';

const LOGIN_PATH = `${API_PREFIX}/auth/login`;

/**
 * Logins from an address over its per-address limit are refused here, before body parsing results reach Nest's
 * guards, pipes and interceptors: a flood of thousands per second then costs a map lookup each and leaves the CPU to
 * everybody else. Counted in the audit log like any throttled login (one row per address and minute).
 */
export function earlyLoginRefusal(throttle: LoginThrottle, aggregator: AuditAggregator): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    if (req.method !== 'POST' || req.path !== LOGIN_PATH) return next();
    const ip = req.ip ?? req.socket.remoteAddress ?? 'unknown';
    const now = Date.now();
    const wait = throttle.addressRetryAfterSeconds(ip, now);
    if (wait === 0) return next();
    void aggregator.count(ip, now);
    const body: ApiErrorBody = { statusCode: 429, error: 'too_many_requests', message: `too many failed logins; try again in ${wait} seconds` };
    res.setHeader('Retry-After', String(wait));
    res.status(429).json(body);
  };
}
