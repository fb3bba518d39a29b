import { CanActivate, ExecutionContext, ForbiddenException, Inject, Injectable, UnsupportedMediaTypeException } from '@nestjs/common';
import type { Request } from 'express';
import { APP_CONFIG, AppConfig } from '../config/app-config';
import { isOriginAllowed } from './secrets';

/**
 * Login CSRF: the login sets a session cookie, so a cross-site page must not be able to log a victim's browser into
 * an attacker's account. JSON only (an HTML form cannot send application/json without CORS, which we never allow)
 * and the same Origin check as the other cookie routes.
 */
@Injectable()
export class LoginRequestGuard implements CanActivate {
  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {}

  canActivate(context: ExecutionContext): boolean {
    const req = context.switchToHttp().getRequest<Request>();
    if (!req.is('application/json')) {
      throw new UnsupportedMediaTypeException('login accepts only Content-Type: application/json');
    }
    if (!isOriginAllowed(req.headers.origin, req.headers.host, this.config.allowedOrigins)) {
      throw new ForbiddenException(`cross-site request refused: origin ${String(req.headers.origin)} is not allowed`);
    }
    return true;
  }
}
