/**
 * State the operator controls or must confirm, kept in the state dir so the CLI can talk to a running agent (and so it
 * survives restarts):
 * - STATE_DIR/paused/<target id>.json: {"paused":true,"reason":...,"at":...} pauses a target (written by the agent's
 *   delete guard or by `rsynchub-agent pause`); {"paused":false} is a resume request the agent consumes.
 * - STATE_DIR/roots.json: each watched root's device and inode when it was last accepted, so a root that is suddenly on
 *   another device (its file system unmounted: the path now shows the parent's) is refused before it can wipe targets.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeFileAtomic } from './journal';
import type { Logger } from './log';

export interface PauseRequest {
  paused: boolean;
  reason: string;
  at: string;
}

export class PauseStore {
  readonly dir: string;
  constructor(stateDir: string) {
    this.dir = path.join(stateDir, 'paused');
  }

  /** Pause (or clear, with null) a target's file. */
  write(id: string, pause: { reason: string; at: string } | null): void {
    const file = path.join(this.dir, `${id}.json`);
    if (pause === null) {
      fs.rmSync(file, { force: true });
      return;
    }
    fs.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    writeFileAtomic(file, JSON.stringify({ paused: true, ...pause }) + '\n', 0o600);
  }

  /** A resume request for the running agent (or the next start). */
  requestResume(id: string): void {
    fs.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    writeFileAtomic(path.join(this.dir, `${id}.json`), JSON.stringify({ paused: false, reason: '', at: new Date().toISOString() }) + '\n', 0o600);
  }

  readAll(): Map<string, PauseRequest> {
    const out = new Map<string, PauseRequest>();
    let names: string[];
    try {
      names = fs.readdirSync(this.dir);
    } catch {
      return out;
    }
    for (const n of names) {
      if (!n.endsWith('.json')) continue;
      try {
        const r = JSON.parse(fs.readFileSync(path.join(this.dir, n), 'utf8')) as Partial<PauseRequest>;
        out.set(n.slice(0, -5), { paused: r.paused === true, reason: String(r.reason ?? 'paused'), at: String(r.at ?? '') });
      } catch {
        // being replaced (atomic rename) or foreign: read again next tick
      }
    }
    return out;
  }
}

interface RootIdentity {
  dev: number;
  ino: number;
  at: string;
}

export class RootIdentityStore {
  private readonly file: string;
  private ids: Record<string, RootIdentity> = {};
  private warnedReplaced = new Set<string>();

  constructor(stateDir: string, private readonly log: Logger) {
    this.file = path.join(stateDir, 'roots.json');
    try {
      this.ids = JSON.parse(fs.readFileSync(this.file, 'utf8')) as Record<string, RootIdentity>;
    } catch {
      this.ids = {};
    }
  }

  /** Records the root's identity: the first time, or always with `accept` (an explicit resume). */
  record(root: string, accept = false): void {
    if (this.ids[root] && !accept) return;
    try {
      const st = fs.statSync(root);
      this.ids[root] = { dev: st.dev, ino: st.ino, at: new Date().toISOString() };
      this.warnedReplaced.delete(root);
      writeFileAtomic(this.file, JSON.stringify(this.ids, null, 2) + '\n', 0o600);
    } catch {
      // missing root: preflight says so at start; runs fail on their own meanwhile
    }
  }

  /**
   * Why the root must not be pushed from now, or null. A different device means the file system that was mounted there
   * is gone (the path now shows the mount point's parent file system): pushing would mirror the empty mount point.
   * A different inode on the same device means the directory was replaced (rm -rf + mkdir, a mv swap): allowed, since
   * the full sync's preflight refuses to empty the target or delete more than the configured share of it.
   */
  check(root: string): string | null {
    const rec = this.ids[root];
    if (!rec) return null;
    let st: fs.Stats;
    try {
      st = fs.statSync(root);
    } catch {
      return null;
    }
    if (st.dev !== rec.dev) {
      return `watched root ${root} is on another device now (dev ${st.dev}, was ${rec.dev} when accepted at ${rec.at}): its file system looks unmounted`;
    }
    if (st.ino !== rec.ino && !this.warnedReplaced.has(root)) {
      this.warnedReplaced.add(root);
      this.log.warn('watched root was replaced (new inode, same device); full syncs are checked by the delete guard', { root, ino: st.ino, was: rec.ino });
    }
    return null;
  }
}
