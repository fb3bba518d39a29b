/**
 * Maps a parsed rsyncd.conf (+ secrets) onto RsyncHub modules and users, never throwing: whatever cannot be
 * represented is reported in `skipped` with a reason.
 *
 * Security rule for partial imports: dropping a value must never WIDEN access compared with the original config.
 *  - An unusable `hosts deny` entry, `refuse options` entry or `exclude` pattern would allow more than before if
 *    dropped, so the whole module is skipped.
 *  - Unusable `hosts allow` entries can be dropped (fewer allowed hosts) unless none is left: an empty allow list
 *    means "everyone", so then the module is skipped.
 *  - Unusable `auth users` entries can be dropped (fewer users) unless none is left: no auth users means anonymous
 *    access, so then the module is skipped.
 *  - Any other parameter that may narrow what a client can read or write (`filter`, `include`, `exclude from`,
 *    `dont compress`, `pre-xfer exec`, `incoming chmod`, ...) cannot be carried over, so a module that has it (or
 *    inherits it from the global section) is skipped. Only parameters RsyncHub manages itself and a few that never
 *    affect access (`charset`, `syslog tag`, ...) are dropped with a note.
 *  - A module without `auth users` was open to anyone: it is imported with the matching explicit `anonymous` value
 *    (and noted), never with more. `uid`/`gid` root are never imported (the daemon's default, nobody, applies).
 */
import type { ImportResponse, ModuleAccess, ModuleFields, ModuleUserGrant } from '@rsynchub/contracts';
import type { ParsedRsyncdConf, SecretsEntry } from './parse';
import { GLOBAL_ONLY_PARAMETERS } from './parse';
import {
  MAX_COMMENT_LENGTH,
  MAX_MODULE_CONNECTIONS,
  MAX_TIMEOUT_SECONDS,
  checkConfigValue,
  checkExcludePattern,
  checkHostPattern,
  checkModuleName,
  checkModulePath,
  checkRefuseOption,
  checkRsyncPassword,
  checkRsyncUserName,
  checkUnixId,
  isRootId,
  normaliseModulePath,
  validateModule,
} from './validate';

export type ImportSkip = ImportResponse['skipped'][number];

export interface ImportedUser {
  name: string;
  /** From the secrets file; null when the file had no (usable) entry: the API generates one. */
  password: string | null;
  comment: string;
}

export interface ImportMapping {
  modules: ModuleFields[];
  users: ImportedUser[];
  skipped: ImportSkip[];
}

/** Parameters RsyncHub sets itself in every config it writes; importing them would be meaningless. */
const MANAGED_BY_RSYNCHUB: Record<string, string> = {
  'secrets file': 'RsyncHub writes and uses its own secrets file',
  'lock file': 'RsyncHub manages lock files itself',
  'log file': 'RsyncHub manages the daemon log file itself',
  'strict modes': 'RsyncHub always uses strict modes = yes',
  'pid file': 'RsyncHub manages the pid file itself',
  'motd file': 'set the message of the day in the daemon settings instead (the file is on the old server)',
  port: 'a daemon-wide setting: set it in the daemon settings',
  address: 'a daemon-wide setting: set it in the daemon settings',
  'reverse lookup': 'a daemon-wide setting: set it in the daemon settings',
  'transfer logging': 'RsyncHub configures transfer logging itself',
  'log format': 'RsyncHub configures the transfer log format itself',
  'post-xfer exec': 'RsyncHub installs its own post-xfer hook',
};

/** Module parameters that never affect what a client may read or write: dropping them cannot widen access. */
const HARMLESS_TO_DROP: Record<string, string> = {
  charset: 'filename charset conversion is not supported by RsyncHub',
  'open noatime': 'not supported by RsyncHub',
  'temp dir': 'RsyncHub lets rsync use the module directory for temporary files',
  'syslog facility': 'RsyncHub logs to its own daemon log file',
  'syslog tag': 'RsyncHub logs to its own daemon log file',
};

/** Module parameters that map onto ModuleFields. */
const MAPPED = new Set([
  'path',
  'comment',
  'read only',
  'write only',
  'list',
  'ignore errors',
  'max connections',
  'timeout',
  'hosts allow',
  'hosts deny',
  'auth users',
  'refuse options',
  'exclude',
  'uid',
  'gid',
  'use chroot',
]);

/** rsync's boolean syntax: yes/no, true/false, 1/0, case-insensitive. */
function parseBool(v: string): boolean | null {
  const l = v.toLowerCase();
  if (l === 'yes' || l === 'true' || l === '1') return true;
  if (l === 'no' || l === 'false' || l === '0') return false;
  return null;
}

