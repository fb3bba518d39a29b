/**
 * Validation of every value RsyncHub writes into rsyncd.conf or the secrets file.
 *
 * rsyncd.conf has no quoting and no escaping (see params.c in rsync): the daemon
 *  - joins a line ending in `\` (optionally followed by whitespace) to the next line,
 *  - expands `%VAR%` from its own environment in string values,
 *  - treats a line whose first non-blank character is `;` or `#` as a comment,
 *  - ends a section name at the first `]`,
 *  - drops `\r` anywhere in a value and trims leading/trailing whitespace,
 *  - matches parameter and section names case-insensitively, ignoring whitespace,
 *  - silently ignores unknown parameters and most malformed lines.
 * So a value can only be written safely if it cannot change the structure of the file. Instead of
 * escaping (impossible) we VALIDATE: anything that could break out of `name = value` is rejected.
 *
 * Every check returns `null` when the value is acceptable, or an English message naming the rule.
 */
import { isIP } from 'node:net';
import { posix } from 'node:path';
import type { DaemonSettingsDto, FieldError, ModuleFields } from '@rsynchub/contracts';

export const DEFAULT_MAX_VALUE_LENGTH = 1024;
export const MAX_COMMENT_LENGTH = 256;
export const MAX_MOTD_LENGTH = 4096;
export const MAX_PASSWORD_LENGTH = 256;
export const MAX_PATH_LENGTH = 4096;
export const MAX_MODULE_CONNECTIONS = 10000;
export const MAX_TIMEOUT_SECONDS = 86400;

/**
 * C0 controls, DEL and C1 controls (Cc), format characters such as U+200E/U+202E/U+FEFF (Cf), lone surrogates
 * (Cs), and the Unicode line/paragraph separators U+2028/U+2029 (Zl/Zp). Some of these end a line for rsync
 * (`\n`, NUL ends the whole file), others end a line in editors/browsers or reorder text on screen (bidi
 * overrides), which would let a value look different from what the daemon reads.
 */
const CONTROL_CHARS = /[\p{Cc}\p{Cf}\p{Cs}\p{Zl}\p{Zp}]/u;
const CONTROL_CHARS_EXCEPT_NEWLINE = /(?![\n])[\p{Cc}\p{Cf}\p{Cs}\p{Zl}\p{Zp}]/u;
/** JavaScript's \s covers ASCII and Unicode white space (incl. NBSP, U+3000). */
const EDGE_WHITESPACE = /^\s|\s$/u;

export const MSG_CONTROL = 'must not contain a newline or other control character';
export const MSG_BACKSLASH = 'must not contain a backslash (rsyncd.conf joins a line ending in \\ to the next line)';
export const MSG_PERCENT = "must not contain '%' (the rsync daemon expands %VAR% from its environment)";
export const MSG_EDGE_SPACE = 'must not start or end with whitespace';
export const MSG_COMMENT_START = "must not start with '#' or ';' (comment markers in rsyncd.conf)";

export interface ConfigValueOptions {
  /** Maximum length in UTF-16 code units; default 1024. */
  maxLength?: number;
  /** Whether the empty string is acceptable; default false. */
  allowEmpty?: boolean;
}

/**
 * The generic rule for any value that ends up after `name = ` in rsyncd.conf.
 * A leading `#`/`;` could not start a comment there (values never start a line, because `\` is rejected), but it is
 * rejected anyway: it costs nothing and keeps the rendered file unambiguous to a human reader.
 */
export function checkConfigValue(value: string, opts: ConfigValueOptions = {}): string | null {
  const maxLength = opts.maxLength ?? DEFAULT_MAX_VALUE_LENGTH;
  if (typeof value !== 'string') return 'must be a string';
  if (value.length === 0) return opts.allowEmpty ? null : 'must not be empty';
  if (value.length > maxLength) return `must be at most ${maxLength} characters`;
  if (CONTROL_CHARS.test(value)) return MSG_CONTROL;
  if (value.includes('\\')) return MSG_BACKSLASH;
  if (value.includes('%')) return MSG_PERCENT;
  if (EDGE_WHITESPACE.test(value)) return MSG_EDGE_SPACE;
  if (value.startsWith('#') || value.startsWith(';')) return MSG_COMMENT_START;
  return null;
}

