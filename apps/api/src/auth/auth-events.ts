import { Injectable, OnModuleDestroy } from '@nestjs/common';
import { Observable, Subject } from 'rxjs';

export type AuthEventType =
  | 'login.succeeded'
  | 'login.failed'
  | 'logout'
  | 'password.changed'
  | 'admin.created'
  | 'admin.updated'
  | 'admin.deleted'
  | 'token.created'
  | 'token.revoked';

/** Who did it. For `login.failed` the username is the one attempted (truncated) and adminId null if unknown. */
export interface AuthEventActor {
  adminId: number | null;
  username: string;
  via?: 'session' | 'token';
}

export interface AuthEventTarget {
  kind: 'admin' | 'token' | 'session';
  id: number | null;
  /** Username for admins and sessions, token name for tokens. */
  name: string;
}

/**
 * Something the audit log should record. Carries no secrets: never passwords, tokens, or their hashes.
 * `before`/`after` hold only non-secret fields (role, mustChangePassword, passwordChanged, ...).
 */
export interface AuthEvent {
  type: AuthEventType;
  actor: AuthEventActor | null;
  target: AuthEventTarget | null;
  ip: string | null;
  before?: Record<string, unknown>;
  after?: Record<string, unknown>;
  /** Failure reason for `login.failed`: 'invalid_credentials' | 'throttled'. */
  reason?: string;
  at: Date;
}

/** Stream of auth events, for the audit log. Subscribers must not throw; emission is synchronous. */
@Injectable()
export class AuthEvents implements OnModuleDestroy {
  private readonly subject = new Subject<AuthEvent>();
  readonly events$: Observable<AuthEvent> = this.subject.asObservable();

  emit(event: Omit<AuthEvent, 'at'> & { at?: Date }): void {
    this.subject.next({ ...event, at: event.at ?? new Date() });
  }

  onModuleDestroy(): void {
    this.subject.complete();
  }
}
