import type { ModuleFields } from '@rsynchub/contracts';

/** What a module is when a request leaves a field out: a listed, enabled receiving target with no limits, for its granted users only. */
export const MODULE_DEFAULTS: Readonly<Omit<ModuleFields, 'name' | 'path'>> = Object.freeze({
  comment: '',
  readOnly: false,
  writeOnly: false,
  list: true,
  ignoreErrors: false,
  maxConnections: 0,
  timeout: 0,
  hostsAllow: [],
  hostsDeny: [],
  users: [],
  // No access without a password unless asked for: a module without users is refused by validateModule.
  anonymous: 'none',
  refuseOptions: [],
  excludes: [],
  enabled: true,
  uid: null,
  gid: null,
  useChroot: null,
  allowRootIds: false,
});

/** A complete module from a partial one (fresh arrays, so callers may mutate the result). */
export function moduleWithDefaults(fields: Pick<ModuleFields, 'name' | 'path'> & Partial<ModuleFields>): ModuleFields {
  return {
    ...MODULE_DEFAULTS,
    hostsAllow: [],
    hostsDeny: [],
    users: [],
    refuseOptions: [],
    excludes: [],
    ...fields,
  };
}
