import type { EntityManager } from 'typeorm';

/** One line of the config change log (migration 1764101600000): what changed, not how. */
export interface ConfigChange {
  /** 'm': a module or its grants ('key' is the module name); 'u': an rsync user (its name); '*': anything. */
  kind: 'm' | 'u' | '*';
  key: string | null;
}

/** How a mirror is built: from every row, or from an earlier state and the log lines after it. */
export interface MirrorSource<S> {
  full(em: EntityManager): Promise<S>;
  /** The state after `changes` (in log order) on top of `base`; null: build it from every row instead. */
  apply(em: EntityManager, base: S, changes: ConfigChange[]): Promise<S | null>;
}

/** More lines than this since the newest usable state: reading every row is cheaper than one row at a time. */
const MAX_CHANGES = 2_000;
/** States kept: the committed one, the dry run's and the real run's of the change in progress, one spare. */
const KEEP = 4;

/**
 * A state of some rows (e.g. every module, ready to render) kept in memory and brought up to date from the config
 * change log, which SQLite's own triggers write for every insert, update and delete of those rows, whoever makes it.
 *
 * Each state is labelled with the log line it includes last: its number and random token. A state is used only when
 * that very line (same number, same token) is in the log now: then the log up to it is the one the state was built
 * from, and the lines after it say what changed since. A rolled-back transaction takes its lines with it (its states
 * are never used again: the line is gone, or a later change wrote another token under its number); a restored or
 * replaced database has other tokens. The lines after the state must be consecutive (nothing pruned in between), or
 * the state is rebuilt from every row. Read inside the transaction that reads the rows (the writer's), so the log
 * and the rows are one snapshot; a read outside a transaction is served but not kept.
 */
export class ChangeLogMirror<S> {
  private states: { seq: number; token: string; state: S }[] = [];
  /** For tests and benchmarks: how the last read was served. */
  lastRead: 'kept' | 'applied' | 'full' = 'full';

  constructor(
    private readonly source: MirrorSource<S>,
    private readonly group: ChangeLogMirrors,
  ) {}

  async read(em: EntityManager): Promise<S> {
    const [head] = (await em.query(`SELECT seq, hex(token) AS token FROM config_changes ORDER BY seq DESC LIMIT 1`)) as { seq: number; token: string }[];
    const seq = head?.seq ?? 0;
    const token = head?.token ?? '';
    const keep = em.queryRunner?.isTransactionActive === true && seq > 0;
    const candidates = this.states.filter((s) => s.seq <= seq);
    let state: S | null = null;
    if (candidates.length > 0) {
      const rows = (await em.query(
        `SELECT seq, hex(token) AS token FROM config_changes WHERE seq IN (${candidates.map(() => '?').join(', ')})`,
        candidates.map((s) => s.seq),
      )) as { seq: number; token: string }[];
      const present = new Map(rows.map((r) => [r.seq, r.token]));
      const base = candidates.find((s) => present.get(s.seq) === s.token);
      if (base && base.seq === seq) {
        this.lastRead = 'kept';
        return base.state;
      }
      if (base && seq - base.seq <= MAX_CHANGES) {
        const changes = (await em.query(`SELECT kind, key FROM config_changes WHERE seq > ? ORDER BY seq`, [base.seq])) as ConfigChange[];
        // Consecutive numbers (rowids after the state's own): none pruned or deleted in between.
        if (changes.length === seq - base.seq && !changes.some((c) => c.kind === '*')) {
          state = await this.source.apply(em, base.state, changes);
          if (state !== null) this.lastRead = 'applied';
        }
      }
    }
    if (state === null) {
      state = await this.source.full(em);
      this.lastRead = 'full';
    }
    if (keep) {
      this.states = [{ seq, token, state }, ...this.states.filter((s) => s.seq !== seq || s.token !== token)].sort((a, b) => b.seq - a.seq).slice(0, KEEP);
      await this.group.prune(em);
    }
    return state;
  }

  /** The number of the oldest kept state's line: lines before it are needed by none of this mirror's states. */
  get oldestKept(): number | null {
    return this.states.length > 0 ? this.states[this.states.length - 1]!.seq : null;
  }
}

/**
 * The mirrors reading one database's log (one per server), so that pruning drops only lines none of them needs.
 * Pruning is a DELETE in the reading transaction: in a dry run it is rolled back with the rest, in the real run it
 * commits. Only ever a prefix: a mirror whose state is older finds a gap and rebuilds from every row.
 */
export class ChangeLogMirrors {
  private readonly members: ChangeLogMirror<unknown>[] = [];

  add<S>(source: MirrorSource<S>): ChangeLogMirror<S> {
    const mirror = new ChangeLogMirror(source, this);
    this.members.push(mirror as ChangeLogMirror<unknown>);
    return mirror;
  }

  async prune(em: EntityManager): Promise<void> {
    let below = Infinity;
    for (const m of this.members) below = Math.min(below, m.oldestKept ?? 0);
    if (!Number.isFinite(below) || below <= PRUNE_EVERY) return;
    // Asked of the table itself (its first rowid: one index step), not remembered: a prune in a dry run is rolled back.
    const [first] = (await em.query(`SELECT min(seq) AS seq FROM config_changes`)) as { seq: number | null }[];
    if (first?.seq === null || first?.seq === undefined || below - first.seq <= PRUNE_EVERY) return;
    await em.query(`DELETE FROM config_changes WHERE seq < ?`, [below]);
  }
}

/** Lines dropped at a time (a few thousand: one DELETE now and then, not one per change). */
const PRUNE_EVERY = 5_000;
