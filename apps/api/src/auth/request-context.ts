import type { Request } from 'express';
import type { RequestContext } from './auth.service';

/** Client address as the socket saw it (trust proxy is off), and the user agent. */
export function requestContext(req: Request): RequestContext {
  const ua = req.headers['user-agent'];
  return { ip: req.ip ?? req.socket.remoteAddress ?? null, userAgent: typeof ua === 'string' ? ua : null };
}
