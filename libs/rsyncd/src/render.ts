/**
 * Renders rsyncd.conf and the secrets file from RsyncHub's model.
 *
 * Why not the `ini` package: it quotes values containing special characters (`"a;b"`), escapes `;`/`#` with a
 * backslash and writes `key=value` with its own conventions. rsyncd.conf has NO quoting or escaping at all (quotes
 * would become part of the value, and a trailing `\` joins lines), so `ini` would produce values the daemon reads
 * differently. The format we need to write is tiny, so it is written by hand, and every value is validated first
 * (see validate.ts) so that nothing can change the structure of the file.
 */
import type { DaemonSettingsDto, FieldError, ModuleFields } from '@rsynchub/contracts';
import {
  checkAbsoluteFilePath,
  checkHookPath,
  checkLogFormat,
  checkModulePath,
  checkRsyncPassword,
  checkRsyncUserName,
  needsReverseLookup,
  validateDaemonSettings,
  validateModule,
} from './validate';
import { applyBans, checkBannableAddress } from './bans';
import * as net from 'node:net';

/** Thrown when a value would be unsafe to render. `issues` lists every problem found, not just the first. */
export class RsyncdConfigError extends Error {
  readonly issues: FieldError[];
  constructor(issues: FieldError[], message?: string) {
    super(message ?? `invalid rsyncd configuration: ${issues.map((i) => `${i.field} ${i.message}`).join('; ')}`);
    this.name = 'RsyncdConfigError';
    this.issues = issues;
  }
}

export interface RenderPaths {
  secretsFile: string;
  pidFile: string;
  /** Directory for per-module lock files (needed by `max connections`). */
  lockDir: string;
  logFile: string;
  motdFile?: string;
}

export interface RenderInput {
  settings: DaemonSettingsDto;
  /** Only enabled modules are rendered; disabled ones are omitted entirely. */
  modules: ModuleFields[];
  runningAsRoot: boolean;
  paths: RenderPaths;
  /** When set: `transfer logging = yes` and `log format = <it>` in the globals. */
  transferLogFormat?: string;
  /** Absolute path of a hook script, rendered per module as `post-xfer exec`. */
  postXferExec?: string;
  /**
   * Module roots for the path check. When omitted, paths are still checked to be absolute and normalised, but not
   * for containment (the API validated them with the roots already).
   */
  roots?: string[];
  /** When given, every user granted in a module must be one of these. */
  knownUsers?: string[];
  /** Client addresses banned for password guessing: every module is closed to them (see bans.ts). */
  bans?: string[];
  /**
   * Which daemon the file is for. 'plain' (default): the daemon clients reach directly; `tlsOnly` modules refuse every
   * address in it. 'tls': the daemon behind RsyncHub's TLS listener, reached only through it on loopback; every
   * connection starts with a PROXY header carrying the real client address (see renderTlsGlobals).
   */
  transport?: 'plain' | 'tls';
  /** transport 'tls': the peers allowed to send the PROXY header (the TLS listener's own loopback address). */
  proxyProtocolHosts?: string[];
  /**
   * transport 'tls' only: the file is for connections whose client certificate the TLS front verified (issued by the
   * private CA, valid, not revoked): `tlsClientCert` modules are open in it. In every other file they are closed to
   * every address, like a `tlsOnly` module in the plain daemon's file.
   */
  clientCertVerified?: boolean;
  /**
   * Optional memory of earlier renders: a module whose fields and surroundings (settings, paths, bans...) are the
   * same as last time reuses its checked, rendered section instead of checking and rendering it again. With
   * thousands of modules that is most of a render's time; the output is the same with or without it.
   */
  cache?: RenderCache;
}

interface CachedSection {
  /** validateModule's findings (and the path-depth check), without the `modules[i].` prefix. */
  issues: FieldError[];
  lines: string[];
  warnings: string[];
  /**
   * The section as `splitConfigSections` cuts it out of the rendered file (its lines and the newline after them),
   * made once: every render joins these same strings, and a Set of them (the proof's accepted sections) hashes each
   * only once.
   */
  text: string;
}