const MODULE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/**
 * Module (section) names. The pattern makes `]`, `/`, `;`, `#`, `[`, `%`, `\` and whitespace impossible.
 * `global` is reserved: `[global]` switches rsync back to the global section. Note that rsync compares section
 * names case-insensitively (`[Data]` and `[data]` are the SAME module, merged): callers must enforce uniqueness
 * case-insensitively too — `renderRsyncdConf` does.
 */
export function checkModuleName(name: string): string | null {
  if (typeof name !== 'string' || name.length === 0) return 'must not be empty';
  if (!MODULE_NAME.test(name)) {
    return 'must be 1-64 characters of letters, digits, ".", "_" or "-", starting with a letter or digit';
  }
  if (name.toLowerCase() === 'global') return "must not be 'global' (reserved by rsyncd.conf for the global section)";
  return null;
}

const RSYNC_USER_NAME = /^[a-z_][a-z0-9_.-]{0,31}$/;

/**
 * Names in `auth users` and the secrets file. No `:` (separates name and password / access), no `@` (group rule),
 * no `#` (comment), no wildcards (`auth users` entries are wildmatch patterns), no `,`/space (list separators).
 */
export function checkRsyncUserName(name: string): string | null {
  if (typeof name !== 'string' || name.length === 0) return 'must not be empty';
  if (!RSYNC_USER_NAME.test(name)) {
    return 'must be 1-32 characters of lower-case letters, digits, "_", "." or "-", starting with a letter or "_"';
  }
  return null;
}

/** Strips trailing slashes (but keeps `/`). Deliberately does NOT resolve `..` or `.`: that must be rejected, not fixed. */
export function normaliseModulePath(p: string): string {
  let out = p;
  while (out.length > 1 && out.endsWith('/')) out = out.slice(0, -1);
  return out;
}

function normaliseRoot(root: string): string {
  return normaliseModulePath(posix.normalize(root));
}

/** True when `p` is strictly below `root` (both absolute, normalised). */
export function isStrictlyInside(p: string, root: string): boolean {
  const r = normaliseRoot(root);
  if (r === '/') return p !== '/' && p.startsWith('/');
  return p.startsWith(r + '/');
}

/** Linux limits: NAME_MAX bytes per component, PATH_MAX bytes (incl. the terminating NUL) for the whole path. */
export const NAME_MAX_BYTES = 255;
export const PATH_MAX_BYTES = 4096;
const utf8 = new TextEncoder();

/** A path the filesystem could never create is a clear 400, not an ENAMETOOLONG from mkdir. */
export function checkPathLimits(p: string): string | null {
  if (utf8.encode(p).length >= PATH_MAX_BYTES) return `must be shorter than ${PATH_MAX_BYTES} bytes (the filesystem's PATH_MAX)`;
  const long = p.split('/').find((seg) => utf8.encode(seg).length > NAME_MAX_BYTES);
  if (long !== undefined) {
    return `has a component of ${utf8.encode(long).length} bytes ('${long.slice(0, 24)}...'); the filesystem allows at most ${NAME_MAX_BYTES} (NAME_MAX)`;
  }
  return null;
}

/** How two absolute, normalised paths relate: the same, `a` inside `b`, `a` containing `b`, or unrelated (null). */
export function pathRelation(a: string, b: string): 'equal' | 'inside' | 'contains' | null {
  if (a === b) return 'equal';
  if (isStrictlyInside(a, b)) return 'inside';
  if (isStrictlyInside(b, a)) return 'contains';
  return null;
}

/**
 * Module paths: absolute, already normalised (no `//`, no `.`/`..` segments — a `/./` would also turn on rsync's
 * chroot split), no trailing `/`, not `/`, and strictly inside one of `roots` (a root itself is not a module path).
 * This is a lexical check: the caller must still resolve symlinks on disk before trusting the path.
 */
