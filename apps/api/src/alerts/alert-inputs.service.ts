import { Inject, Injectable } from '@nestjs/common';
import * as fs from 'node:fs';
import type { DaemonStatusDto, StorageUsageEntry } from '@rsynchub/contracts';
import { APP_CONFIG, AppConfig } from '../config/app-config';
import { ConfigDriftService } from '../daemon/config-drift.service';
import { DaemonService } from '../daemon/daemon.service';
import { ModulesService } from '../modules/modules.service';
import { SourcesService } from '../sources/sources';
import { TransfersService } from '../transfers/transfers.service';
import { AlertInputs, DaemonInput, RecentSession, SourceInput } from './rules';
import { isLow, StorageThresholds } from './rules/storage-low.rule';

// The callback API: about half the CPU of fs.promises per call, which counts at two calls per module every evaluation.
const statOf = (p: string) => new Promise<fs.Stats>((resolve, reject) => fs.stat(p, (err, st) => (err ? reject(err) : resolve(st))));
const statfsOf = (p: string) => new Promise<fs.StatsFs>((resolve, reject) => fs.statfs(p, (err, st) => (err ? reject(err) : resolve(st))));

/** At most this many sessions are read per evaluation (newest first): the rules need recent ones only. */
const MAX_SESSIONS = 5_000;
const PAGE = 500;

/**
 * Gathers the facts the rules read, through the other domains' public services (never their tables). Keeps the
 * little history the daemon rule needs: since when the daemon is down, and when the supervisor restarted it.
 */
@Injectable()
export class AlertInputsCollector {
  private notRunningSince: number | null = null;
  private lastRestarts: number | null = null;
  private restartTimes: number[] = [];
  /** The last free-space sample: which roots/modules it covers (names and paths), when, and what it found. */
  private storageSample: { targets: string; at: number; entries: StorageUsageEntry[] } | null = null;

