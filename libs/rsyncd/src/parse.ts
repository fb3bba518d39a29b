/**
 * Parses rsyncd.conf and secrets files the way the rsync daemon does, for importing an existing setup.
 *
 * Why not the `ini` package: it strips `;`/`#` comments at the END of a line (rsync keeps them as part of the
 * value: `path = /srv # x` is the path "/srv # x"), unquotes "quoted" values (rsync keeps the quotes), knows
 * nothing of `\` continuation lines, `[global]` or of case/whitespace-insensitive names, and treats duplicate
 * sections differently. A faithful import needs the daemon's own lexer, so this is a port of rsync's params.c
 * (Section/Parameter/Parse/Continuation) plus the section/parameter rules of loadparm.c:
 *  - blank lines and lines whose first non-blank character is `;` or `#` are comments;
 *  - a line ending in `\` (optionally followed by whitespace) continues on the next line;
 *  - `\r` inside a value is dropped; leading/trailing whitespace of names and values is dropped;
 *  - a section name ends at the first `]` (the rest of that line is ignored), its internal whitespace runs become
 *    one space; `[global]` switches back to the global section; sections are matched case-insensitively ignoring
 *    whitespace, so a repeated `[name]` (in any case) MERGES into the earlier module, later values winning;
 *  - parameter names are matched case-insensitively ignoring whitespace (`ReadOnly`, `READ  ONLY` = `read only`),
 *    but NOT ignoring underscores: rsync 3.5.0 logs `Unknown Parameter encountered: "read_only"` and ignores it.
 *    Such names are reported as problems (with a hint) and not mapped;
 *  - a module gets the global values in force when its section first appears as its defaults.
 * `&include`/`&merge` directives are reported, not followed (the files are on another machine).
 */

export interface ParsedModule {
  /** Name as first written (whitespace runs compressed). */
  name: string;
  /** Parameters set in this module's section(s), by canonical name (e.g. `read only`). */
  params: Record<string, string>;
  /** 1-based line of the module's first section header. */
  line: number;
  /** The global values in force when the section first appeared: rsync's defaults for this module. */
  inherited: Record<string, string>;
}

export interface ParseProblem {
  line: number;
  message: string;
  /** The module section the line is in; absent in the global section. */
  section?: string;
}

export interface ParsedRsyncdConf {
  /** Final global values (after every `[global]` section). */
  global: Record<string, string>;
  modules: ParsedModule[];
  problems: ParseProblem[];
}

/** Every parameter rsyncd.conf(5) of rsync 3.5.0 documents, in its man-page spelling. */
export const GLOBAL_ONLY_PARAMETERS: readonly string[] = [
  'address',
  'daemon chroot',
  'daemon gid',
  'daemon uid',
  'listen backlog',
  'motd file',
  'pid file',
  'port',
  'proxy protocol',
  'proxy protocol hosts',
  'socket options',
];

export const MODULE_PARAMETERS: readonly string[] = [
  'auth digest',
  'auth users',
  'charset',
  'comment',
  'dont compress',
  'early exec',
  'exclude',
  'exclude from',
  'fake super',
  'filter',
  'forward lookup',
  'gid',
  'hosts allow',
  'hosts deny',
  'ignore errors',
  'ignore nonreadable',
  'include',
  'include from',
  'incoming chmod',
  'insecure links',
  'list',
  'lock file',
  'log file',
  'log format',
  'max connections',
  'max verbosity',
  'munge symlinks',
  'name converter',
  'numeric ids',
  'open noatime',
  'outgoing chmod',
  'path',
  'post-xfer exec',
  'pre-xfer exec',
  'read only',
  'refuse options',
  'reverse lookup',
  'secrets file',
  'strict modes',
  'syslog facility',
  'syslog tag',
  'temp dir',
  'timeout',
  'transfer logging',
  'uid',
  'use chroot',
  'write only',
];

/** rsync's strwiEQ(): compare ignoring case and whitespace. */
export function canonicalKey(name: string): string {
  return name.replace(/\s+/g, '').toLowerCase();
}

const KNOWN = new Map<string, string>(
  [...GLOBAL_ONLY_PARAMETERS, ...MODULE_PARAMETERS].map((label) => [canonicalKey(label), label]),
);
const GLOBAL_ONLY = new Set(GLOBAL_ONLY_PARAMETERS);

/** The man-page spelling of a parameter name, or null when rsync would not recognise it. */
export function canonicalParameterName(name: string): string | null {
  return KNOWN.get(canonicalKey(name)) ?? null;
}

/** C isspace() minus '\n', as rsync's EatWhitespace() uses. */
function isBlank(c: string | undefined): boolean {
  return c === ' ' || c === '\t' || c === '\v' || c === '\f' || c === '\r';
}
function isSpace(c: string | undefined): boolean {
  return isBlank(c) || c === '\n';
}

