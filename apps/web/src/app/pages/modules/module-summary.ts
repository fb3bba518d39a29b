import type { ModuleDto } from '@rsynchub/contracts';

/** One row of a module's settings as the module page lists them. */
export interface ModuleSetting {
  key: keyof ModuleDto;
  label: string;
  value: string;
}

const yesNo = (v: boolean) => (v ? 'yes' : 'no');

/**
 * Every setting a module has, in words, including the ones the form does not edit (uid, gid, chroot and
 * allowRootIds come from an import or the API): the module page must not hide what the daemon is told.
 */
export function moduleSettings(m: ModuleDto): ModuleSetting[] {
  return [
    { key: 'path', label: 'Path', value: m.path },
    { key: 'comment', label: 'Comment', value: m.comment || '—' },
    { key: 'enabled', label: 'Enabled', value: yesNo(m.enabled) },
    { key: 'list', label: 'Listed (rsync HOST::)', value: yesNo(m.list) },
    { key: 'ignoreErrors', label: 'Ignore I/O errors on delete', value: yesNo(m.ignoreErrors) },
    { key: 'hostsAllow', label: 'Hosts allow', value: m.hostsAllow.join(', ') || 'all' },
    { key: 'hostsDeny', label: 'Hosts deny', value: m.hostsDeny.join(', ') || 'none' },
    { key: 'maxConnections', label: 'Max connections', value: m.maxConnections ? String(m.maxConnections) : 'unlimited' },
    { key: 'timeout', label: 'Timeout', value: m.timeout ? `${m.timeout} s` : 'none' },
    { key: 'refuseOptions', label: 'Refuse options', value: m.refuseOptions.join(' ') || 'none' },
    { key: 'excludes', label: 'Excludes', value: m.excludes.join(', ') || 'none' },
    { key: 'uid', label: 'Transfer as user (uid)', value: m.uid ?? 'daemon default' },
    { key: 'gid', label: 'Transfer as group (gid)', value: m.gid ?? 'daemon default' },
    { key: 'useChroot', label: 'chroot', value: m.useChroot === null ? 'daemon default' : yesNo(m.useChroot) },
    { key: 'allowRootIds', label: 'Root uid/gid allowed', value: yesNo(m.allowRootIds) },
    ...(m.tlsClientCert ? [{ key: 'tlsClientCert' as const, label: 'Client certificate', value: 'required (TLS only)' }] : []),
  ];
}

/**
 * The settings that differ from a plain new module, short, for the modules list ("uid backup", "chroot off",
 * "3 excludes"): what an import brought along shows without opening each module.
 */
export function moduleExtras(m: ModuleDto): string[] {
  const out: string[] = [];
  if (m.list) out.push('listed');
  if (m.uid !== null) out.push(`uid ${m.uid}`);
  if (m.gid !== null) out.push(`gid ${m.gid}`);
  if (m.useChroot !== null) out.push(`chroot ${m.useChroot ? 'on' : 'off'}`);
  if (m.allowRootIds) out.push('root ids allowed');
  if (m.hostsAllow.length) out.push(`allow ${m.hostsAllow.join(' ')}`);
  if (m.hostsDeny.length) out.push(`deny ${m.hostsDeny.join(' ')}`);
  if (m.maxConnections) out.push(`max ${m.maxConnections} connections`);
  if (m.timeout) out.push(`timeout ${m.timeout} s`);
  if (m.refuseOptions.length) out.push(`refuse ${m.refuseOptions.join(' ')}`);
  if (m.excludes.length) out.push(`${m.excludes.length} exclude${m.excludes.length === 1 ? '' : 's'}`);
  if (m.ignoreErrors) out.push('ignore errors');
  if (m.comment) out.push(m.comment);
  return out;
}
