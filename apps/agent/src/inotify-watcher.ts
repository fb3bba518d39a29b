/**
 * Recursive watch of one root through the agent's own inotify helper (native/rsynchub-inotify.c, compiled by the agent
 * build into dist/). It replaces @parcel/watcher on Linux because that library loses changes without a word (measured
 * and read in its 2.6 source, src/Event.hh and src/linux/InotifyBackend.cc):
 * - it coalesces events per path and drops a path created and deleted within one delivery; a rename onto an existing
 *   name counts as "created", so `echo new > x.tmp; mv x.tmp x; rm x` reaches the agent as nothing at all and the old
 *   x stays on the target;
 * - it skips IN_Q_OVERFLOW, so an overflow can only be guessed from event counts;
 * - it decodes names as UTF-8, so a Latin-1 or GBK name arrives with U+FFFD in it, a path that does not exist.
 * The helper reports every raw event (a rename is a delete plus a create; the create means "state unknown"), the
 * overflow, directories it cannot watch (the watch limit; it retries them), the root itself going away, and raw names
 * (decoded losslessly, see path-bytes.ts). It watches a new directory's whole subtree before it reports the directory,
 * so the recursive push of the directory that follows covers anything written before the watches existed, and it
 * moves the paths of watches along when a directory is renamed inside the tree.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { WatchEvent } from './change-set';
import { decodePath } from './path-bytes';

/** Where the agent build puts the helper (next to this file in dist/). RSYNCHUB_AGENT_INOTIFY_HELPER overrides it. */
export function inotifyHelperPath(): string {
  return process.env.RSYNCHUB_AGENT_INOTIFY_HELPER || path.join(__dirname, 'rsynchub-inotify');
}