/** Index of the `\` that makes buf (up to `end`) a continued line, or -1 (rsync's Continuation()). */
function continuation(buf: string[], end: number): number {
  let pos = end - 1;
  while (pos >= 0 && isSpace(buf[pos])) pos--;
  return pos >= 0 && buf[pos] === '\\' ? pos : -1;
}

export function parseRsyncdConf(text: string): ParsedRsyncdConf {
  const problems: ParseProblem[] = [];
  const global: Record<string, string> = {};
  const modules: ParsedModule[] = [];
  const byKey = new Map<string, ParsedModule>();
  let current: ParsedModule | null = null;
  // Each problem is attributed to the section it is in, so an import never blames a module for a global line.
  const problem = (p: ParseProblem): void => {
    const section = (current as ParsedModule | null)?.name;
    problems.push(section === undefined ? p : { ...p, section });
  };

  // rsync reads with getc() and stops at EOF or a NUL byte.
  const nul = text.indexOf('\0');
  if (nul >= 0) {
    problem({ line: lineAt(text, nul), message: 'NUL byte: rsync stops reading the file here' });
    text = text.slice(0, nul);
  }
  let pos = 0;
  let line = 1;
  const EOF = undefined;
  const getc = (): string | undefined => {
    if (pos >= text.length) return EOF;
    const c = text[pos++];
    if (c === '\n') line++;
    return c;
  };
  const eatWhitespace = (): string | undefined => {
    let c = getc();
    while (isBlank(c)) c = getc();
    return c;
  };
  const eatComment = (): string | undefined => {
    let c = getc();
    while (c !== '\n' && c !== EOF) c = getc();
    return c;
  };

  /** Section(): after the `[`. Returns false when rsync would refuse the whole file (we keep going). */
  const section = (startLine: number): void => {
    const buf: string[] = [];
    let i = 0;
    let end = 0;
    let c = eatWhitespace();
    while (c !== EOF) {
      if (c === ']') {
        const name = buf.slice(0, end).join('');
        eatComment();
        if (end === 0) {
          problem({ line: startLine, message: 'empty section name (rsync refuses to load this file)' });
          current = null;
          return;
        }
        openSection(name, startLine);
        return;
      }
      if (c === '\n') {
        const k = continuation(buf, i);
        if (k < 0) {
          problem({
            line: startLine,
            message: `section header without a closing ']' (rsync refuses to load this file): ${buf.slice(0, end).join('')}`,
          });
          current = null;
          return;
        }
        i = k;
        end = i > 0 && buf[i - 1] === ' ' ? i - 1 : i;
        buf.length = i;
        c = getc();
        continue;
      }
      if (isBlank(c)) {
        buf[end] = ' ';
        i = end + 1;
        buf.length = i;
        c = eatWhitespace();
      } else {
        buf[i++] = c;
        end = i;
        c = getc();
      }
    }
    problem({ line: startLine, message: "unexpected end of file in a section header (rsync refuses to load this file)" });
    current = null;
  };

  const openSection = (name: string, startLine: number): void => {
    const key = canonicalKey(name);
    if (key === 'global') {
      current = null;
      return;
    }
    if (name.includes('/')) {
      problem({ line: startLine, message: `module name '${name}' contains '/' (not allowed by rsync)` });
    }
    const existing = byKey.get(key);
    if (existing) {
      current = existing;
      return;
    }
    const mod: ParsedModule = { name, params: {}, line: startLine, inherited: { ...global } };
    byKey.set(key, mod);
    modules.push(mod);
    current = mod;
  };

  /** Parameter(): `first` is the first character of the name, already read. Returns null if the line was dropped. */
  const parameter = (first: string, startLine: number, directive: boolean): { name: string; value: string } | null => {
    const buf: string[] = [];
    let i = 0;
    let end = 0;
    let c: string | undefined = first;
    let name: string | null = null;
    while (name === null) {
      if (c === '=') {
        if (end === 0) {
          problem({ line: startLine, message: 'parameter line without a name (rsync refuses to load this file)' });
          eatComment();
          return null;
        }
        name = buf.slice(0, end).join('');
        c = eatWhitespace();
        break;
      }
      if (c === '\n') {
        const k = continuation(buf, i);
        if (k < 0) {
          problem({ line: startLine, message: `ignoring badly formed line (no '='): ${buf.slice(0, end).join('')}` });
          return null;
        }
        i = k;
        end = i > 0 && buf[i - 1] === ' ' ? i - 1 : i;
        buf.length = i;
        c = getc();
        continue;
      }
      if (c === EOF) {
        problem({ line: startLine, message: `unexpected end of file in: ${buf.slice(0, i).join('')}` });
        return null;
      }
      if ((c === ' ' || c === '\t') && directive) {
        // A directive name ends at the first space or tab; an optional '=' may follow.
        name = buf.slice(0, end).join('');
        c = eatWhitespace();
        if (c === '=') c = eatWhitespace();
        break;
      }
      if (isBlank(c)) {
        buf[end] = ' ';
        i = end + 1;
        buf.length = i;
        c = eatWhitespace();
      } else {
        buf[i++] = c;
        end = i;
        c = getc();
      }
    }
    // The value.
    const val: string[] = [];
    i = 0;
    end = 0;
    while (c !== EOF) {
      if (c === '\r') {
        c = getc();
        continue;
      }
      if (c === '\n') {
        const k = continuation(val, i);
        if (k < 0) break;
        i = k;
        end = i; // rsync keeps the whitespace before the '\'
        val.length = i;
        c = getc();
        continue;
      }
      val[i++] = c;
      if (!isSpace(c)) end = i;
      c = getc();
    }
    return { name, value: val.slice(0, end).join('') };
  };

  const setParameter = (rawName: string, value: string, startLine: number): void => {
    const label = canonicalParameterName(rawName);
    if (label === null) {
      const hint = rawName.includes('_') ? canonicalParameterName(rawName.replace(/_/g, ' ')) : null;
      problem({
        line: startLine,
        message:
          `unknown parameter '${rawName}' (rsync ignores it)` +
          (hint ? `; did you mean '${hint}'? rsync does not accept '_' in parameter names` : ''),
      });
      return;
    }
    if (current === null) {
      global[label] = value;
      return;
    }
    if (GLOBAL_ONLY.has(label)) {
      problem({ line: startLine, message: `global parameter '${label}' in module [${current.name}] (rsync ignores it)` });
      return;
    }
    current.params[label] = value;
  };

  let c = eatWhitespace();
  while (c !== EOF) {
    const startLine = line;
    switch (c) {
      case '\n':
        c = eatWhitespace();
        break;
      case ';':
      case '#':
        c = eatComment();
        c = c === EOF ? EOF : eatWhitespace();
        break;
      case '[':
        section(startLine);
        c = eatWhitespace();
        break;
      case '\\':
        // "Bogus backslash": rsync skips it and the blanks after it.
        c = eatWhitespace();
        break;
      case '&': {
        const d = parameter(c, startLine, true);
        if (d) {
          problem({
            line: startLine,
            message: `${d.name} ${d.value}: directive not followed (import the referenced file(s) separately)`,
          });
        }
        c = eatWhitespace();
        break;
      }
      default: {
        const p = parameter(c, startLine, false);
        if (p) setParameter(p.name, p.value, startLine);
        c = eatWhitespace();
        break;
      }
    }
  }
  return { global, modules, problems };
}

