/**
 * Review F1 / F7: whatever the daemon-wide and module host lists and the bans, the rendered rsyncd.conf must make
 * rsync admit exactly "matches the effective allow list (if any) AND not the effective deny list AND not banned".
 * The rendered file is read back with rsync's own rule (rsyncd.conf(5), access.c allow_access): a module's own
 * list replaces the global one; an allow match is admitted; else a deny match is refused; else admitted — except
 * that an allow list without a deny list refuses everyone else.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { DaemonSettingsDto } from '@rsynchub/contracts';
import { parseNetwork } from './bans';
import { renderRsyncdConf } from './render';
import { baseModule } from './testing';

const paths = { secretsFile: '/d/s', pidFile: '/d/p', lockDir: '/d/l', logFile: '/d/log' };
const baseSettings: DaemonSettingsDto = { port: 873, address: '0.0.0.0', motd: '', maxConnections: 0, timeout: 0, reverseLookup: false, hostsAllow: [], hostsDeny: [] } as DaemonSettingsDto;

function entryMatches(entry: string, address: string): boolean {
  if (entry === '*') return true;
  const net = parseNetwork(entry);
  const a = parseNetwork(address)!;
  if (!net) return false; // names / wildcards: not used for addresses in these cases
  if (net.version !== a.version) return false;
  const max = net.version === 4 ? 32 : 128;
  const host = BigInt(max - net.prefix);
  return a.base >> host === net.base >> host;
}

/** rsync's decision for `address` on module `name` of a rendered rsyncd.conf. */
function rsyncAdmits(conf: string, name: string, address: string): boolean {
  const [globalPart, ...rest] = conf.split(/\n(?=\[)/);
  const section = rest.find((s) => s.startsWith(`[${name}]`))!;
  const read = (text: string, key: string): string[] | undefined => {
    const m = new RegExp(`^\\s*${key} =(.*)$`, 'm').exec(text);
    return m ? m[1]!.trim().split(/\s+/).filter((x) => x !== '') : undefined;
  };
  const allow = read(section, 'hosts allow') ?? read(globalPart!, 'hosts allow') ?? [];
  const deny = read(section, 'hosts deny') ?? read(globalPart!, 'hosts deny') ?? [];
  if (allow.length > 0 && allow.some((e) => entryMatches(e, address))) return true;
  if (allow.length > 0 && deny.length === 0) return false;
  return !deny.some((e) => entryMatches(e, address));
}

const PROBES = ['127.0.0.1', '127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.5', '127.0.0.9', '10.1.2.3', '10.2.3.4', '192.0.2.1', '::1', '2001:db8::5'];

interface Case {
  what: string;
  global?: { hostsAllow?: string[]; hostsDeny?: string[] };
  module?: { hostsAllow?: string[]; hostsDeny?: string[] };
  bans?: string[];
  admitted: string[];
}

const cases: Case[] = [
  { what: 'no lists: everyone', admitted: PROBES },
  { what: 'global allow + module deny (review F1 case 1)', global: { hostsAllow: ['127.0.0.2'] }, module: { hostsDeny: ['127.0.0.3'] }, admitted: ['127.0.0.2'] },
  {
    what: 'global allow network + module deny inside it',
    global: { hostsAllow: ['127.0.0.0/29'] },
    module: { hostsDeny: ['127.0.0.3'] },
    admitted: ['127.0.0.1', '127.0.0.2', '127.0.0.4', '127.0.0.5'],
  },
  { what: 'global deny + module allow (review F1 case 2)', global: { hostsDeny: ['127.0.0.3'] }, module: { hostsAllow: ['127.0.0.2'] }, admitted: ['127.0.0.2'] },
  { what: 'global deny + module allow network containing it', global: { hostsDeny: ['127.0.0.3'] }, module: { hostsAllow: ['127.0.0.0/8'] }, admitted: ['127.0.0.1', '127.0.0.2', '127.0.0.4', '127.0.0.5', '127.0.0.9'] },
  { what: 'both at module: deny address inside allow network', module: { hostsAllow: ['127.0.0.0/29'], hostsDeny: ['127.0.0.4'] }, admitted: ['127.0.0.1', '127.0.0.2', '127.0.0.3', '127.0.0.5'] },
  { what: 'both at module: deny network inside allow network', module: { hostsAllow: ['10.0.0.0/8'], hostsDeny: ['10.1.0.0/16'] }, admitted: ['10.2.3.4'] },
  { what: 'deny covering the whole allow list admits nobody', module: { hostsAllow: ['127.0.0.2'], hostsDeny: ['127.0.0.0/8'] }, admitted: [] },
  { what: 'module allow replaces global allow; global deny still cut out', global: { hostsAllow: ['10.0.0.0/8'], hostsDeny: ['127.0.0.5'] }, module: { hostsAllow: ['127.0.0.0/29'] }, admitted: ['127.0.0.1', '127.0.0.2', '127.0.0.3', '127.0.0.4'] },
  { what: 'global deny only: everyone else', global: { hostsDeny: ['127.0.0.3', '::1'] }, admitted: PROBES.filter((p) => p !== '127.0.0.3' && p !== '::1') },
  { what: 'allow + deny *: allow only', module: { hostsAllow: ['127.0.0.2'], hostsDeny: ['*'] }, admitted: ['127.0.0.2'] },
  { what: 'allow + deny 0.0.0.0/0 (the classic "everyone else"): allow only', module: { hostsAllow: ['10.0.0.0/8'], hostsDeny: ['0.0.0.0/0'] }, admitted: ['10.1.2.3', '10.2.3.4'] },
  { what: 'allow + deny ::/0 and a ban: allow only, minus the ban', module: { hostsAllow: ['127.0.0.0/29'], hostsDeny: ['::/0', '0.0.0.0/0'] }, bans: ['127.0.0.4'], admitted: ['127.0.0.1', '127.0.0.2', '127.0.0.3', '127.0.0.5'] },
  { what: 'bans inside an allow network next to a deny entry', global: { hostsAllow: ['127.0.0.0/29'] }, module: { hostsDeny: ['127.0.0.1'] }, bans: ['127.0.0.2'], admitted: ['127.0.0.3', '127.0.0.4', '127.0.0.5'] },
  { what: 'bans with global deny + module allow', global: { hostsDeny: ['127.0.0.3'] }, module: { hostsAllow: ['127.0.0.0/29'] }, bans: ['127.0.0.5'], admitted: ['127.0.0.1', '127.0.0.2', '127.0.0.4'] },
  { what: 'allow * minus a deny entry (F7)', module: { hostsAllow: ['*'], hostsDeny: ['127.0.0.3'] }, admitted: PROBES.filter((p) => p !== '127.0.0.3') },
  { what: 'allow * minus a ban, IPv6 too (F7)', module: { hostsAllow: ['*'] }, bans: ['127.0.0.5', '::1'], admitted: PROBES.filter((p) => p !== '127.0.0.5' && p !== '::1') },
];

test('rendered host lists admit exactly allowed-and-not-denied-and-not-banned (table)', () => {
  for (const c of cases) {
    const settings = { ...baseSettings, hostsAllow: c.global?.hostsAllow ?? [], hostsDeny: c.global?.hostsDeny ?? [] };
    const m = baseModule({ name: 'm', path: '/data/m', users: [{ name: 'bob', access: 'rw' }], hostsAllow: c.module?.hostsAllow ?? [], hostsDeny: c.module?.hostsDeny ?? [] });
    const { text, warnings } = renderRsyncdConf({ settings, modules: [m], runningAsRoot: false, paths, bans: c.bans });
    const admitted = PROBES.filter((p) => rsyncAdmits(text, 'm', p));
    assert.deepEqual(admitted, c.admitted, `${c.what}\n${text}`);
    assert.deepEqual(warnings.m ?? [], [], c.what);
  }
});

test('no lists and no bans: no hosts lines at all (the file is what it always was)', () => {
  const m = baseModule({ name: 'm', path: '/data/m', users: [{ name: 'bob', access: 'rw' }] });
  const { text } = renderRsyncdConf({ settings: baseSettings, modules: [m], runningAsRoot: false, paths });
  assert.doesNotMatch(text, /hosts/);
});

test('a deny entry that cannot be cut out of an allow list is warned about, never widens', () => {
  const render = (hostsDeny: string[], reverseLookup: boolean) => {
    const m = baseModule({ name: 'm', path: '/data/m', users: [{ name: 'bob', access: 'rw' }], hostsAllow: ['127.0.0.0/8'], hostsDeny });
    return renderRsyncdConf({ settings: { ...baseSettings, reverseLookup }, modules: [m], runningAsRoot: false, paths });
  };
  // An address wildcard matches the address text whatever the reverse lookup setting: rsync would admit 127.0.0.3.
  const wild = render(['127.0.0.*'], false);
  assert.ok(wild.warnings.m!.some((w) => /hosts deny 127\.0\.0\.\* may not be enforced/.test(w)), JSON.stringify(wild.warnings));
  assert.match(wild.text, /hosts allow = 127\.0\.0\.0\/8\n\s+hosts deny = \*\n/);
  // A host name matches nothing while reverse lookup is off (already warned about), so nothing is lost.
  const named = render(['evil.example'], false);
  assert.ok(!(named.warnings.m ?? []).some((w) => /may not be enforced/.test(w)));
  assert.match(named.text, /hosts deny = \*\n/);
  const namedLookup = render(['evil.example'], true);
  assert.ok(namedLookup.warnings.m!.some((w) => /hosts deny evil\.example may not be enforced/.test(w)));
  // An address deny entry next to an allow entry that is a name: rsync may admit it through the name.
  const m = baseModule({ name: 'm', path: '/data/m', users: [{ name: 'bob', access: 'rw' }], hostsAllow: ['*.lan'], hostsDeny: ['10.0.0.1'] });
  const viaName = renderRsyncdConf({ settings: { ...baseSettings, reverseLookup: true }, modules: [m], runningAsRoot: false, paths });
  assert.ok(viaName.warnings.m!.some((w) => /hosts deny 10\.0\.0\.1 may not be enforced/.test(w)), JSON.stringify(viaName.warnings));
});
