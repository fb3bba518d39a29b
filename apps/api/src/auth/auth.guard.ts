import { CanActivate, ExecutionContext, ForbiddenException, Inject, Injectable, UnauthorizedException } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { Request } from 'express';
import { APP_CONFIG, AppConfig } from '../config/app-config';
import { AuthService } from './auth.service';
import { ADMIN_ONLY, ALLOW_AUDITOR, ALLOW_BEFORE_PASSWORD_CHANGE, ALLOW_SOURCE_TOKEN, IS_PUBLIC } from './decorators';
import { PRINCIPAL_KEY, RequestWithPrincipal } from './principal';
import { isOriginAllowed } from './secrets';

export const AUTH_REQUIRED = 'authentication required';
export const AUDITOR_READ_ONLY = 'auditor accounts are read-only';
export const ADMIN_ROLE_REQUIRED = 'this requires the admin role';
export const SOURCE_TOKEN_HEARTBEATS_ONLY = 'a source-scoped token may only send heartbeats (POST /api/v1/sources/heartbeat)';
export const READ_TOKEN_READ_ONLY = 'a read-scoped token may only read (GET routes and /metrics)';

export const PASSWORD_CHANGE_REQUIRED = 'password change required: change your password first (POST /api/v1/auth/password)';

/** 403 with its own `error` kind, so clients (the console) can send the user to the change-password page. */
export class PasswordChangeRequired extends ForbiddenException {
  readonly errorKind = 'password_change_required';
  constructor() {
    super(PASSWORD_CHANGE_REQUIRED);
  }
}

const READ_METHODS = new Set(['GET', 'HEAD']);

/**
 * Global guard (APP_GUARD): every HTTP route needs a valid session cookie, session bearer token or API token,
 * unless marked @Public(). Reads (GET/HEAD) are open to both roles, anything else needs the admin role unless the
 * route is @AllowAuditor(); @AdminOnly() routes need the admin role for reads too.
 * WebSocket gateways are not checked here: they authenticate the upgrade request with AuthService.authenticate.
 */
@Injectable()
export class AuthGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly auth: AuthService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    if (context.getType() !== 'http') return true;
    const targets = [context.getHandler(), context.getClass()];
    if (this.reflector.getAllAndOverride<boolean>(IS_PUBLIC, targets)) return true;

    const req = context.switchToHttp().getRequest<Request & RequestWithPrincipal>();
    const found = await this.auth.authenticateRequest(req);
    if (!found) throw new UnauthorizedException(AUTH_REQUIRED);
    const { principal, source } = found;
    const method = req.method.toUpperCase();
    const isRead = READ_METHODS.has(method);

    // SameSite=Strict already keeps the cookie off cross-site requests; this also covers same-site subdomains.
    if (source === 'cookie' && !isRead && !isOriginAllowed(req.headers.origin, req.headers.host, this.config.allowedOrigins)) {
      throw new ForbiddenException(`cross-site request refused: origin ${String(req.headers.origin)} is not allowed`);
    }
    req[PRINCIPAL_KEY] = principal;

    // Enforced here, not only in the console: whoever knows a generated or admin-set password can do nothing else.
    if (principal.mustChangePassword && !this.reflector.getAllAndOverride<boolean>(ALLOW_BEFORE_PASSWORD_CHANGE, targets)) {
      throw new PasswordChangeRequired();
    }

    // Token scopes narrow what the account's role allows; they never widen it.
    const allowsSourceToken = this.reflector.getAllAndOverride<boolean>(ALLOW_SOURCE_TOKEN, targets) === true;
    if (principal.scope === 'source' && !allowsSourceToken) throw new ForbiddenException(SOURCE_TOKEN_HEARTBEATS_ONLY);
    if (principal.scope === 'read') {
      if (!isRead) throw new ForbiddenException(READ_TOKEN_READ_ONLY);
      if (this.reflector.getAllAndOverride<boolean>(ADMIN_ONLY, targets)) throw new ForbiddenException(ADMIN_ROLE_REQUIRED);
    }

    if (principal.role === 'admin') return true;
    if (!isRead && !this.reflector.getAllAndOverride<boolean>(ALLOW_AUDITOR, targets)) throw new ForbiddenException(AUDITOR_READ_ONLY);
    if (this.reflector.getAllAndOverride<boolean>(ADMIN_ONLY, targets)) throw new ForbiddenException(ADMIN_ROLE_REQUIRED);
    return true;
  }
}
