import { HttpException, HttpStatus, Injectable, UnauthorizedException } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { IsNull, Not, Repository } from 'typeorm';
import type { LoginResponse } from '@rsynchub/contracts';
import { ValidationFailed } from '../common/errors';
import { DbWriteQueue } from '../database/db-write-queue';
import { AuthEvents } from './auth-events';
import { AdminEntity } from './entities/admin.entity';
import { AdminSessionEntity } from './entities/admin-session.entity';
import { ApiTokenEntity } from './entities/api-token.entity';
import { LoginThrottle } from './login-throttle';
import { toAdminDto } from './mappers';
import { PasswordHasher } from './passwords';
import { PasswordWorkBusy, PasswordWorkTicket } from './password-work-gate';
import { adminPasswordWeakness } from './password-strength';
import { Principal } from './principal';
import { API_TOKEN_PREFIX, bearerToken, generateSecretToken, readCookie, SESSION_COOKIE, SESSION_TOKEN_PREFIX, sha256Hex } from './secrets';

/** Sessions expire this long after their last use. */
export const SESSION_TTL_MS = 12 * 60 * 60_000;
/** Sliding expiry and last-used stamps are written at most this often, not on every request. */
export const TOUCH_INTERVAL_MS = 60_000;

export const INVALID_CREDENTIALS = 'invalid username or password';
/** Logins from one address waiting behind each other; more get 429 at once. */
export const MAX_QUEUED_LOGINS_PER_ADDRESS = 16;

/** Where a request's credential came from; cookie-authenticated requests get the cross-site Origin check. */
export type CredentialSource = 'cookie' | 'bearer';

export interface AuthenticatedRequestInfo {
  principal: Principal;
  source: CredentialSource;
}

export interface RequestContext {
  ip: string | null;
  userAgent?: string | null;
  /** The password-check place the login middleware admitted this request with (earlyLoginRefusal). */
  passwordWork?: PasswordWorkTicket;
}

/** 429 carrying the wait, so the controller can send `Retry-After`. */
export class TooManyFailedLogins extends HttpException {
  constructor(readonly retryAfterSeconds: number) {
    super(`too many failed logins; try again in ${retryAfterSeconds} seconds`, HttpStatus.TOO_MANY_REQUESTS);
  }
}

/** Logins, sessions and credential checks. `authenticate` is what other transports (WebSocket upgrade) use. */
@Injectable()
export class AuthService {
  constructor(
    @InjectRepository(AdminEntity) private readonly admins: Repository<AdminEntity>,
    @InjectRepository(AdminSessionEntity) private readonly sessions: Repository<AdminSessionEntity>,
    @InjectRepository(ApiTokenEntity) private readonly tokens: Repository<ApiTokenEntity>,
    private readonly hasher: PasswordHasher,
    private readonly throttle: LoginThrottle,
    private readonly events: AuthEvents,
    /** Writes go through the shared queue so they never land inside (and roll back with) another transaction. */
    private readonly writes: DbWriteQueue,
  ) {}

  /**
   * The principal for raw request credentials (e.g. a WebSocket upgrade request), or null when they are missing or
   * invalid. An Authorization header, when present, wins over the cookie. No Origin check here: callers that accept
   * browser connections must check the Origin themselves.
   */
  async authenticate(input: { cookieHeader?: string; authorization?: string }): Promise<Principal | null> {
    const found = await this.authenticateCredentials(input.authorization, readCookie(input.cookieHeader, SESSION_COOKIE) ?? undefined);
    return found?.principal ?? null;
  }

  /** Like `authenticate`, for an Express request (cookie-parser has already parsed cookies). */
  async authenticateRequest(req: { headers: Record<string, string | string[] | undefined>; cookies?: Record<string, unknown> }): Promise<AuthenticatedRequestInfo | null> {
    const authorization = typeof req.headers.authorization === 'string' ? req.headers.authorization : undefined;
    const fromParser = req.cookies?.[SESSION_COOKIE];
    const cookie = typeof fromParser === 'string' ? fromParser : readCookie(typeof req.headers.cookie === 'string' ? req.headers.cookie : undefined, SESSION_COOKIE) ?? undefined;
    return this.authenticateCredentials(authorization, cookie);
  }

  private async authenticateCredentials(authorization: string | undefined, cookie: string | undefined): Promise<AuthenticatedRequestInfo | null> {
    if (authorization !== undefined && authorization !== '') {
      // A present but unusable Authorization header is a failure, not a reason to fall back to the cookie.
      const token = bearerToken(authorization);
      if (!token) return null;
      const principal = token.startsWith(API_TOKEN_PREFIX) ? await this.principalForApiToken(token) : await this.principalForSession(token);
      return principal ? { principal, source: 'bearer' } : null;
    }
    if (cookie) {
      const principal = await this.principalForSession(cookie);
      return principal ? { principal, source: 'cookie' } : null;
    }
    return null;
  }