interface CacheEntry {
  /** A deep copy of the module as it was rendered (compared field by field: no JSON key per module per render). */
  fields: unknown;
  /**
   * The module object itself when it is deeply frozen plain data (see deepFrozen): it cannot have changed since, so
   * the same object again is a hit without the field-by-field comparison. A caller that keeps its unchanged modules
   * as the same frozen objects (the API's module mirror) makes a render of thousands of modules a pass of identity
   * checks.
   */
  source?: object;
  /** Which of its granted users were known (see renderRsyncdConf). */
  flags: string;
  section: CachedSection;
}

/** One enabled module of a render, with its lower-cased name (the sort key) and its checked section. */
interface Keyed {
  m: ModuleFields;
  lower: string;
  section: CachedSection;
}

/**
 * The last successful render's input, element by element (see RenderCache.quick): the module object when it is deeply
 * frozen (else null: never the same again), its lower-cased name, and its rendered entry (null: disabled).
 */
interface LastInput {
  objects: (ModuleFields | null)[];
  lowers: string[];
  keyed: (Keyed | null)[];
}

/** A quick render's outcome before it is kept: the sorted sections, and what the cache becomes once it succeeds. */
interface QuickPlan {
  sorted: Keyed[];
  /** Every module is the same object as last time, in the same place: the same sections as the last render. */
  same: boolean;
  commit(): void;
}

/** At most this many modules differing from the last render take the quick path (see RenderCache.quick). */
const QUICK_MAX_CHANGES = 64;

/** See RenderInput.cache. Holds only the sections of the last render, so it never outgrows the config. */
export class RenderCache {
  private context = '';
  private entries = new Map<string, CacheEntry>();
  private used = new Map<string, CacheEntry>();
  /** The last successful render's input, when it was in render order (strictly ascending lower-cased names). */
  private last: LastInput | null = null;
  /** The last successful render's output (see renderRsyncdConf: an unchanged render hands out the same text). */
  lastResult: RenderResult | null = null;
  hits = 0;
  misses = 0;
  /** Renders served by the quick path (a few modules differing from the last render), for tests and benchmarks. */
  quickRenders = 0;

  /** @internal Starts a render in `context`; everything cached under another context is forgotten. */
  begin(context: string): void {
    if (context !== this.context) {
      this.entries.clear();
      this.last = null;
      this.lastResult = null;
      this.context = context;
    }
    this.used = new Map();
    this.hits = 0;
    this.misses = 0;
  }

