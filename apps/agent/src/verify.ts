/**
 * Self-verification: a periodic `rsync --dry-run` of the whole root against each target (at the lowest CPU and I/O
 * priority), which lists what a full sync would change without transferring anything. A difference the agent cannot
 * explain by a change it saw (an event during the run, work still queued) was *missed by the watcher*: it is pushed
 * as an ordinary batch and reported with count and paths (log, `status`, heartbeat). Cheap on large trees: rsync's quick
 * check compares sizes and mtimes from the file lists, it reads no file contents.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import type { Change, ChangeKind } from './change-set';
import { decodePath } from './path-bytes';
import { buildRsyncArgs, type RsyncTarget, rsyncExecutable, throughTlsRelay, type TlsTransport } from './rsync-runner';
import { parseConnectorLine } from './tls-options';

export interface Difference {
  /** Relative path ('.' for the root). */
  path: string;
  /** delete: extra on the target; create: missing there; update: content or attributes differ. */
  kind: ChangeKind;
  /** rsync's itemize code, e.g. `>f.st......`, `*deleting`. */
  code: string;
}

/** Arguments of a verification run: the full sync's (same params, excludes, deletions) as a dry run listing changes. */
export function buildVerifyArgs(t: RsyncTarget, fullSyncExcludes: readonly string[]): string[] {
  const full = buildRsyncArgs(t, 'full', fullSyncExcludes).filter((a) => a !== '--info=progress2');
  const url = full.pop()!;
  // -8: names with high-bit bytes are printed as they are (control characters still come as \#ooo escapes).
  return [...full.slice(0, -1), '--dry-run', '-8', '--out-format=%i %n', full[full.length - 1]!, url];
}

/** Undoes rsync's `\#ooo` escapes of unprintable bytes in a name it printed. */
function unescapeRsync(b: Buffer): Buffer {
  if (!b.includes('\\#')) return b;
  const out: number[] = [];
  for (let i = 0; i < b.length; i++) {
    if (b[i] === 0x5c && b[i + 1] === 0x23 && i + 4 < b.length && /^[0-7]{3}$/.test(b.toString('latin1', i + 2, i + 5))) {
      out.push(parseInt(b.toString('latin1', i + 2, i + 5), 8));
      i += 4;
    } else out.push(b[i]!);
  }
  return Buffer.from(out);
}

/** Parses the `%i %n` lines of a dry run into differences (names as raw bytes, decoded losslessly). */
export function parseItemized(stdout: Buffer): Difference[] {
  const out: Difference[] = [];
  let start = 0;
  while (start < stdout.length) {
    let end = stdout.indexOf(0x0a, start);
    if (end < 0) end = stdout.length;
    const line = stdout.subarray(start, end);
    start = end + 1;
    const sp = line.indexOf(0x20);
    if (sp < 0) continue;
    const code = line.toString('latin1', 0, sp);
    let nameStart = sp + 1;
    if (code === '*deleting') while (line[nameStart] === 0x20) nameStart++;
    else if (!/^[<>ch.*][fdLDS][.+?a-zA-Z ]*$/.test(code)) continue; // not an itemized line (e.g. a warning)
    let name = decodePath(unescapeRsync(line.subarray(nameStart)));
    if (name.endsWith('/') && name !== '/') name = name.slice(0, -1);
    if (name === '' || name === '.' || name === './') name = '.';
    const kind: ChangeKind = code === '*deleting' ? 'delete' : code.includes('+++++++') ? 'create' : 'update';
    out.push({ path: name, kind, code });
  }
  return out;
}

/**
 * Whether a difference is explained by a path the agent saw change: the path itself, an ancestor (a directory created,
 * deleted or replaced), or a descendant (a directory's mtime moves when an entry comes or goes); the root's mtime by
 * any top-level change. rsync's own temporary files (`.name.XXXXXX`) of a push running meanwhile are explained by it.
 */
export function isExplained(diff: Difference, touched: ReadonlySet<string>): boolean {
  const p = diff.path;
  if (touched.has(p)) return true;
  if (p === '.') {
    for (const t of touched) if (!t.includes('/')) return true;
    return false;
  }
  const parts = p.split('/');
  for (let i = 1; i < parts.length; i++) if (touched.has(parts.slice(0, i).join('/'))) return true;
  const prefix = `${p}/`;
  for (const t of touched) if (t.startsWith(prefix)) return true;
  const base = parts[parts.length - 1]!;
  if (touched.size > 0 && /^\..+\.[A-Za-z0-9]{6}$/.test(base)) return true;
  return false;
}

