/**
 * Bounds the rsync runs spent on a file that keeps being written (a slow download, a log, a big copy): every write
 * ends a batch, so a file written at 10 MB/s in 1 MB chunks cost a run per chunk (150 MB: 88 runs; lsyncd, which waits
 * for close_write, 2). @parcel/watcher does not report close_write, so the agent backs off per path instead: the first
 * BUSY_AFTER updates of a path within BUSY_WINDOW_MS go out at once (ordinary edits keep their latency), later ones
 * at most once per backoff delay (1 s, 2 s, 4 s ... MAX_DELAY_MS), and the file goes out once more as soon as it has been
 * quiet for QUIET_MS, so the final content is never late by more than that. Deletions and creations are never held;
 * a path counts as busy only above BUSY_AFTER updates within BUSY_WINDOW_MS (2.5 a second), so autosaves and
 * back-to-back edits are not.
 * Several busy files written together (a copy of a tree, parallel downloads) share their runs: whenever anything goes
 * out, held paths whose backoff ends within CO_RELEASE_FRACTION of their delay ride along, so paths whose steps began
 * a few ms apart (one write of a tick seen a batch later) fall into step instead of costing a run each.
 * Held updates live in memory like the coalescing window: an unclean stop is recovered by the full sync at restart.
 */
import type { Change } from './change-set';

export const BUSY_AFTER = 5;
export const BUSY_WINDOW_MS = 2_000;
export const FIRST_DELAY_MS = 1_000;
export const MAX_DELAY_MS = 30_000;
export const QUIET_MS = 1_000;
export const CO_RELEASE_FRACTION = 0.25;

interface PathState {
  recent: number[];
  lastEventAt: number;
  delay: number;
  nextAllowedAt: number;
  held: boolean;
}

export class BusyPathThrottle {
  private readonly paths = new Map<string, PathState>();
  private timer: NodeJS.Timeout | undefined;

  /** `release` receives held changes when their time comes. */
  constructor(private readonly release: (changes: Change[]) => void, private readonly now: () => number = Date.now) {}

  /** The changes to push now; busy updates are held back and released later. */
  filter(changes: readonly Change[]): Change[] {
    const now = this.now();
    const out: Change[] = [];
    for (const c of changes) {
      if (c.kind !== 'update' || c.path === '.') {
        this.paths.delete(c.path);
        out.push(c);
        continue;
      }
      let st = this.paths.get(c.path);
      if (!st) this.paths.set(c.path, (st = { recent: [], lastEventAt: now, delay: 0, nextAllowedAt: 0, held: false }));
      st.lastEventAt = now;
      st.recent = st.recent.filter((t) => now - t < BUSY_WINDOW_MS);
      st.recent.push(now);
      if (st.recent.length <= BUSY_AFTER || now >= st.nextAllowedAt) {
        if (st.recent.length > BUSY_AFTER) {
          st.delay = st.delay === 0 ? FIRST_DELAY_MS : Math.min(MAX_DELAY_MS, st.delay * 2);
          st.nextAllowedAt = now + st.delay;
        }
        st.held = false;
        out.push(c);
      } else {
        st.held = true;
      }
    }
    if (out.length > 0) this.releaseDue(now, out, true);
    this.schedule();
    return out;
  }

  /** Held paths (tests, stop). */
  get heldCount(): number {
    let n = 0;
    for (const st of this.paths.values()) if (st.held) n++;
    return n;
  }

  /** Releases everything held now (clean stop). */
  flushAll(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const out: Change[] = [];
    for (const [p, st] of this.paths) if (st.held) out.push({ path: p, kind: 'update' });
    this.paths.clear();
    if (out.length > 0) this.release(out);
  }

  private schedule(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    let next = Infinity;
    for (const st of this.paths.values()) {
      if (st.held) next = Math.min(next, st.nextAllowedAt, st.lastEventAt + QUIET_MS);
      else next = Math.min(next, st.lastEventAt + BUSY_WINDOW_MS); // forget idle paths
    }
    if (next === Infinity) return;
    this.timer = setTimeout(() => this.tick(), Math.max(10, next - this.now()));
    this.timer.unref?.();
  }

  private tick(): void {
    this.timer = undefined;
    const now = this.now();
    const out: Change[] = [];
    this.releaseDue(now, out, false);
    if (out.length > 0) this.releaseDue(now, out, true);
    for (const [p, st] of this.paths) if (!st.held && now - st.lastEventAt >= BUSY_WINDOW_MS) this.paths.delete(p);
    if (out.length > 0) this.release(out);
    this.schedule();
  }

  /**
   * Moves held paths whose time has come into `out`: quiet ones, and those at the end of their backoff step (or, when
   * riding along with a push that goes out anyway, within CO_RELEASE_FRACTION of it).
   */
  private releaseDue(now: number, out: Change[], ridingAlong: boolean): void {
    for (const [p, st] of this.paths) {
      if (!st.held) continue;
      const quiet = now - st.lastEventAt >= QUIET_MS;
      const slack = ridingAlong ? st.delay * CO_RELEASE_FRACTION : 0;
      if (!quiet && now < st.nextAllowedAt - slack) continue;
      out.push({ path: p, kind: 'update' });
      st.held = false;
      if (!quiet) {
        st.delay = Math.min(MAX_DELAY_MS, st.delay * 2);
        st.nextAllowedAt = now + st.delay;
      }
    }
  }
}
