import { CallHandler, ExecutionContext, HttpException, Injectable, NestInterceptor } from '@nestjs/common';
import type { Request } from 'express';
import { catchError, from, mergeMap, Observable } from 'rxjs';
import { RequestAudit, runWithRequestAudit } from './audit-context';
import { AdminsService } from '../auth/admins.service';
import { principalOf } from '../auth/principal';
import { LiveEventsHub } from '../events/live-events.hub';
import { auditChangeOf } from './audit-change';
import { AuditService, NewAuditEntry } from './audit.service';
import { AuditAggregator } from './audit-aggregator';
import { actionFor, UNAUDITED_ROUTES } from './route-actions';

const READ_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * Writes one audit entry for every mutating REST call that reaches a controller, success or failure, before the
 * response goes out (so a client that reads the audit log right after sees its own call).
 */
@Injectable()
export class AuditInterceptor implements NestInterceptor {
  constructor(
    private readonly audit: AuditService,
    private readonly hub: LiveEventsHub,
    private readonly admins: AdminsService,
    private readonly aggregator: AuditAggregator,
  ) {}

  intercept(ctx: ExecutionContext, next: CallHandler): Observable<unknown> {
    if (ctx.getType() !== 'http') return next.handle();
    const req = ctx.switchToHttp().getRequest<Request>();
    const routeKey = `${req.method} ${(req.route as { path?: string } | undefined)?.path ?? req.path}`;
    if (READ_METHODS.has(req.method) || UNAUDITED_ROUTES.has(routeKey)) return next.handle();
    (req as { auditHandled?: boolean }).auditHandled = true;
    // A config change this request makes writes the entry in its own transaction (first as "success" without the
    // before/after state, which only the finished request knows); write() then completes that same row.
    const requestAudit: RequestAudit = {
      entryId: null,
      insert: async (em) => (await this.audit.insertIn(em, await auditEntryFor(req, 'success', null, (name) => this.admins.usernameExists(name)))).id,
    };
    const handled = new Observable<unknown>((subscriber) => runWithRequestAudit(requestAudit, () => next.handle().subscribe(subscriber)));
    return handled.pipe(
      mergeMap((body) => from(this.write(req, 'success', body, null, requestAudit.entryId).then(() => body))),
      catchError((err: unknown) =>
        from(
          this.write(req, 'failure', undefined, err, requestAudit.entryId).then(() => {
            throw err;
          }),
        ),
      ),
    );
  }

  private async write(req: Request, outcome: 'success' | 'failure', responseBody: unknown, err: unknown, entryId: number | null): Promise<void> {
    // Throttled logins are counted per address and minute, not written one row each (a flood must not fill the log).
    const aggregated = outcome === 'failure' ? this.aggregator.absorb(req, err) : null;
    if (aggregated) return aggregated;
    const entry = await auditEntryFor(req, outcome, err, (name) => this.admins.usernameExists(name));
    const change = auditChangeOf(req);
    entry.before = change?.before ?? null;
    entry.after = outcome === 'success' ? (change?.after ?? responseBody ?? null) : null;
    const recorded = entryId === null ? await this.audit.record(entry) : await this.audit.complete(entryId, entry);
    if (entryId !== null) this.audit.announce(recorded);
    if (outcome === 'success' && recorded.target) {
      const kind = recorded.action.split('.')[0];
      const changeKind = recorded.action.endsWith('.create') ? 'created' : recorded.action.endsWith('.delete') ? 'deleted' : 'updated';
      if (kind === 'module') this.hub.publish('module.changed', { name: recorded.target, change: changeKind }, recorded.target);
      if (kind === 'rsync-user') this.hub.publish('rsync-user.changed', { name: recorded.target, change: changeKind });
    }
  }
}

/**
 * The who/what/where of a request, shared by the interceptor and by refusals that never reach a controller.
 * Without a principal the actor is "anonymous", except for a login, where the attempted username is kept only if it
 * names an account: people type passwords into username fields, and the audit log must not keep them.
 */
export async function auditEntryFor(
  req: Request,
  outcome: 'success' | 'failure',
  err: unknown,
  isAccount: (username: string) => Promise<boolean>,
): Promise<NewAuditEntry> {
  const principal = principalOf(req);
  const body = (req.body ?? {}) as Record<string, unknown>;
  const routePath = (req.route as { path?: string } | undefined)?.path ?? req.path;
  const change = auditChangeOf(req);
  const params = (req.params ?? {}) as Record<string, string>;
  const isLogin = routePath.endsWith('/auth/login');
  let actor = principal?.username ?? 'anonymous';
  if (!principal && isLogin && typeof body.username === 'string') {
    actor = (await isAccount(body.username)) ? body.username : '(unknown username)';
  }
  const bodyTarget = typeof body.name === 'string' ? body.name.slice(0, 128) : typeof body.username === 'string' && !isLogin ? body.username.slice(0, 64) : null;
  return {
    actor,
    actorType: principal ? (principal.via === 'token' ? 'token' : 'admin') : outcome === 'success' && isLogin ? 'admin' : 'anonymous',
    role: principal?.role ?? null,
    action: change?.action ?? actionFor(req.method, routePath, body),
    target: change?.target ?? params.name ?? params.id ?? (isLogin ? (actor === '(unknown username)' ? null : actor) : bodyTarget),
    clientIp: req.ip ?? req.socket?.remoteAddress ?? null,
    outcome,
    detail: err ? (err instanceof HttpException ? err.message : 'internal error') : null,
    before: null,
    after: null,
  };
}
