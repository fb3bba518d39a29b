import type { AdminRole, ApiTokenScope } from '@rsynchub/contracts';

/** Who a request acts as, once authenticated. Attached to the request by the global AuthGuard. */
export interface Principal {
  adminId: number;
  username: string;
  /** Read live from the account on every request, so a demotion takes effect at once. */
  role: AdminRole;
  /** `session` for a login session (cookie or bearer), `token` for a long-lived API token. */
  via: 'session' | 'token';
  /** Id of the admin_sessions or api_tokens row that authenticated the request. */
  credentialId: number;
  /**
   * The account still has to replace a password someone else knows (generated at first start, or set by another
   * admin): until then only changing the password, `auth/me` and logout are allowed. Read live like `role`.
   */
  mustChangePassword: boolean;
  /** For API tokens: what the token may do (absent for login sessions, which act with the full role). */
  scope?: ApiTokenScope;
  /** For a `source` token bound to one source: its name. */
  sourceName?: string | null;
}

/** Property of the Express request the principal is stored under. */
export const PRINCIPAL_KEY = 'rsynchubPrincipal';

export type RequestWithPrincipal = { [PRINCIPAL_KEY]?: Principal };

export function principalOf(req: unknown): Principal | undefined {
  return (req as RequestWithPrincipal)[PRINCIPAL_KEY];
}