  /**
   * @internal The sorted sections of `modules` worked out from the last render's when they differ from it in a few
   * modules only (no known-users flags; see renderRsyncdConf): both lists in render order, the unchanged modules the
   * same deeply frozen objects. The walk over both lists costs one identity check per module, so a create among
   * 10,000 modules checks and renders one section instead of passing over 10,000. Anything else (a list out of order,
   * a duplicate name, a module with issues, many changes) is null: the full render decides, and reports, as before.
   * Nothing changes in the cache until the plan's commit (after the render succeeded).
   */
  quick(modules: readonly ModuleFields[], make: (m: ModuleFields) => CachedSection): QuickPlan | null {
    const last = this.last;
    if (last === null) return null;
    const objects: (ModuleFields | null)[] = [];
    const lowers: string[] = [];
    const keyedAll: (Keyed | null)[] = [];
    const sorted: Keyed[] = [];
    const gone: string[] = [];
    const added: [string, CacheEntry][] = [];
    let changes = 0;
    let hits = 0;
    let misses = 0;
    let previous: string | null = null;
    let i = 0;
    const drop = (k: number) => {
      const old = last.keyed[k];
      if (old) gone.push(old.m.name);
    };
    for (const m of modules) {
      const same = last.objects[i];
      if (same !== null && same !== undefined && same === m) {
        const lower = last.lowers[i]!;
        if (previous !== null && !(previous < lower)) return null;
        const keyed = last.keyed[i]!;
        objects.push(m);
        lowers.push(lower);
        keyedAll.push(keyed);
        if (keyed) {
          sorted.push(keyed);
          hits++;
        }
        previous = lower;
        i++;
        continue;
      }
      if (typeof m?.name !== 'string' || ++changes > QUICK_MAX_CHANGES) return null;
      const lower = m.name.toLowerCase();
      if (previous !== null && !(previous < lower)) return null;
      // Modules of the last render sorting before this one are gone; one of the same name is replaced.
      while (i < last.lowers.length && last.lowers[i]! < lower) {
        if (++changes > QUICK_MAX_CHANGES) return null;
        drop(i++);
      }
      if (i < last.lowers.length && last.lowers[i] === lower) drop(i++);
      let keyed: Keyed | null = null;
      if (m.enabled !== false) {
        const entry = this.entries.get(m.name);
        let section: CachedSection;
        if (entry && entry.flags === '' && (entry.source === m || sameValue(entry.fields, m))) {
          section = entry.section;
          hits++;
          added.push([m.name, entry.source === m || !deepFrozen(m) ? entry : { ...entry, source: m }]);
        } else {
          section = make(m);
          misses++;
          if (section.issues.length > 0) return null; // the full render reports it, with the module's index
          if (deepFrozen(m)) added.push([m.name, { fields: m, flags: '', section, source: m }]);
          else {
            const fields = snapshot(m);
            if (fields !== NOT_CACHEABLE) added.push([m.name, { fields, flags: '', section }]);
          }
        }
        keyed = { m, lower, section };
        sorted.push(keyed);
      }
      objects.push(deepFrozen(m) ? m : null);
      lowers.push(lower);
      keyedAll.push(keyed);
      previous = lower;
    }
    if (changes + (last.lowers.length - i) > QUICK_MAX_CHANGES) return null;
    while (i < last.lowers.length) drop(i++);
    return {
      sorted,
      same: changes === 0 && gone.length === 0 && added.length === 0 && modules.length === last.lowers.length,
      commit: () => {
        for (const name of gone) this.entries.delete(name);
        for (const [name, entry] of added) this.entries.set(name, entry);
        this.used = new Map();
        this.last = { objects, lowers, keyed: keyedAll };
        this.hits = hits;
        this.misses = misses;
        this.quickRenders++;
      },
    };
  }

  /** @internal A full render completed with `modules` (its input) and their sections (`keyed`, by input index). */
  remember(modules: readonly ModuleFields[], keyed: (Keyed | null)[]): void {
    const lowers: string[] = [];
    for (let i = 0; i < modules.length; i++) {
      const name = modules[i]?.name;
      if (typeof name !== 'string') {
        this.last = null;
        return;
      }
      const lower = name.toLowerCase();
      // Only a list in render order can be walked against the next one.
      if (i > 0 && !(lowers[i - 1]! < lower)) {
        this.last = null;
        return;
      }
      lowers.push(lower);
    }
    // An object is recognised next time only when it can never change: the cache's own check for an enabled one
    // (its entry's source), deepFrozen for a disabled one.
    const objects = modules.map((m, i) => ((keyed[i] ? this.entries.get(m.name)?.source === m : deepFrozen(m)) ? m : null));
    this.last = { objects, lowers, keyed };
  }

  /**
   * @internal The section of `m` (with `flags`) from the last render if the module is the same in every field,
   * else made now. Keyed by name: at most one entry per module, and the lookup costs no serialisation.
   */
  section(m: ModuleFields, flags: string, make: () => CachedSection): CachedSection {
    const name = typeof m?.name === 'string' ? m.name : null;
    if (name === null) {
      this.misses++;
      return make();
    }
    const entry = this.used.get(name) ?? this.entries.get(name);
    if (entry && entry.flags === flags && (entry.source === m || sameValue(entry.fields, m))) {
      this.hits++;
      if (entry.source !== m && deepFrozen(m)) entry.source = m;
      this.used.set(name, entry);
      return entry.section;
    }
    this.misses++;
    const section = make();
    // A second module of the same name (a duplicate, refused anyway) does not displace the first one's entry.
    if (!this.used.has(name)) {
      // Immutable already: no copy needed, and the object itself is the quick check next time.
      if (deepFrozen(m)) this.used.set(name, { fields: m, flags, section, source: m });
      else {
        const fields = snapshot(m);
        if (fields !== NOT_CACHEABLE) this.used.set(name, { fields, flags, section });
      }
    }
    return section;
  }

