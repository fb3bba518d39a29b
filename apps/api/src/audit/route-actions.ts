/**
 * The audit action of every mutating route, in one table: `METHOD /route/:pattern` -> action. A mutating route
 * missing here is still audited, under `<method> <route>`, and the e2e test fails on it so the table stays complete.
 */
export const ROUTE_ACTIONS: Record<string, string | ((body: Record<string, unknown>) => string)> = {
  'POST /api/v1/auth/login': 'auth.login',
  'POST /api/v1/auth/logout': 'auth.logout',
  'POST /api/v1/auth/password': 'auth.password.change',
  'POST /api/v1/admins': 'admin.create',
  'PATCH /api/v1/admins/:id': (b) => (b.password !== undefined ? 'admin.password.reset' : 'admin.update'),
  'DELETE /api/v1/admins/:id': 'admin.delete',
  'POST /api/v1/admins/:id/password': 'admin.password.reset',
  'POST /api/v1/tokens': 'token.create',
  'DELETE /api/v1/tokens/:id': 'token.revoke',
  'POST /api/v1/rsync-users': 'rsync-user.create',
  'PATCH /api/v1/rsync-users/:name': (b) =>
    b.password !== undefined || b.generatePassword === true ? 'rsync-user.password.rotate' : 'rsync-user.update',
  'DELETE /api/v1/rsync-users/:name': 'rsync-user.delete',
  'POST /api/v1/modules': 'module.create',
  'PATCH /api/v1/modules/:name': 'module.update',
  'DELETE /api/v1/modules/:name': 'module.delete',
  'POST /api/v1/modules/:name/test-connection': 'module.connection.test',
  'POST /api/v1/daemon/start': 'daemon.start',
  'POST /api/v1/daemon/stop': 'daemon.stop',
  'POST /api/v1/daemon/restart': 'daemon.restart',
  'PUT /api/v1/daemon/settings': 'daemon.settings.update',
  'POST /api/v1/import': 'config.import',
  'POST /api/v1/alerts/:id/ack': 'alert.acknowledge',
  'PUT /api/v1/alerts/rules/:id': 'alert.rule.update',
  'POST /api/v1/alerts/channels': 'alert.channel.create',
  'PATCH /api/v1/alerts/channels/:id': 'alert.channel.update',
  'DELETE /api/v1/alerts/channels/:id': 'alert.channel.delete',
  'POST /api/v1/alerts/channels/:id/test': 'alert.channel.test',
  'POST /api/v1/sources/heartbeat': 'source.heartbeat',
  'DELETE /api/v1/bans/:address': 'ban.lift',
  'PUT /api/v1/tls': 'tls.settings.update',
  'POST /api/v1/tls/client-certs': 'tls.client-cert.issue',
  'DELETE /api/v1/tls/client-certs/:id': 'tls.client-cert.revoke',
};

/** Routes whose calls are too frequent and too harmless to audit one by one (a heartbeat every few seconds). */
export const UNAUDITED_ROUTES = new Set(['POST /api/v1/sources/heartbeat']);

export function actionFor(method: string, route: string, body: unknown): string {
  const entry = ROUTE_ACTIONS[`${method} ${route}`];
  if (entry === undefined) return `${method.toLowerCase()} ${route}`;
  return typeof entry === 'function' ? entry((body ?? {}) as Record<string, unknown>) : entry;
}