  private async principalForSession(token: string): Promise<Principal | null> {
    if (!token.startsWith(SESSION_TOKEN_PREFIX) || token.length > 200) return null;
    const session = await this.sessions.findOne({ where: { tokenHash: sha256Hex(token) } });
    const now = Date.now();
    if (!session || session.revokedAt || session.expiresAt.getTime() <= now) return null;
    const admin = await this.admins.findOne({ where: { id: session.adminId } });
    if (!admin) return null;
    if (now - session.lastSeenAt.getTime() >= TOUCH_INTERVAL_MS) {
      await this.writes.run(() => this.sessions.update({ id: session.id, revokedAt: IsNull() }, { lastSeenAt: new Date(now), expiresAt: new Date(now + SESSION_TTL_MS) }));
    }
    return { adminId: admin.id, username: admin.username, role: admin.role, via: 'session', credentialId: session.id, mustChangePassword: admin.mustChangePassword };
  }

  private async principalForApiToken(token: string): Promise<Principal | null> {
    if (token.length > 200) return null;
    const row = await this.tokens.findOne({ where: { tokenHash: sha256Hex(token) } });
    const now = Date.now();
    if (!row || row.revokedAt || (row.expiresAt && row.expiresAt.getTime() <= now)) return null;
    const admin = await this.admins.findOne({ where: { id: row.adminId } });
    if (!admin) return null;
    if (!row.lastUsedAt || now - row.lastUsedAt.getTime() >= TOUCH_INTERVAL_MS) {
      await this.writes.run(() => this.tokens.update({ id: row.id }, { lastUsedAt: new Date(now) }));
    }
    return { adminId: admin.id, username: admin.username, role: admin.role, via: 'token', credentialId: row.id, mustChangePassword: admin.mustChangePassword, scope: row.scope, sourceName: row.sourceName };
  }

  /**
   * Attempts from one address run one after another, so parallel guesses cannot all pass the throttle check; the
   * chain per address is bounded (excess attempts get 429 at once instead of piling up sockets and memory).
   */
  private readonly loginQueues = new Map<string, { tail: Promise<unknown>; depth: number }>();

  /** Checks the password (throttled), opens a session and returns its token. */
  login(username: string, password: string, ctx: RequestContext): Promise<LoginResponse> {
    const ip = ctx.ip ?? 'unknown';
    // Refused before queueing: a throttled flood costs a map lookup, not a place in line.
    this.refuseIfThrottled(username, ctx);
    const queue = this.loginQueues.get(ip) ?? { tail: Promise.resolve(), depth: 0 };
    if (queue.depth >= MAX_QUEUED_LOGINS_PER_ADDRESS) return Promise.reject(new PasswordWorkBusy());
    const attempt = queue.tail.catch(() => undefined).then(() => this.loginNow(username, password, ctx));
    const tail = attempt.catch(() => undefined);
    queue.tail = tail;
    queue.depth++;
    this.loginQueues.set(ip, queue);
    void tail.then(() => {
      queue.depth--;
      if (queue.depth === 0 && this.loginQueues.get(ip) === queue) this.loginQueues.delete(ip);
    });
    return attempt;
  }

  private refuseIfThrottled(username: string, ctx: RequestContext): void {
    const wait = this.throttle.retryAfterSeconds(username, ctx.ip ?? 'unknown', Date.now());
    if (wait > 0) {
      this.events.emit({ type: 'login.failed', actor: { adminId: null, username: username.slice(0, 64) }, target: null, ip: ctx.ip, reason: 'throttled' });
      throw new TooManyFailedLogins(wait);
    }
  }