export function checkModulePath(p: string, roots: string[]): string | null {
  const generic = checkConfigValue(p, { maxLength: MAX_PATH_LENGTH });
  if (generic) return generic;
  if (!p.startsWith('/')) return 'must be an absolute path (start with /)';
  if (p === '/') return 'must not be / (the whole filesystem)';
  if (p.split('/').some((seg) => seg === '..')) return "must not contain a '..' segment";
  if (p.endsWith('/')) return 'must not end with /';
  if (posix.normalize(p) !== p) return "must be normalised (no '//' or '.' segments)";
  const tooLong = checkPathLimits(p);
  if (tooLong) return tooLong;
  if (!Array.isArray(roots) || roots.length === 0) return 'cannot be checked: no module roots are configured';
  if (!roots.some((root) => isStrictlyInside(p, root))) {
    return `must be inside one of the module roots (${roots.map(normaliseRoot).join(', ')})`;
  }
  return null;
}

/** A host name or wildcard pattern: DNS labels of letters, digits, `-`, `_`, with `*`/`?` wildcards anywhere. */
const HOST_NAME_PATTERN = /^[A-Za-z0-9*?](?:[A-Za-z0-9*?_-]*[A-Za-z0-9*?])?(?:\.[A-Za-z0-9*?](?:[A-Za-z0-9*?_-]*[A-Za-z0-9*?])?)*\.?$/;
const NETGROUP = /^@[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$/;

/**
 * hosts allow / hosts deny entries, in every form rsync itself accepts (rsyncd.conf(5), access.c):
 *  - an IPv4 or IPv6 address, optionally with a /prefix length (`10.0.0.0/8`, `2001:db8::/32`) or an address mask of
 *    the same family (`10.0.0.0/255.0.0.0`);
 *  - a host name or wildcard pattern with `*` and `?` (`*`, `backup?.example.com`, `192.168.1.*`);
 *  - `@netgroup` (matched only when rsync was built with netgroup support).
 * Strict against injection: only letters, digits, `.`, `-`, `_`, `:`, `/`, `*`, `?` and a leading `@` — no space or
 * comma (list separators), `%` (expanded by the daemon; so no IPv6 zone ids), `\\`, `#`, `;`, `[`/`]` or controls.
 * Host names and wildcards other than `*` are matched against the client's reverse DNS, which whoever controls the
 * client's DNS can forge, and match nothing while `reverse lookup` is off: prefer addresses in `hosts allow`.
 */
export function checkHostPattern(h: string): string | null {
  if (typeof h !== 'string' || h.length === 0) return 'must not be empty';
  if (h.length > 253) return 'must be at most 253 characters';
  // node's isIP() accepts IPv6 zone ids ("fe80::1%eth0"); the daemon would try to expand the %...% part.
  if (h.includes('%')) return "must not contain '%' (IPv6 zone ids are not supported)";
  if (h.startsWith('@')) {
    return NETGROUP.test(h) ? null : 'must be @ followed by a netgroup name of letters, digits, "_", "." or "-"';
  }
  const slash = h.indexOf('/');
  const addr = slash < 0 ? h : h.slice(0, slash);
  const version = isIP(addr);
  if (slash >= 0) {
    if (version === 0) return 'must have an IPv4 or IPv6 address before the /';
    const suffix = h.slice(slash + 1);
    const max = version === 4 ? 32 : 128;
    if (/^(0|[1-9][0-9]{0,2})$/.test(suffix)) {
      return Number(suffix) <= max ? null : `must have a prefix length between 0 and ${max}`;
    }
    if (isIP(suffix) === version) return null;
    return `must have a prefix length between 0 and ${max} or an IPv${version} address mask after the /`;
  }
  if (version !== 0) return null;
  // All-digit names are never host names; rsync would compare them as (broken) addresses.
  if (/^[0-9.]+$/.test(h)) return 'must be a valid IPv4 address (each of 4 parts 0-255)';
  if (HOST_NAME_PATTERN.test(h)) return null;
  return 'must be an IP address (optionally /prefix or /mask), a host name or wildcard pattern (letters, digits, ".", "-", "_", "*", "?"), or @netgroup';
}

/**
 * True for an entry rsync matches only against the client's reverse-DNS name: wildcard patterns other than a bare
 * `*` (which also matches the "UNDETERMINED" name rsync uses without lookups) and @netgroups. Plain host names still
 * match through a forward lookup of the name (`forward lookup` is on by default).
 */
export function needsReverseLookup(h: string): boolean {
  return h !== '*' && (h.startsWith('@') || /[*?]/.test(h));
}

/**
 * Passwords in the secrets file (`name:password` per line). rsync's check_secret() finds the line that starts with
 * `name:` and takes EVERYTHING after that first colon as the password (authenticate.c: `s[len] == ':'`,
 * `generate_hash(s+len+1, ...)`), so a `:` inside a password is fine (tested against the real daemon in
 * render.daemon.test.ts). Lines are cut at `\r`/`\n`, so those are impossible; leading/trailing whitespace would be
 * kept by the daemon but is invisible to humans and usually lost by clients, so it is rejected. `%` and `\` are fine:
 * the secrets file is not expanded.
 */
export function checkRsyncPassword(pw: string): string | null {
  if (typeof pw !== 'string' || pw.length === 0) return 'must not be empty';
  if (pw.length > MAX_PASSWORD_LENGTH) return `must be at most ${MAX_PASSWORD_LENGTH} characters`;
  if (CONTROL_CHARS.test(pw)) return MSG_CONTROL;
  if (EDGE_WHITESPACE.test(pw)) return MSG_EDGE_SPACE;
  return null;
}

const REFUSE_OPTION = /^!?[A-Za-z0-9*?-]{1,64}$/;

/** One `refuse options` entry: an option name or wildcard, optionally negated with `!` (e.g. `delete`, `-z`, `*`, `!a`). */
export function checkRefuseOption(o: string): string | null {
  if (typeof o !== 'string' || o.length === 0) return 'must not be empty';
  if (!REFUSE_OPTION.test(o)) {
    return 'must be an option name of letters, digits, "-", "*" or "?", optionally starting with "!", without spaces';
  }
  return null;
}

/**
 * One `exclude` pattern. The rsyncd `exclude` parameter is a SPACE-separated list, so a pattern containing a space
 * would be split into two different patterns (and `- `/`+ ` prefixes would turn part of it into a rule modifier),
 * silently changing what the daemon hides. Such patterns are rejected rather than mangled.
 */
export function checkExcludePattern(p: string): string | null {
  const generic = checkConfigValue(p, { maxLength: 1024 });
  if (generic) return generic;
  if (/\s/u.test(p)) return 'must not contain whitespace (rsyncd "exclude" is a space-separated list)';
  return null;
}

const UNIX_NAME = /^[a-z_][a-z0-9_-]{0,31}$/;
const NUMERIC_ID = /^(0|[1-9][0-9]{0,9})$/;

/** uid / gid: a system user/group name or a numeric id. (`*` and `%RSYNC_USER_NAME%` are not supported.) */
export function checkUnixId(v: string): string | null {
  if (typeof v !== 'string' || v.length === 0) return 'must not be empty';
  if (NUMERIC_ID.test(v)) return Number(v) <= 4294967295 ? null : 'must be a valid numeric id';
  if (!UNIX_NAME.test(v)) return 'must be a user/group name (lower-case letters, digits, "_", "-") or a numeric id';
  return null;
}

/** Absolute file path of something RsyncHub itself owns (pid file, secrets file, hook script...). */
export function checkAbsoluteFilePath(p: string): string | null {
  const generic = checkConfigValue(p, { maxLength: MAX_PATH_LENGTH });
  if (generic) return generic;
  if (!p.startsWith('/') || p === '/') return 'must be an absolute file path';
  if (posix.normalize(p) !== p || p.endsWith('/')) return "must be normalised (no '//', '.', '..' or trailing /)";
  return null;
}

/**
 * Path of the post-xfer hook script. rsync runs the value through a shell, so it must not contain anything a shell
 * would interpret: only letters, digits, `.`, `_`, `-` and `/`.
 */
export function checkHookPath(p: string): string | null {
  const path = checkAbsoluteFilePath(p);
  if (path) return path;
  if (!/^[A-Za-z0-9._/-]+$/.test(p)) return 'must contain only letters, digits, ".", "_", "-" and "/" (it is run by a shell)';
  return null;
}

/**
 * `log format` needs `%` for its escapes (`%o %h %f %l`), so it cannot use checkConfigValue. A `%NAME%` pair would
 * be expanded from the daemon's environment first, so that shape is rejected (write `%f %l`, not `%f%l%`).
 */
export function checkLogFormat(f: string): string | null {
  if (typeof f !== 'string' || f.length === 0) return 'must not be empty';
  if (f.length > 256) return 'must be at most 256 characters';
  if (CONTROL_CHARS.test(f)) return MSG_CONTROL;
  if (f.includes('\\')) return MSG_BACKSLASH;
  if (EDGE_WHITESPACE.test(f)) return MSG_EDGE_SPACE;
  if (/%[A-Za-z_][A-Za-z0-9_]*%/.test(f)) return 'must not contain %NAME% (the daemon would expand it from its environment)';
  return null;
}

/**
 * MOTD text. It is written to a separate motd file, which rsync sends verbatim and never parses, so newlines, `%`
 * and `\` are fine; other control characters (CR, escape sequences that could drive the client's terminal, bidi
 * overrides) are not.
 */
export function checkMotd(m: string): string | null {
  if (typeof m !== 'string') return 'must be a string';
  if (m.length > MAX_MOTD_LENGTH) return `must be at most ${MAX_MOTD_LENGTH} characters`;
  if (CONTROL_CHARS_EXCEPT_NEWLINE.test(m)) return 'must not contain control characters other than newlines';
  // The daemon sends the motd inside its protocol greeting, where a line starting with '@' is a protocol message
  // (`@ERROR: ...` makes every client give up, `@RSYNCD: EXIT` ends the listing).
  if (m.split(/\r?\n/).some((line) => line.startsWith('@'))) return "must not have a line starting with '@' (the rsync protocol reads it as a daemon message)";
  return null;
}

/**
 * Two modules must not share data: a path equal to, inside, or containing another module's path is refused, so
 * one module's writers cannot reach into another and purging one never deletes another's files.
 * Returns a message naming the other module, or null.
 */
export function checkModulePathOverlap(p: string, others: { name: string; path: string }[]): string | null {
  for (const o of others) {
    if (o.path === p) return `is already the path of module "${o.name}"`;
    if (isStrictlyInside(p, o.path)) return `lies inside module "${o.name}" (${o.path})`;
    if (isStrictlyInside(o.path, p)) return `contains module "${o.name}" (${o.path})`;
  }
  return null;
}

function checkIntegerRange(v: unknown, min: number, max: number): string | null {
  if (typeof v !== 'number' || !Number.isInteger(v)) return 'must be an integer';
  if (v < min || v > max) return `must be between ${min} and ${max}`;
  return null;
}

function pushIf(errors: FieldError[], field: string, message: string | null): void {
  if (message) errors.push({ field, message });
}

function checkBoolean(errors: FieldError[], field: string, v: unknown): void {
  if (typeof v !== 'boolean') errors.push({ field, message: 'must be true or false' });
}

function checkHostList(errors: FieldError[], field: string, list: unknown): void {
  if (!Array.isArray(list)) {
    errors.push({ field, message: 'must be a list' });
    return;
  }
  if (list.length > 256) errors.push({ field, message: 'must have at most 256 entries' });
  list.forEach((h, i) => pushIf(errors, `${field}[${i}]`, checkHostPattern(h as string)));
}

export interface ModuleValidationContext {
  roots: string[];
  /** When given, every granted user must be one of these. */
  knownUsers?: string[];
}

/** Validates every field of a module. Field names are the DTO's, with an index for array entries (`hostsAllow[2]`). */
/**
 * The Set of a knownUsers list, made once per list: a render validates every module against the same list, and a
 * Set per module made that quadratic (seconds at 6,000 modules and users). Keyed by the array; a list that changed
 * length since is taken afresh (callers pass a new array per render anyway).
 */
const knownUserSets = new WeakMap<readonly string[], { length: number; set: Set<string> }>();
function knownUserSet(list: readonly string[]): Set<string> {
  let entry = knownUserSets.get(list);
  if (!entry || entry.length !== list.length) {
    entry = { length: list.length, set: new Set(list) };
    knownUserSets.set(list, entry);
  }
  return entry.set;
}

export function validateModule(m: ModuleFields, ctx: ModuleValidationContext): FieldError[] {
  const errors: FieldError[] = [];
  pushIf(errors, 'name', checkModuleName(m.name));
  pushIf(errors, 'path', checkModulePath(m.path, ctx.roots));
  pushIf(errors, 'comment', checkConfigValue(m.comment, { maxLength: MAX_COMMENT_LENGTH, allowEmpty: true }));
  for (const f of ['readOnly', 'writeOnly', 'list', 'ignoreErrors', 'enabled'] as const) checkBoolean(errors, f, m[f]);
  if (m.readOnly === true && m.writeOnly === true) {
    errors.push({ field: 'writeOnly', message: 'readOnly and writeOnly cannot both be true (nothing could be transferred)' });
  }
  pushIf(errors, 'maxConnections', checkIntegerRange(m.maxConnections, 0, MAX_MODULE_CONNECTIONS));
  pushIf(errors, 'timeout', checkIntegerRange(m.timeout, 0, MAX_TIMEOUT_SECONDS));
  checkHostList(errors, 'hostsAllow', m.hostsAllow);
  checkHostList(errors, 'hostsDeny', m.hostsDeny);

  if (!Array.isArray(m.users)) {
    errors.push({ field: 'users', message: 'must be a list' });
  } else {
    const seen = new Set<string>();
    const known = ctx.knownUsers && m.users.length > 0 ? knownUserSet(ctx.knownUsers) : null;
    m.users.forEach((u, i) => {
      const nameError = checkRsyncUserName(u?.name);
      pushIf(errors, `users[${i}].name`, nameError);
      if (u?.access !== 'rw' && u?.access !== 'ro') {
        errors.push({ field: `users[${i}].access`, message: "must be 'rw' or 'ro'" });
      }
      if (nameError) return;
      if (seen.has(u.name)) errors.push({ field: `users[${i}].name`, message: `duplicate user '${u.name}'` });
      else if (known && !known.has(u.name)) {
        errors.push({ field: `users[${i}].name`, message: `unknown rsync user '${u.name}'` });
      }
      seen.add(u.name);
    });
  }

  if (!Array.isArray(m.refuseOptions)) errors.push({ field: 'refuseOptions', message: 'must be a list' });
  else m.refuseOptions.forEach((o, i) => pushIf(errors, `refuseOptions[${i}]`, checkRefuseOption(o)));
  if (!Array.isArray(m.excludes)) errors.push({ field: 'excludes', message: 'must be a list' });
  else m.excludes.forEach((p, i) => pushIf(errors, `excludes[${i}]`, checkExcludePattern(p)));

  checkAccessModel(errors, m);

  if (m.uid !== null) pushIf(errors, 'uid', checkUnixId(m.uid));
  if (m.gid !== null) pushIf(errors, 'gid', checkUnixId(m.gid));
  checkBoolean(errors, 'allowRootIds', m.allowRootIds);
  if (m.tlsOnly !== undefined) checkBoolean(errors, 'tlsOnly', m.tlsOnly);
  if (m.tlsClientCert !== undefined) checkBoolean(errors, 'tlsClientCert', m.tlsClientCert);
  if (m.allowRootIds !== true) {
    for (const f of ['uid', 'gid'] as const) {
      if (isRootId(m[f])) {
        errors.push({ field: f, message: `is ${m[f]}: the daemon would transfer as root; set allowRootIds to true to allow that explicitly` });
      }
    }
  }
  if (m.useChroot !== null && typeof m.useChroot !== 'boolean') {
    errors.push({ field: 'useChroot', message: 'must be true, false or null' });
  }
  return errors;
}

export const ANONYMOUS_ACCESS_VALUES = ['none', 'read', 'read-write'] as const;

/** `root` or id 0 (any spelling rsync would read as 0). */
export function isRootId(v: string | null): boolean {
  return v === 'root' || (typeof v === 'string' && NUMERIC_ID.test(v) && Number(v) === 0);
}

/**
 * One unambiguous access model (what the daemon does is what the fields say):
 *  - a module needs a user grant, or an explicit `anonymous` of 'read'/'read-write' (rsync serves a module without
 *    `auth users` to anyone who connects);
 *  - `anonymous` other than 'none' cannot go with grants (with `auth users` set, rsync asks everyone for a password);
 *  - a read-only module cannot grant `rw`: rsync's `auth users = alice:rw` overrides `read only = yes`, so the label
 *    would lie. Refused rather than derived, so a change never silently turns a read-only module writable.
 */
function checkAccessModel(errors: FieldError[], m: ModuleFields): void {
  if (!(ANONYMOUS_ACCESS_VALUES as readonly string[]).includes(m.anonymous)) {
    errors.push({ field: 'anonymous', message: "must be 'none', 'read' or 'read-write'" });
    return;
  }
  if (!Array.isArray(m.users)) return;
  if (m.users.length === 0 && m.anonymous === 'none') {
    errors.push({
      field: 'users',
      message: "must grant at least one rsync user; to serve the module without a password, set anonymous to 'read' or 'read-write' explicitly",
    });
  }
  if (m.users.length > 0 && m.anonymous !== 'none') {
    errors.push({ field: 'anonymous', message: `must be 'none' when users are granted (rsync then asks every client for a password), not '${m.anonymous}'` });
  }
  if (m.anonymous === 'read' && m.readOnly !== true) {
    errors.push({ field: 'readOnly', message: "must be true when anonymous is 'read'" });
  }
  if (m.anonymous === 'read-write' && m.readOnly === true) {
    errors.push({ field: 'anonymous', message: "is 'read-write' but readOnly is true; use anonymous 'read' for a read-only module" });
  }
  if (m.readOnly === true) {
    m.users.forEach((u, i) => {
      if (u?.access === 'rw') {
        errors.push({
          field: `users[${i}].access`,
          message: `is 'rw' but readOnly is true: rsync would let '${u.name}' write into a module labelled read-only; grant 'ro' or set readOnly to false`,
        });
      }
    });
  }
}

/** Validates the daemon-wide settings. */
export function validateDaemonSettings(s: DaemonSettingsDto): FieldError[] {
  const errors: FieldError[] = [];
  pushIf(errors, 'port', checkIntegerRange(s.port, 1, 65535));
  if (typeof s.address !== 'string' || isIP(s.address) === 0) {
    errors.push({ field: 'address', message: 'must be an IPv4 or IPv6 address literal' });
  }
  pushIf(errors, 'motd', checkMotd(s.motd));
  pushIf(errors, 'maxConnections', checkIntegerRange(s.maxConnections, 0, MAX_MODULE_CONNECTIONS));
  pushIf(errors, 'timeout', checkIntegerRange(s.timeout, 0, MAX_TIMEOUT_SECONDS));
  checkBoolean(errors, 'reverseLookup', s.reverseLookup);
  checkHostList(errors, 'hostsAllow', s.hostsAllow);
  checkHostList(errors, 'hostsDeny', s.hostsDeny);
  return errors;
}