  /** @internal A render completed: keep what it used. */
  end(): void {
    this.entries = this.used;
    this.used = new Map();
    this.last = null; // until remember() says what this render's input was
  }
}

const NOT_CACHEABLE = Symbol('not cacheable');

/**
 * True when `value` can never change: a primitive, or a frozen plain object or array whose own properties are all
 * data properties (no getter that could answer differently) holding such values.
 */
export function deepFrozen(value: unknown): boolean {
  if (value === null || typeof value !== 'object') return typeof value !== 'function';
  if (!Object.isFrozen(value)) return false;
  const proto = Object.getPrototypeOf(value);
  if (!Array.isArray(value) && proto !== Object.prototype && proto !== null) return false;
  for (const key of Reflect.ownKeys(value)) {
    const d = Object.getOwnPropertyDescriptor(value, key);
    if (!d || !('value' in d)) return false;
    if (!deepFrozen(d.value)) return false;
  }
  return true;
}

/** A deep copy of a plain module value, or NOT_CACHEABLE for anything else (a class instance, a function...). */
function snapshot(value: unknown): unknown {
  if (value === null || typeof value !== 'object') return typeof value === 'function' || typeof value === 'symbol' ? NOT_CACHEABLE : value;
  if (Array.isArray(value)) {
    const out: unknown[] = [];
    for (const v of value) {
      const c = snapshot(v);
      if (c === NOT_CACHEABLE) return NOT_CACHEABLE;
      out.push(c);
    }
    return out;
  }
  const proto = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return NOT_CACHEABLE;
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(value)) {
    const c = snapshot((value as Record<string, unknown>)[k]);
    if (c === NOT_CACHEABLE) return NOT_CACHEABLE;
    out[k] = c;
  }
  return out;
}

/**
 * True only when `b` is, field for field, the plain data `a` is (a deep copy made by snapshot). Conservative: any
 * doubt (a class instance, NaN, a different key order is fine but a different key set is not) is "different", which
 * only costs a re-render of that section.
 */
function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object') return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!sameValue(a[i], b[i])) return false;
    return true;
  }
  if (Array.isArray(b)) return false;
  const proto = Object.getPrototypeOf(b);
  if (proto !== Object.prototype && proto !== null) return false;
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  for (const k of ka) {
    if (!Object.prototype.hasOwnProperty.call(b, k)) return false;
    if (!sameValue((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k])) return false;
  }
  return true;
}

export interface RenderResult {
  text: string;
  /**
   * `text` cut as splitConfigSections cuts it (global part, then each section in file order), without re-splitting:
   * `text` is `global` followed by the sections, a blank line between each.
   */
  parts: { global: string; sections: string[] };
  /** Per module name: why some of what was asked for is not in the file, or is risky. */
  warnings: Record<string, string[]>;
}

const HEADER = [
  '# Generated by RsyncHub. Do not edit: this file is overwritten whenever modules or daemon settings change.',
  '# Manage modules, users and settings in the RsyncHub console or API instead.',
];

function yesNo(b: boolean): string {
  return b ? 'yes' : 'no';
}

