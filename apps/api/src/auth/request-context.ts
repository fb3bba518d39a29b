import type { Request } from 'express';
import type { RequestContext } from './auth.service';
import { admittedPasswordWork } from './early-login-refusal';

/** Client address as the socket saw it (trust proxy is off), and the user agent. */
export function requestContext(req: Request): RequestContext {
  const ua = req.headers['user-agent'];
  const passwordWork = admittedPasswordWork(req);
  return { ip: req.ip ?? req.socket.remoteAddress ?? null, userAgent: typeof ua === 'string' ? ua : null, ...(passwordWork ? { passwordWork } : {}) };
}