/** Whether the helper can be used here (Linux, built, executable). */
export function inotifyHelperAvailable(helper = inotifyHelperPath()): boolean {
  if (process.platform !== 'linux') return false;
  try {
    fs.accessSync(helper, fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

export interface HelperRecord {
  type: 'c' | 'u' | 'd' | 'O' | 'E' | 'W' | 'R' | 'S';
  fields: Buffer[];
}

const FIELDS: Record<string, number> = { c: 1, u: 1, d: 1, O: 1, E: 2, W: 1, R: 1, S: 1 };

/** Splits the helper's output into records (type byte, NUL-terminated fields); keeps an incomplete tail for later. */
export class HelperParser {
  private tail: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): HelperRecord[] {
    const buf = this.tail.length > 0 ? Buffer.concat([this.tail, chunk]) : chunk;
    const out: HelperRecord[] = [];
    let pos = 0;
    for (;;) {
      if (pos >= buf.length) break;
      const type = String.fromCharCode(buf[pos]!);
      const nFields = FIELDS[type];
      if (nFields === undefined) throw new Error(`inotify helper: unknown record type ${JSON.stringify(type)}`);
      const fields: Buffer[] = [];
      let p = pos + 1;
      for (let f = 0; f < nFields; f++) {
        const nul = buf.indexOf(0, p);
        if (nul < 0) break;
        fields.push(buf.subarray(p, nul));
        p = nul + 1;
      }
      if (fields.length < nFields) break; // incomplete: wait for more
      out.push({ type: type as HelperRecord['type'], fields });
      pos = p;
    }
    this.tail = Buffer.from(buf.subarray(pos));
    return out;
  }
}

export interface InotifyWatcherOptions {
  root: string;
  onEvents: (events: WatchEvent[], afterQuiet: boolean) => void;
  onError: (err: Error) => void;
  /** Directories to push again: a directory that could not be watched is watched now, or (closing) still is not. */
  onRepush?: (dirs: string[], reason: 'watched' | 'closing') => void;
  /** The kernel's queue overflowed: events were lost (exactly known, not guessed). */
  onOverflow?: () => void;
  /** The root was deleted, moved away or unmounted; the watch has ended. */
  onRootGone?: () => void;
}

export class InotifyWatcher {
  private child: ChildProcess | null = null;
  private closed = false;
  private readonly failed = new Set<string>();
  /** Directories this helper watches (reported when it became ready). */
  watchedDirs = 0;

  constructor(private readonly o: InotifyWatcherOptions, private readonly retryMs = 60_000, private readonly helper = inotifyHelperPath()) {}

  start(): Promise<void> {
    return new Promise((resolve, reject) => {
      let ready = false;
      let stderr = '';
      let rootGone = false;
      const child = spawn(this.helper, ['--retry-ms', String(this.retryMs), this.o.root], { stdio: ['ignore', 'pipe', 'pipe'] });
      this.child = child;
      const parser = new HelperParser();
      child.stderr!.on('data', (d: Buffer) => {
        if (stderr.length < 4096) stderr += d.toString();
      });
      child.stdout!.on('data', (chunk: Buffer) => {
        if (this.closed || this.child !== child) return;
        const events: WatchEvent[] = [];
        const flush = () => {
          if (events.length > 0) this.o.onEvents(events.splice(0), false);
        };
        for (const r of parser.push(chunk)) {
          switch (r.type) {
            case 'c':
              events.push({ type: 'create', path: decodePath(r.fields[0]!) });
              break;
            case 'u':
              events.push({ type: 'update', path: decodePath(r.fields[0]!) });
              break;
            case 'd':
              events.push({ type: 'delete', path: decodePath(r.fields[0]!) });
              break;
            case 'S':
              ready = true;
              this.watchedDirs = Number(r.fields[0]!.toString());
              resolve();
              break;
            case 'O':
              flush();
              this.o.onOverflow?.();
              break;
            case 'E': {
              flush();
              const dir = decodePath(r.fields[0]!);
              this.failed.add(dir);
              const why = r.fields[1]!.toString();
              // ENOSPC from inotify_add_watch is the per-user watch limit, not a full disk: say so, and how to fix it.
              const fix = /No space left/.test(why) ? ': the inotify watch limit is reached (raise it: sysctl fs.inotify.max_user_watches=1048576)' : '';
              this.o.onError(new Error(`cannot watch ${dir} (${why}${fix}); full syncs until it can, retried every ${Math.round(this.retryMs / 1000)} s`));
              break;
            }
            case 'W': {
              flush();
              const dir = decodePath(r.fields[0]!);
              this.failed.delete(dir);
              this.o.onRepush?.([dir], 'watched');
              break;
            }
            case 'R':
              flush();
              rootGone = true;
              this.o.onRootGone?.();
              break;
          }
        }
        flush();
      });
      child.on('error', (e) => {
        if (!ready) reject(new Error(`cannot start the inotify helper ${this.helper}: ${e.message}`));
      });
      child.on('exit', (code, signal) => {
        if (this.child === child) this.child = null;
        if (!ready) {
          reject(new Error(`inotify helper exited (${code ?? signal}) before watching ${this.o.root}: ${stderr.trim()}`));
          return;
        }
        if (this.closed || rootGone) return;
        this.restartAfterCrash(`inotify helper exited (${code ?? signal})${stderr.trim() ? `: ${stderr.trim()}` : ''}`);
      });
    });
  }

  /**
   * Starts the helper again after it died. Only once it watches again is the error reported (which means a full sync
   * of the root): a full sync started earlier would miss what is written before the new watches exist.
   */
  private restartAfterCrash(why: string): void {
    setTimeout(() => {
      if (this.closed || this.child !== null) return;
      this.start().then(
        () => this.o.onError(new Error(`${why}; watching again`)),
        (e: Error) => {
          this.o.onError(e);
          this.restartAfterCrash(why);
        },
      );
    }, 1000).unref();
  }

  /** Directories that cannot be watched for now (the helper retries them). */
  get unwatched(): string[] {
    return [...this.failed].sort();
  }

  /** Kept for the interface of the @parcel/watcher-based RootWatcher: this watcher never needs extra subscriptions. */
  get extraSubscriptions(): string[] {
    return [];
  }

  async close(): Promise<void> {
    this.closed = true;
    const child = this.child;
    this.child = null;
    if (this.failed.size > 0) this.o.onRepush?.([...this.failed], 'closing');
    this.failed.clear();
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
    });
  }
}