function validateInput(input: RenderInput, enabled: { m: ModuleFields; index: number; section: CachedSection }[]): FieldError[] {
  const issues: FieldError[] = [];
  for (const e of validateDaemonSettings(input.settings)) issues.push({ field: `settings.${e.field}`, message: e.message });

  const fileChecks: [string, string | undefined][] = [
    ['secretsFile', input.paths.secretsFile],
    ['pidFile', input.paths.pidFile],
    ['lockDir', input.paths.lockDir],
    ['logFile', input.paths.logFile],
  ];
  if (input.paths.motdFile !== undefined) fileChecks.push(['motdFile', input.paths.motdFile]);
  for (const [field, value] of fileChecks) {
    const msg = checkAbsoluteFilePath(value as string);
    if (msg) issues.push({ field: `paths.${field}`, message: msg });
  }
  if (input.transferLogFormat !== undefined) {
    const msg = checkLogFormat(input.transferLogFormat);
    if (msg) issues.push({ field: 'transferLogFormat', message: msg });
  }
  if (input.postXferExec !== undefined) {
    const msg = checkHookPath(input.postXferExec);
    if (msg) issues.push({ field: 'postXferExec', message: msg });
  }

  if (input.transport === 'tls') {
    const hosts = input.proxyProtocolHosts ?? [];
    if (hosts.length === 0) issues.push({ field: 'proxyProtocolHosts', message: 'must name the TLS listener\'s address (anyone else could forge a client address)' });
    hosts.forEach((h, i) => {
      if (net.isIP(h) === 0) issues.push({ field: `proxyProtocolHosts[${i}]`, message: 'must be an IP address' });
    });
  }

  (input.bans ?? []).forEach((b, i) => {
    const msg = checkBannableAddress(b);
    if (msg) issues.push({ field: `bans[${i}]`, message: msg });
  });

  const byKey = new Map<string, string>();
  for (const { m, index, section } of enabled) {
    for (const e of section.issues) issues.push({ field: `modules[${index}].${e.field}`, message: e.message });
    // rsync compares section names case-insensitively: [Data] and [data] would be merged into one module.
    const key = typeof m.name === 'string' ? m.name.toLowerCase() : '';
    const prev = byKey.get(key);
    if (prev !== undefined) {
      issues.push({
        field: `modules[${index}].name`,
        message: `duplicate module name '${m.name}' (rsync treats '${prev}' and '${m.name}' as the same module)`,
      });
    } else byKey.set(key, m.name);
  }
  return issues;
}

/**
 * Renders rsyncd.conf. Throws RsyncdConfigError if any value fails validation (defence in depth: the API validates
 * first). Output is deterministic: modules sorted by name (case-insensitive), parameters in a fixed order.
 */