/**
 * The differences a verification reports as missed by the watcher: those no seen change explains, less a directory
 * whose only difference is its mtime when another difference lies directly inside it (an entry came or went there, so
 * the directory's time moved with it: one miss, not two). Such a directory is still pushed, only not counted.
 */
export function missedDifferences(diffs: readonly Difference[], touched: ReadonlySet<string>): Difference[] {
  const unexplained = diffs.filter((d) => !isExplained(d, touched));
  const parentOf = (p: string): string => (p.includes('/') ? p.slice(0, p.lastIndexOf('/')) : '.');
  const withEntryDiffs = new Set(diffs.filter((d) => d.path !== '.').map((d) => parentOf(d.path)));
  return unexplained.filter((d) => !(isDirectoryTimeOnly(d.code) && withEntryDiffs.has(d.path)));
}

/** `.d..t......`: a directory that differs in nothing but its modification time. */
function isDirectoryTimeOnly(code: string): boolean {
  return /^\.d\.\.[tT]\.*$/.test(code);
}

/** Differences as changes to push (deletions: missing on the source, deleted on the target by the flat run). */
export function differencesToChanges(diffs: readonly Difference[]): Change[] {
  return diffs.map((d) => ({ path: d.path, kind: d.kind }));
}

export interface VerifyRunResult {
  ok: boolean;
  diffs: Difference[];
  message: string;
  durationMs: number;
}

/** Whether ionice is there to lower the run's I/O priority too (util-linux). */
const ionice = ['/usr/bin/ionice', '/bin/ionice'].find((p) => {
  try {
    fs.accessSync(p, fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
});

/** Runs a verification dry run at the lowest priority (nice 19, idle I/O class where ionice exists). */
export async function runVerify(args: readonly string[], cwd: string, rsyncBin = rsyncExecutable(), signal?: AbortSignal, tls?: TlsTransport): Promise<VerifyRunResult> {
  if (!tls) return spawnVerify(args, cwd, rsyncBin, signal);
  // A verification must never go out in plaintext either: through the relay, like every run of a tls remote.
  const t0 = Date.now();
  const res = await throughTlsRelay(tls, args, (message) => ({ ok: false, diffs: [], message, durationMs: 0, stderr: message }),
    (a, env, started) => spawnVerify(a, cwd, rsyncBin, signal, env, started));
  const failure = parseConnectorLine(res.stderr);
  return {
    ok: res.ok, diffs: res.diffs, durationMs: Date.now() - t0,
    message: !res.ok && failure ? `TLS: ${failure.message}` : res.message,
  };
}

function spawnVerify(args: readonly string[], cwd: string, rsyncBin: string, signal?: AbortSignal, env?: NodeJS.ProcessEnv, onSpawn?: (pid: number | undefined) => void): Promise<VerifyRunResult & { stderr: string }> {
  const started = Date.now();
  const [cmd, argv] = ionice ? [ionice, ['-c', '3', rsyncBin, ...args]] : [rsyncBin, [...args]];
  return new Promise((resolve) => {
    const child = spawn(cmd, argv, { cwd, stdio: ['ignore', 'pipe', 'pipe'], signal, killSignal: 'SIGKILL', ...(env ? { env } : {}) });
    // ionice execs rsync: the same pid holds the relay connection.
    onSpawn?.(child.pid);
    try {
      if (child.pid) os.setPriority(child.pid, 19);
    } catch {
      // not permitted here: runs at normal priority
    }
    const out: Buffer[] = [];
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => {
      if (stderr.length < 16 * 1024) stderr += d.toString();
    });
    child.on('error', (e) => resolve({ ok: false, diffs: [], message: `cannot run rsync: ${e.message}`, durationMs: Date.now() - started, stderr }));
    child.on('close', (code) => {
      const ok = code === 0 || code === 24;
      resolve({
        ok,
        diffs: ok ? parseItemized(Buffer.concat(out)) : [],
        message: ok ? 'ok' : `rsync exit ${code}: ${stderr.trim().split('\n').slice(-2).join(' | ')}`,
        durationMs: Date.now() - started,
        stderr,
      });
    });
  });
}