function lineAt(text: string, index: number): number {
  let n = 1;
  for (let k = 0; k < index; k++) if (text[k] === '\n') n++;
  return n;
}

export interface SecretsEntry {
  name: string;
  password: string;
}

export interface ParsedSecrets {
  entries: SecretsEntry[];
  problems: ParseProblem[];
}

/**
 * Parses a secrets file like rsync's check_secret(): each line is cut at the first `\r`/`\n` and matched as
 * `name:` + password, the password being everything after the FIRST colon. Blank lines and `#` lines are skipped
 * (rsync refuses user names starting with `#`). `@group:password` lines are reported, not imported. When a name
 * appears twice rsync only ever uses the first line, so later ones are reported and dropped.
 */
export function parseSecretsFile(text: string): ParsedSecrets {
  const entries: SecretsEntry[] = [];
  const problems: ParseProblem[] = [];
  const seen = new Set<string>();
  text.split('\n').forEach((raw, index) => {
    const lineNo = index + 1;
    // strtok(line, "\n\r"): skip leading CRs, stop at the next one.
    const s = raw.replace(/^\r+/, '').split('\r')[0];
    if (s.trim() === '' || s.startsWith('#')) return;
    if (s.startsWith('@')) {
      problems.push({ line: lineNo, message: 'group password entries (@group:password) are not supported' });
      return;
    }
    const colon = s.indexOf(':');
    if (colon <= 0) {
      problems.push({ line: lineNo, message: "not a 'name:password' line" });
      return;
    }
    const name = s.slice(0, colon);
    const password = s.slice(colon + 1);
    if (seen.has(name)) {
      problems.push({ line: lineNo, message: `duplicate entry for '${name}' (rsync only uses the first one)` });
      return;
    }
    seen.add(name);
    entries.push({ name, password });
  });
  return { entries, problems };
}