export function renderRsyncdConf(input: RenderInput): RenderResult {
  const cache = input.cache;
  cache?.begin(
    // Not the known users: they matter to a section only through its own grants, so that part is in the section's
    // key (below). With them here, every rsync-user create or delete re-checked and re-rendered every module.
    JSON.stringify([input.settings, input.paths, input.runningAsRoot, input.postXferExec ?? null, input.roots ?? null, input.knownUsers === undefined, input.bans ?? [], input.transport ?? 'plain', input.clientCertVerified === true]),
  );
  const known = input.knownUsers ? new Set(input.knownUsers) : null;
  const flagsOf = (m: ModuleFields) => {
    if (!known || !Array.isArray(m?.users)) return '';
    let flags = '';
    for (const u of m.users) flags += known.has(u?.name) ? '1' : '0';
    return flags;
  };
  // A few modules changed since the last render (the API's creates and updates): only their sections are made.
  const quick = cache && input.knownUsers === undefined ? cache.quick(input.modules, (m) => checkedSection(m, input)) : null;
  let sortedModules: Keyed[];
  if (quick) {
    // Every section is free of issues and the names strictly ascend (no duplicates): only the globals to check.
    const issues = validateInput(input, []);
    if (issues.length > 0) throw new RsyncdConfigError(issues);
    sortedModules = quick.sorted;
  } else {
    const enabled: { m: ModuleFields; index: number; section: CachedSection }[] = [];
    input.modules.forEach((m, index) => {
      if (m.enabled === false) return;
      enabled.push({ m, index, section: cache ? cache.section(m, flagsOf(m), () => checkedSection(m, input)) : checkedSection(m, input) });
    });
    const issues = validateInput(input, enabled);
    if (issues.length > 0) throw new RsyncdConfigError(issues);
    // Sorted by compareNames; each lower-cased name computed once, and no sort at all when the input is in order
    // already (the database hands modules over by name).
    const keyed = enabled.map((e) => ({ m: e.m, lower: e.m.name.toLowerCase(), section: e.section, index: e.index }));
    const inOrder = (a: (typeof keyed)[number], b: (typeof keyed)[number]) =>
      a.lower !== b.lower ? (a.lower < b.lower ? -1 : 1) : a.m.name < b.m.name ? -1 : a.m.name > b.m.name ? 1 : 0;
    let sorted = true;
    for (let i = 1; i < keyed.length && sorted; i++) sorted = inOrder(keyed[i - 1]!, keyed[i]!) <= 0;
    if (!sorted) keyed.sort(inOrder);
    sortedModules = keyed;
    if (cache) {
      cache.end();
      if (input.knownUsers === undefined) {
        const byIndex: (Keyed | null)[] = new Array<Keyed | null>(input.modules.length).fill(null);
        for (const k of keyed) byIndex[k.index] = { m: k.m, lower: k.lower, section: k.section };
        cache.remember(input.modules, byIndex);
      }
    }
  }

  const { settings, paths, runningAsRoot } = input;
  const lines: string[] = [...HEADER, ''];
  const g = (name: string, value: string | number) => lines.push(`${name} = ${value}`);

  g('pid file', paths.pidFile);
  g('port', settings.port);
  g('address', settings.address);
  // rsync leaves Nagle's algorithm on for the daemon's sockets. Its protocol start is a series of small writes each
  // waiting on the client; with an I/O timeout in play (the client's --timeout or `timeout` here) the daemon's second
  // small write waits for the client's delayed ACK, 40 ms on Linux: measured on loopback, a one-file push took 77 ms
  // instead of 37 ms. Bulk data is unaffected (large writes).
  g('socket options', 'TCP_NODELAY');
  g('log file', paths.logFile);
  if (paths.motdFile !== undefined) g('motd file', paths.motdFile);
  if (input.transferLogFormat !== undefined) {
    g('transfer logging', 'yes');
    g('log format', input.transferLogFormat);
  }
  // Module parameters in the global section are defaults for every module. Each module below also states its own
  // effective max connections / lock file, so this pair only matters for anything not rendered by us.
  if (settings.maxConnections > 0) {
    g('max connections', settings.maxConnections);
    // "global" can never be a module name, so this lock file cannot collide with a module's.
    g('lock file', `${paths.lockDir}/global.lock`);
  }
  if (settings.timeout > 0) g('timeout', settings.timeout);
  g('reverse lookup', yesNo(settings.reverseLookup));
  if (settings.hostsAllow.length > 0) g('hosts allow', settings.hostsAllow.join(' '));
  if (settings.hostsDeny.length > 0) g('hosts deny', settings.hostsDeny.join(' '));
  g('strict modes', 'yes');
  g('secrets file', paths.secretsFile);
  // A non-root daemon cannot chroot (and since 3.2.7 an unset value only logs a warning); say so explicitly.
  if (!runningAsRoot) g('use chroot', 'no');
  if (input.transport === 'tls') {
    // Global by rsync's design: every connection must start with a PROXY header, and only the listener may send one.
    g('proxy protocol', 'yes');
    g('proxy protocol hosts', (input.proxyProtocolHosts ?? []).join(' '));
  }

  const global = lines.join('\n') + '\n';
  const previous = cache?.lastResult;
  if (quick?.same && previous && previous.parts.global === global) {
    // Nothing changed (e.g. an rsync-user create): the same text object as last time, not megabytes joined again
    // (and the writer's comparison with what it wrote last is then an identity check).
    quick.commit();
    cache!.lastResult = previous;
    return { text: previous.text, parts: { global, sections: [...previous.parts.sections] }, warnings: { ...previous.warnings } };
  }
  const warnings: Record<string, string[]> = {};
  const sections: string[] = [];
  for (const e of sortedModules) {
    sections.push(e.section.text);
    if (e.section.warnings.length > 0) warnings[e.m.name] = e.section.warnings;
  }
  quick?.commit();
  const text = sections.length > 0 ? `${global}\n${sections.join('\n')}` : global;
  if (cache) cache.lastResult = { text, parts: { global, sections: [...sections] }, warnings: { ...warnings } };
  return { text, parts: { global, sections }, warnings };
}