  constructor(
    private readonly daemon: DaemonService,
    private readonly transfers: TransfersService,
    private readonly modules: ModulesService,
    private readonly sources: SourcesService,
    private readonly configDrift: ConfigDriftService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  /** Called for every daemon status change too, so short crash/restart cycles between evaluations are counted. */
  observeDaemon(status: DaemonStatusDto, now = Date.now()): void {
    if (status.state === 'running' || status.state === 'starting') this.notRunningSince = null;
    else if (this.notRunningSince === null) {
      const exitAt = status.lastExit ? Date.parse(status.lastExit.at) : NaN;
      this.notRunningSince = Number.isFinite(exitAt) && exitAt <= now ? exitAt : now;
    }
    if (this.lastRestarts !== null && status.restarts > this.lastRestarts) {
      for (let i = this.lastRestarts; i < status.restarts; i++) this.restartTimes.push(now);
    }
    this.lastRestarts = status.restarts;
    this.restartTimes = this.restartTimes.filter((t) => now - t <= 24 * 3600_000).slice(-1000);
  }

  /**
   * `storageMaxAgeMs`: free space sampled at most this long ago is used again while the roots and modules are the same
   * ones (0: sample now). Sampling stats every module path (two syscalls each): at thousands of modules it is most of
   * an evaluation's cost, and event-triggered evaluations do not need it fresher than the periodic check.
   */
  async collect(lookbackSeconds: number, thresholds: StorageThresholds, storageMaxAgeMs = 0): Promise<AlertInputs> {
    const now = Date.now();
    const [sessions, modules, sources] = await Promise.all([
      this.recentSessions(now, lookbackSeconds).catch(() => null),
      this.modules.list().catch(() => null),
      this.sourceInputs(now).catch(() => null),
    ]);
    return {
      now,
      daemon: this.daemonInput(now),
      sessions,
      modules: modules ? modules.map((m) => m.name) : null,
      storage: modules ? await this.storage(modules.map((m) => ({ name: m.name, path: m.path })), thresholds, storageMaxAgeMs) : null,
      sources,
    };
  }

  private async sourceInputs(now: number): Promise<SourceInput[]> {
    return (await this.sources.list(new Date(now))).map((s) => ({
      name: s.name,
      hostname: s.hostname,
      state: s.state,
      lastSeenAt: s.lastSeenAt,
      secondsSinceSeen: s.secondsSinceSeen,
      targets: s.targets.map((t) => ({
        host: t.host, port: t.port, module: t.module, queueLength: t.queueLength, lagSeconds: t.lagSeconds,
        lastError: t.lastError, paused: t.paused === true, pauseReason: t.pauseReason ?? null,
      })),
    }));
  }

  private daemonInput(now: number): DaemonInput {
    const status = this.daemon.status();
    this.observeDaemon(status, now);
    return {
      state: status.state,
      pid: status.pid,
      lastError: status.lastError,
      lastExit: status.lastExit,
      notRunningSince: this.notRunningSince,
      restartTimes: [...this.restartTimes],
      // What /health reports (files still wrong), and the latest drift even if already repaired.
      drift: this.configDrift.problems.length > 0 ? this.configDrift.problems.join('; ') : null,
      lastDrift: this.configDrift.lastDetection,
    };
  }

  private async recentSessions(now: number, lookbackSeconds: number): Promise<RecentSession[]> {
    const from = new Date(now - lookbackSeconds * 1000).toISOString();
    const out: RecentSession[] = [];
    let cursor: string | undefined;
    do {
      const page = await this.transfers.list({ from, limit: PAGE, cursor });
      for (const s of page.items) {
        out.push({
          id: s.id,
          module: s.module,
          user: s.user,
          clientIp: s.clientIp,
          direction: s.direction,
          status: s.status,
          exitCode: s.exitCode,
          error: s.error,
          startedAt: s.startedAt,
          endedAt: s.endedAt,
        });
      }
      cursor = page.nextCursor ?? undefined;
    } while (cursor && out.length < MAX_SESSIONS);
    return out;
  }

  /** Free space of every storage root and module path (statfs), with the device that tells filesystems apart. */
  async storage(modules: { name: string; path: string }[], thresholds: StorageThresholds, maxAgeMs = 0): Promise<StorageUsageEntry[]> {
    const targets = [
      ...this.config.storageRoots.map((p) => ({ kind: 'root' as const, name: p, path: p })),
      ...modules.map((m) => ({ kind: 'module' as const, name: m.name, path: m.path })),
    ];
    const key = targets.map((t) => `${t.kind}\0${t.name}\0${t.path}`).join('\0\0');
    const now = Date.now();
    const last = this.storageSample;
    if (last && maxAgeMs > 0 && last.targets === key && now - last.at < maxAgeMs) {
      // Same figures, today's thresholds.
      return last.entries.map((e) => ({ ...e, low: isLow(e, thresholds) }));
    }
    const entries = await this.sampleStorage(targets, thresholds);
    this.storageSample = { targets: key, at: now, entries };
    return entries.map((e) => ({ ...e }));
  }

  private sampleStorage(targets: { kind: 'root' | 'module'; name: string; path: string }[], thresholds: StorageThresholds): Promise<StorageUsageEntry[]> {
    return Promise.all(
      targets.map(async (t): Promise<StorageUsageEntry> => {
        try {
          const [st, sf] = await Promise.all([statOf(t.path), statfsOf(t.path)]);
          const totalBytes = sf.blocks * sf.bsize;
          const freeBytes = sf.bavail * sf.bsize; // what an unprivileged writer (the daemon as nobody) can still use
          const freePercent = totalBytes > 0 ? (freeBytes / totalBytes) * 100 : 0;
          const entry = { ...t, filesystem: String(st.dev), freeBytes, totalBytes, freePercent, low: false, error: null };
          entry.low = isLow(entry, thresholds);
          return entry;
        } catch (err) {
          return { ...t, filesystem: null, freeBytes: null, totalBytes: null, freePercent: null, low: false, error: (err as NodeJS.ErrnoException).code ?? (err as Error).message };
        }
      }),
    );
  }
}