function parseInteger(v: string): number | null {
  return /^-?[0-9]{1,10}$/.test(v) ? Number(v) : null;
}

/** A hint for values that look like they carry a trailing comment, which rsyncd.conf does not support. */
function trailingCommentHint(v: string): string {
  return /\s[#;]/.test(v) ? " (note: rsyncd.conf has no trailing comments, so the text after '#' is part of the value)" : '';
}

class ModuleSkipped extends Error {}

export function mapImportedConfig(
  parsed: ParsedRsyncdConf,
  secrets: SecretsEntry[] | undefined,
  ctx: { roots: string[] },
): ImportMapping {
  const skipped: ImportSkip[] = [];
  const modules: ModuleFields[] = [];
  const grantedUsers: string[] = [];
  const globalOnly = new Set(GLOBAL_ONLY_PARAMETERS);

  for (const p of parsed.problems) {
    if (p.section === undefined) skipped.push({ kind: 'global', name: `line ${p.line}`, reason: p.message });
    else skipped.push({ kind: 'parameter', name: `${p.section}.line ${p.line}`, reason: p.message });
  }
  for (const [param, value] of Object.entries(parsed.global).sort(([a], [b]) => (a < b ? -1 : 1))) {
    if (MANAGED_BY_RSYNCHUB[param]) {
      skipped.push({ kind: 'global', name: param, reason: MANAGED_BY_RSYNCHUB[param] });
    } else if (globalOnly.has(param)) {
      skipped.push({ kind: 'global', name: param, reason: `daemon-wide parameter '${param} = ${value}' is not supported by RsyncHub` });
    } else if (HARMLESS_TO_DROP[param]) {
      skipped.push({ kind: 'global', name: param, reason: `'${param} = ${value}' dropped: ${HARMLESS_TO_DROP[param]}` });
    } else if (!MAPPED.has(param)) {
      skipped.push({
        kind: 'global',
        name: param,
        reason: `'${param} = ${value}' cannot be carried over and may restrict clients: every module after it is skipped`,
      });
    }
    // Mapped module-scope parameters in the global section are defaults, applied to the modules that inherit them.
  }

  for (const mod of parsed.modules) {
    const pSkips: ImportSkip[] = [];
    const skipParam = (param: string, reason: string) =>
      pSkips.push({ kind: 'parameter', name: `${mod.name}.${param}`, reason });
    const skipModule = (reason: string): never => {
      throw new ModuleSkipped(reason);
    };

    // The module's effective parameters: the globals in force at its first section header, then its own.
    const effective: Record<string, string> = {};
    for (const [k, v] of Object.entries(mod.inherited)) if (!globalOnly.has(k)) effective[k] = v;
    Object.assign(effective, mod.params);

    try {
      const nameError = checkModuleName(mod.name);
      if (nameError) skipModule(`module name ${nameError}`);

      // --- path
      const rawPath = effective['path'];
      if (rawPath === undefined || rawPath === '') skipModule('no path');
      if (/\s[#;]/.test(rawPath)) {
        skipModule(`path '${rawPath}' contains a '#' or ';' after whitespace${trailingCommentHint(rawPath)}; rsync would serve a directory with that name`);
      }
      const path = normaliseModulePath(rawPath);
      const pathError = checkModulePath(path, ctx.roots);
      if (pathError) skipModule(`path '${rawPath}' ${pathError}${trailingCommentHint(rawPath)}`);

      // --- booleans (rsync's defaults when absent)
      const bool = (param: string, dflt: boolean): boolean => {
        const v = effective[param];
        if (v === undefined) return dflt;
        const b = parseBool(v);
        if (b === null) {
          skipParam(param, `'${v}' is not a boolean (yes/no, true/false, 1/0)${trailingCommentHint(v)}; rsync ignores it, so the default (${dflt ? 'yes' : 'no'}) applies`);
          return dflt;
        }
        return b;
      };
      const readOnly = bool('read only', true);
      const writeOnly = bool('write only', false);
      if (readOnly && writeOnly) skipModule('read only and write only are both set: nothing could be transferred');
      const list = bool('list', true);
      const ignoreErrors = bool('ignore errors', false);

      let useChroot: boolean | null = null;
      if (effective['use chroot'] !== undefined) {
        const v = effective['use chroot'];
        if (v.toLowerCase() !== 'unset') {
          useChroot = parseBool(v);
          if (useChroot === null) skipParam('use chroot', `'${v}' is not a boolean; left unset`);
        }
      }

      // --- comment
      let comment = effective['comment'] ?? '';
      const commentError = checkConfigValue(comment, { maxLength: MAX_COMMENT_LENGTH, allowEmpty: true });
      if (commentError) {
        skipParam('comment', `comment ${commentError}; imported without a comment`);
        comment = '';
      }

      // --- numbers
      const integer = (param: string, max: number): number => {
        const v = effective[param];
        if (v === undefined) return 0;
        const n = parseInteger(v);
        if (param === 'max connections' && n !== null && n < 0) {
          skipModule('max connections is negative, which disables the module in rsync');
        }
        if (n === null || n < 0 || n > max) {
          skipParam(param, `'${v}' is not an integer between 0 and ${max}; using 0 (none)`);
          return 0;
        }
        return n;
      };
      const maxConnections = integer('max connections', MAX_MODULE_CONNECTIONS);
      const timeout = integer('timeout', MAX_TIMEOUT_SECONDS);

      // --- hosts
      const splitList = (v: string | undefined) => (v ?? '').split(/[\s,]+/).filter((t) => t !== '');
      const hostsAllow: string[] = [];
      const allowTokens = splitList(effective['hosts allow']);
      for (const h of allowTokens) {
        const err = checkHostPattern(h);
        if (err) skipParam('hosts allow', `entry '${h}' dropped: ${err}`);
        else hostsAllow.push(h);
      }
      if (allowTokens.length > 0 && hostsAllow.length === 0) {
        skipModule('no hosts allow entry can be imported, and an empty list would allow every host');
      }
      const hostsDeny: string[] = [];
      for (const h of splitList(effective['hosts deny'])) {
        const err = checkHostPattern(h);
        if (err) skipModule(`hosts deny entry '${h}' ${err}; importing without it would allow hosts the old server denied`);
        hostsDeny.push(h);
      }

      // --- auth users: rsync splits on spaces, commas and tabs (only commas if the list starts with one), and the
      // first rule matching a user wins.
      const usersValue = effective['auth users'] ?? '';
      const tokens = usersValue.trimStart().startsWith(',')
        ? usersValue.split(',').map((t) => t.trim()).filter((t) => t !== '')
        : usersValue.split(/[ ,\t]+/).filter((t) => t !== '');
      const defaultAccess: ModuleAccess = readOnly ? 'ro' : 'rw';
      const users: ModuleUserGrant[] = [];
      const decided = new Set<string>();
      for (const tok of tokens) {
        const colon = tok.indexOf(':');
        const who = colon >= 0 ? tok.slice(0, colon) : tok;
        const opt = colon >= 0 ? tok.slice(colon + 1).toLowerCase() : '';
        if (who.startsWith('@')) {
          skipParam('auth users', `group rule '${tok}' dropped: group rules are not supported (grant the users individually)`);
          continue;
        }
        const err = checkRsyncUserName(who);
        if (err) {
          skipParam('auth users', `entry '${tok}' dropped: user name ${err} (wildcards are not supported)`);
          continue;
        }
        if (decided.has(who)) continue; // an earlier rule already decided this user
        decided.add(who);
        if (opt.startsWith('d')) {
          skipParam('auth users', `deny rule '${tok}': '${who}' gets no access (RsyncHub grants only listed users)`);
          continue;
        }
        // rsync looks at the first two letters only: "ro"/"rw"; anything else means the module default.
        const access: ModuleAccess = opt.startsWith('ro') ? 'ro' : opt.startsWith('rw') ? 'rw' : defaultAccess;
        users.push({ name: who, access });
      }
      if (tokens.length > 0 && users.length === 0) {
        skipModule('no auth users entry can be imported, and without auth users the module would be open to anyone');
      }
      // Without auth users the old daemon served the module to anyone: keep exactly that, explicitly, never more.
      const anonymous: ModuleFields['anonymous'] = users.length > 0 ? 'none' : readOnly ? 'read' : 'read-write';
      if (anonymous !== 'none') {
        skipParam('auth users', `none: the module was open to anyone without a password; imported as anonymous '${anonymous}' (grant users to close it)`);
      }
      // `read only = yes` with `user:rw` lets that user write (rsync's grant wins): say so in the model, not a label.
      let readOnlyModel = readOnly;
      if (readOnly && users.some((u) => u.access === 'rw')) {
        readOnlyModel = false;
        skipParam(
          'read only',
          `'yes' with rw grants (${users.filter((u) => u.access === 'rw').map((u) => u.name).join(', ')}): rsync lets them write, so the module is imported as read only = no with per-user access (the same behaviour)`,
        );
      }

      // --- refuse options / exclude
      const refuseOptions: string[] = [];
      for (const o of (effective['refuse options'] ?? '').split(/\s+/).filter(Boolean)) {
        const err = checkRefuseOption(o);
        if (err) skipModule(`refuse options entry '${o}' ${err}; importing without it would allow options the old server refused`);
        refuseOptions.push(o);
      }
      const excludes: string[] = [];
      for (const p of (effective['exclude'] ?? '').split(/\s+/).filter(Boolean)) {
        if (p === '-' || p === '+') {
          skipModule("exclude uses '- '/'+ ' rule prefixes, which RsyncHub cannot represent; importing it would change what is hidden");
        }
        const err = checkExcludePattern(p);
        if (err) skipModule(`exclude pattern '${p}' ${err}; importing without it would expose files the old server hid`);
        excludes.push(p);
      }

      // --- uid / gid
      const unixId = (param: 'uid' | 'gid'): string | null => {
        const v = effective[param];
        if (v === undefined) return null;
        const err = checkUnixId(v);
        if (err) {
          skipParam(param, `'${v}' ${err}; left unset`);
          return null;
        }
        if (isRootId(v)) {
          skipParam(param, `'${v}' would make transfers run as root; not imported (the daemon's default, nobody, applies; set it on the module with allowRootIds if it is really needed)`);
          return null;
        }
        return v;
      };
      const uid = unixId('uid');
      const gid = unixId('gid');

      // --- everything else
      for (const param of Object.keys(effective).sort()) {
        if (MAPPED.has(param)) continue;
        const own = mod.params[param] !== undefined;
        if (MANAGED_BY_RSYNCHUB[param] || HARMLESS_TO_DROP[param]) {
          // Inherited copies of global settings are reported once, at the global level.
          if (own) skipParam(param, MANAGED_BY_RSYNCHUB[param] ?? `'${param} = ${effective[param]}' dropped: ${HARMLESS_TO_DROP[param]}`);
          continue;
        }
        skipModule(
          `${own ? 'has' : 'inherits from the global section'} '${param} = ${effective[param]}', which RsyncHub cannot carry over; importing the module without it could let clients read or write more than the old server allowed`,
        );
      }

      const module: ModuleFields = {
        name: mod.name,
        path,
        comment,
        readOnly: readOnlyModel,
        writeOnly,
        list,
        ignoreErrors,
        maxConnections,
        timeout,
        hostsAllow,
        hostsDeny,
        users,
        anonymous,
        refuseOptions,
        excludes,
        enabled: true,
        uid,
        gid,
        useChroot,
        // Never from an import: root transfers need an admin's explicit opt-in.
        allowRootIds: false,
      };
      // Final safety net: whatever is returned passes the same validation as an API request.
      const remaining = validateModule(module, { roots: ctx.roots });
      if (remaining.length > 0) skipModule(remaining.map((e) => `${e.field} ${e.message}`).join('; '));

      modules.push(module);
      skipped.push(...pSkips);
      for (const u of users) if (!grantedUsers.includes(u.name)) grantedUsers.push(u.name);
    } catch (e) {
      if (!(e instanceof ModuleSkipped)) throw e;
      skipped.push({ kind: 'module', name: mod.name, reason: e.message });
    }
  }

  // --- users: those granted by an imported module, with their secret when the secrets file has a usable one.
  const secretByName = new Map<string, string>();
  for (const s of secrets ?? []) if (!secretByName.has(s.name)) secretByName.set(s.name, s.password);
  const users: ImportedUser[] = [];
  for (const name of [...grantedUsers].sort()) {
    let password = secretByName.get(name) ?? null;
    if (password !== null) {
      const err = checkRsyncPassword(password);
      if (err) {
        skipped.push({ kind: 'user', name, reason: `password in the secrets file ${err}; a new password is needed` });
        password = null;
      }
    }
    users.push({ name, password, comment: 'imported from rsyncd.conf' });
  }
  for (const name of [...secretByName.keys()].sort()) {
    if (grantedUsers.includes(name)) continue;
    const err = checkRsyncUserName(name);
    skipped.push({
      kind: 'user',
      name,
      reason: err ? `user name ${err}` : 'has a secret but no imported module grants it access',
    });
  }
  return { modules, users, skipped };
}