/** One module's checks and, when it passes them, its `[name]` section (lines without the blank line before it). */
function checkedSection(m: ModuleFields, input: RenderInput): CachedSection {
  // Without roots, check the path's shape with a root of "/" (anything absolute and normalised but "/").
  const roots = input.roots ?? ['/'];
  const issues = validateModule(m, { roots, knownUsers: input.knownUsers });
  if (input.roots === undefined && checkModulePath(m.path, roots) === null && m.path.split('/').length < 3) {
    // A top-level directory such as /etc is never a sensible module, even without configured roots.
    issues.push({ field: 'path', message: 'must be below a top-level directory' });
  }
  if (issues.length > 0) return { issues, lines: [], warnings: [], text: '' };
  const { lines, warnings } = renderSection(m, input);
  return { issues: [], lines, warnings, text: lines.join('\n') + '\n' };
}

function renderSection(m: ModuleFields, input: RenderInput): { lines: string[]; warnings: string[] } {
  const { settings, paths, runningAsRoot } = input;
  const w: string[] = [];
  const lines: string[] = [`[${m.name}]`];
  const p = (name: string, value: string | number) => lines.push(`    ${name} = ${value}`);
  const closedBecause =
    (m.tlsOnly === true || m.tlsClientCert === true) && input.transport !== 'tls'
      ? m.tlsClientCert === true
        ? 'tlsClientCert: reachable only through the TLS listener, with a client certificate'
        : 'tlsOnly: reachable only through the TLS listener'
      : m.tlsClientCert === true && !(input.transport === 'tls' && input.clientCertVerified === true)
        ? 'tlsClientCert: reachable only with a client certificate issued by this server and not revoked'
        : null;
  if (closedBecause !== null) {
    // Present but closed to every address: the empty allow list overrides a global one, and rsync checks hosts
    // before it asks for a password. A listed module tells a plaintext client (or a TLS client without a valid
    // client certificate) "access denied"; an unlisted one stays hidden ("Unknown module"), as the module asked.
    lines.push(`    # ${closedBecause}`);
    p('path', m.path);
    p('read only', 'yes');
    p('list', yesNo(m.list));
    lines.push('    hosts allow =');
    p('hosts deny', '*');
    return { lines, warnings: [] };
  }
  p('path', m.path);
  if (m.comment !== '') p('comment', m.comment);
  p('read only', yesNo(m.readOnly));
  p('write only', yesNo(m.writeOnly));
  p('list', yesNo(m.list));
  p('ignore errors', yesNo(m.ignoreErrors));
  // 0 means "not set" for a module: it inherits the daemon-wide default.
  const maxConnections = m.maxConnections > 0 ? m.maxConnections : settings.maxConnections;
  if (maxConnections > 0) {
    p('max connections', maxConnections);
    // rsync counts connections with record locks in the lock file; modules sharing one file share the count.
    p('lock file', `${paths.lockDir}/${m.name}.lock`);
  }
  if (m.timeout > 0) p('timeout', m.timeout);
  // Both lists always spelled out as the module has them in effect (its own, or the global default), rewritten by
  // applyBans so that rsync admits exactly "allowed and not denied and not banned": left to inheritance, a module
  // list next to the other global list would admit every address matching neither (review F1).
  const effAllow = m.hostsAllow.length > 0 ? m.hostsAllow : settings.hostsAllow;
  const effDeny = m.hostsDeny.length > 0 ? m.hostsDeny : settings.hostsDeny;
  const bans = input.bans ?? [];
  if (effAllow.length > 0 || effDeny.length > 0 || bans.length > 0) {
    const access = applyBans(effAllow, effDeny, bans);
    // An empty value overrides a global allow list (rsync treats an empty list as none): everything cut out.
    if (access.allow.length > 0 || settings.hostsAllow.length > 0) lines.push(`    hosts allow =${access.allow.length > 0 ? ` ${access.allow.join(' ')}` : ''}`);
    if (access.deny.length > 0) p('hosts deny', access.deny.join(' '));
    if (access.unenforced.length > 0) {
      w.push(`banned ${access.unenforced.join(', ')} may still connect: a hosts allow entry that is not an address or network admits it`);
    }
    // A name / wildcard / @netgroup deny entry cannot be cut out of the allow list. Names match nothing while
    // reverse lookup is off, so only the others are worth a warning.
    const unenforcedDeny = access.unenforcedDeny.filter((d) => settings.reverseLookup || /^[0-9a-fA-F:.*?[\]/]+$/.test(d));
    if (unenforcedDeny.length > 0) {
      w.push(`hosts deny ${unenforcedDeny.join(', ')} may not be enforced: rsync admits an address matching hosts allow before it reads hosts deny, and this entry is not an address or network that can be cut out of the allow list`);
    }
  }
  if (m.users.length > 0) {
    p('auth users', m.users.map((u) => `${u.name}:${u.access}`).join(', '));
    p('secrets file', paths.secretsFile);
  } else if (m.anonymous === 'read-write') {
    w.push(
      m.writeOnly
        ? 'anonymous write: anyone who can reach the daemon can push into this module without a password'
        : 'anonymous read-write: anyone who can reach the daemon can read, push into and delete from this module without a password',
    );
  } else {
    w.push('anonymous read: anyone who can reach the daemon can download this module without a password');
  }
  const byName = [...m.hostsAllow, ...m.hostsDeny].filter(needsReverseLookup);
  if (byName.length > 0 && !settings.reverseLookup) {
    w.push(`hosts entries ${byName.join(', ')} are matched against the client's host name, which rsync does not look up while reverse lookup is off: they match nothing`);
  }
  if (m.refuseOptions.length > 0) p('refuse options', m.refuseOptions.join(' '));
  if (m.excludes.length > 0) p('exclude', m.excludes.join(' '));
  if (input.postXferExec !== undefined) p('post-xfer exec', input.postXferExec);
  if (runningAsRoot) {
    if (m.uid !== null) p('uid', m.uid);
    if (m.gid !== null) p('gid', m.gid);
    if (m.useChroot !== null) p('use chroot', yesNo(m.useChroot));
  } else {
    if (m.uid !== null) w.push('uid is ignored: the server does not run as root');
    if (m.gid !== null) w.push('gid is ignored: the server does not run as root');
    if (m.useChroot === true) w.push('use chroot is ignored: the server does not run as root');
  }
  return { lines, warnings: w };
}

/** Renders the secrets file: `name:password` lines sorted by name. Throws RsyncdConfigError on any invalid entry. */
export function renderSecretsFile(users: { name: string; password: string }[]): string {
  const issues: FieldError[] = [];
  const seen = new Set<string>();
  users.forEach((u, i) => {
    const nameError = checkRsyncUserName(u.name);
    if (nameError) issues.push({ field: `users[${i}].name`, message: nameError });
    else if (seen.has(u.name)) issues.push({ field: `users[${i}].name`, message: `duplicate user '${u.name}'` });
    else seen.add(u.name);
    const pwError = checkRsyncPassword(u.password);
    // Never echo the password itself in an error.
    if (pwError) issues.push({ field: `users[${i}].password`, message: pwError });
  });
  if (issues.length > 0) throw new RsyncdConfigError(issues);
  return [...users]
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    .map((u) => `${u.name}:${u.password}\n`)
    .join('');
}