  private async loginNow(username: string, password: string, ctx: RequestContext): Promise<LoginResponse> {
    const ip = ctx.ip ?? 'unknown';
    const attempted = username.slice(0, 64);
    this.refuseIfThrottled(username, ctx);
    // The place in the password queue comes first: an attempt turned away (429) never costs a database round trip.
    const ticket = ctx.passwordWork ?? this.hasher.admit(this.throttle.laneFor(ip, Date.now()));
    let admin: AdminEntity | null;
    let ok: boolean;
    try {
      admin = await this.admins.findOne({ where: { username } });
      ok = admin ? await this.hasher.verify(admin.passwordHash, password, ticket) : await this.hasher.verifyDummy(password, ticket);
    } finally {
      ticket.release();
    }
    if (!admin || !ok) {
      this.throttle.recordFailure(username, ip, Date.now());
      this.events.emit({
        type: 'login.failed',
        actor: { adminId: admin?.id ?? null, username: attempted },
        target: admin ? { kind: 'admin', id: admin.id, name: admin.username } : null,
        ip: ctx.ip,
        reason: 'invalid_credentials',
      });
      throw new UnauthorizedException(INVALID_CREDENTIALS);
    }
    this.throttle.recordSuccess(username, ip, Date.now());

    const now = new Date();
    const token = generateSecretToken(SESSION_TOKEN_PREFIX);
    const session = await this.writes.run((em) => em.getRepository(AdminSessionEntity).save(
      this.sessions.create({
        adminId: admin.id,
        tokenHash: sha256Hex(token),
        ip: ctx.ip,
        userAgent: ctx.userAgent ? ctx.userAgent.slice(0, 512) : null,
        createdAt: now,
        lastSeenAt: now,
        expiresAt: new Date(now.getTime() + SESSION_TTL_MS),
        revokedAt: null,
      }),
      { transaction: false },
    ));
    admin.lastLoginAt = now;
    await this.writes.run(() => this.admins.update({ id: admin.id }, { lastLoginAt: now }));
    this.events.emit({
      type: 'login.succeeded',
      actor: { adminId: admin.id, username: admin.username, via: 'session' },
      target: { kind: 'session', id: session.id, name: admin.username },
      ip: ctx.ip,
    });
    return { token, admin: toAdminDto(admin), mustChangePassword: admin.mustChangePassword };
  }

  /** Ends the session the principal used. An API token is not revoked by logout (use DELETE /tokens/:id). */
  async logout(principal: Principal, ctx: RequestContext): Promise<void> {
    if (principal.via === 'session') {
      await this.writes.run(() => this.sessions.update({ id: principal.credentialId, revokedAt: IsNull() }, { revokedAt: new Date() }));
    }
    this.events.emit({
      type: 'logout',
      actor: { adminId: principal.adminId, username: principal.username, via: principal.via },
      target: principal.via === 'session' ? { kind: 'session', id: principal.credentialId, name: principal.username } : null,
      ip: ctx.ip,
    });
  }

  /**
   * Changes the principal's own password, clears must_change_password and revokes the account's other sessions and
   * all its API tokens (a token made with the old password, or by whoever knew it, must not outlive it).
   */
  async changeOwnPassword(principal: Principal, currentPassword: string, newPassword: string, ctx: RequestContext): Promise<void> {
    const ip = ctx.ip ?? 'unknown';
    // Guessing the current password through a stolen session is throttled like a login.
    const wait = this.throttle.retryAfterSeconds(principal.username, ip, Date.now());
    if (wait > 0) throw new TooManyFailedLogins(wait);
    const admin = await this.admins.findOne({ where: { id: principal.adminId } });
    if (!admin) throw new UnauthorizedException('authentication required');
    if (!(await this.hasher.verify(admin.passwordHash, currentPassword, this.throttle.laneFor(ip, Date.now())))) {
      this.throttle.recordFailure(principal.username, ip, Date.now());
      throw new ValidationFailed([{ field: 'currentPassword', message: 'is wrong' }]);
    }
    if (newPassword === currentPassword) {
      throw new ValidationFailed([{ field: 'newPassword', message: 'must differ from the current password' }]);
    }
    const weakness = adminPasswordWeakness(newPassword, [admin.username]);
    if (weakness) throw new ValidationFailed([{ field: 'newPassword', message: weakness }]);
    const hadToChange = admin.mustChangePassword;
    const passwordHash = await this.hasher.hash(newPassword);
    await this.writes.run(() => this.admins.update({ id: admin.id }, { passwordHash, mustChangePassword: false, updatedAt: new Date() }));
    await this.revokeSessions(admin.id, principal.via === 'session' ? principal.credentialId : undefined);
    // Tokens made before the change go too: whoever knew the old password may have made one.
    await this.revokeTokens(admin.id);
    this.events.emit({
      type: 'password.changed',
      actor: { adminId: principal.adminId, username: principal.username, via: principal.via },
      target: { kind: 'admin', id: admin.id, name: admin.username },
      ip: ctx.ip,
      before: { mustChangePassword: hadToChange },
      after: { mustChangePassword: false },
    });
  }

  async mustChangePassword(adminId: number): Promise<boolean> {
    const admin = await this.admins.findOne({ where: { id: adminId } });
    return admin?.mustChangePassword ?? false;
  }

  /** Revokes every live session of an account, except `exceptSessionId`. */
  async revokeSessions(adminId: number, exceptSessionId?: number): Promise<void> {
    await this.writes.run(() =>
      this.sessions.update(
        exceptSessionId === undefined ? { adminId, revokedAt: IsNull() } : { adminId, revokedAt: IsNull(), id: Not(exceptSessionId) },
        { revokedAt: new Date() },
      ),
    );
  }

  /** Revokes every live API token of an account. */
  async revokeTokens(adminId: number): Promise<void> {
    await this.writes.run(() => this.tokens.update({ adminId, revokedAt: IsNull() }, { revokedAt: new Date() }));
  }
}
