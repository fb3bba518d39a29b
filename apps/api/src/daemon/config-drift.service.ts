import { Inject, Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { AuditService } from '../audit/audit.service';
import { APP_CONFIG, AppConfig } from '../config/app-config';
import { LiveEventsHub } from '../events/live-events.hub';
import { RsyncdConfigWriter } from './rsyncd-config-writer';

/** The periodic check also catches what fs.watch misses (e.g. a chmod on some filesystems, a lost event). */
const CHECK_EVERY_MS = 2_000;
const DEBOUNCE_MS = 100;

/**
 * Notices when rsyncd.conf, the secrets file or the motd file are changed, deleted or re-moded outside RsyncHub
 * (fs.watch on the data dir, plus a check of content hash and mode every 2 s), writes them back from the database,
 * and records the repair in the audit log (same transaction as the rewrite) and on the live stream. Until the files
 * are right again, `problems` is non-empty and /api/v1/health reports `degraded`.
 */
@Injectable()
export class ConfigDriftService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(ConfigDriftService.name);
  private watcher: fs.FSWatcher | null = null;
  private timer: NodeJS.Timeout | null = null;
  private debounce: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private stopped = false;
  private current: string[] = [];
  private lastFailure: string | null = null;
  private detected: { at: number; problems: string[]; count: number } | null = null;

  constructor(
    private readonly writer: RsyncdConfigWriter,
    private readonly audit: AuditService,
    private readonly hub: LiveEventsHub,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  /** Why the files are not what RsyncHub wrote, or empty. */
  get problems(): string[] {
    return [...this.current];
  }

  /**
   * The latest drift found since the server started (ms epoch, what was wrong, how many drifts so far), or null.
   * Repairs usually take well under a second, so `problems` alone rarely shows one: this is what tells an alert rule
   * that the files were changed outside RsyncHub at all.
   */
  get lastDetection(): { at: number; problems: string[]; count: number } | null {
    return this.detected ? { ...this.detected, problems: [...this.detected.problems] } : null;
  }

  onApplicationBootstrap(): void {
    const names = new Set(this.writer.ownedFiles.map((f) => path.basename(f)));
    try {
      this.watcher = fs.watch(this.config.dataDir, { persistent: false }, (_event, filename) => {
        if (filename === null || names.has(String(filename))) this.soon();
      });
      this.watcher.on('error', (err) => this.logger.warn(`watching ${this.config.dataDir} failed (${err.message}); the periodic check goes on`));
    } catch (err) {
      this.logger.warn(`cannot watch ${this.config.dataDir} (${(err as Error).message}); relying on the periodic check`);
    }
    this.timer = setInterval(() => this.kick(), CHECK_EVERY_MS);
    this.timer.unref();
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopped = true;
    this.watcher?.close();
    if (this.timer) clearInterval(this.timer);
    if (this.debounce) clearTimeout(this.debounce);
    await this.running;
  }

  private soon(): void {
    if (this.debounce || this.stopped) return;
    this.debounce = setTimeout(() => {
      this.debounce = null;
      this.kick();
    }, DEBOUNCE_MS);
    this.debounce.unref();
  }

  /** Runs one check (and repair) now unless one is under way; resolves when it is done. */
  kick(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    this.running ??= this.checkAndRepair()
      .catch((err: unknown) => this.logger.error(`config drift check failed: ${(err as Error).message}`))
      .finally(() => (this.running = null));
    return this.running;
  }

  private async checkAndRepair(): Promise<void> {
    const problems = this.writer.checkFiles();
    if (problems.length === 0) {
      this.current = [];
      return;
    }
    const fresh = problems.join('; ') !== this.current.join('; ');
    this.current = problems;
    if (fresh) {
      this.detected = { at: Date.now(), problems, count: (this.detected?.count ?? 0) + 1 };
      this.logger.warn(`daemon files changed outside RsyncHub: ${problems.join('; ')}; restoring them`);
      this.hub.publish('config.drift', { change: 'detected', problems, error: null });
    }
    try {
      // The rewrite (from the database) and its audit entry commit together.
      const entry = await this.writer.change((em) =>
        this.audit.insertIn(em, {
          actor: 'rsynchub',
          actorType: 'system',
          role: null,
          action: 'daemon.config.repair',
          target: 'daemon',
          clientIp: null,
          outcome: 'success',
          detail: `restored from the database: ${problems.join('; ')}`.slice(0, 2000),
          before: null,
          after: null,
        }),
      );
      this.audit.announce(entry);
      const left = this.writer.checkFiles();
      this.current = left;
      this.lastFailure = null;
      if (left.length === 0) {
        this.logger.log('daemon files restored');
        this.hub.publish('config.drift', { change: 'repaired', problems, error: null });
      }
    } catch (err) {
      const message = (err as Error).message;
      // Retried every check; said once per distinct failure, not every 2 s.
      if (fresh || message !== this.lastFailure) {
        this.logger.error(`could not restore the daemon files: ${message}`);
        this.hub.publish('config.drift', { change: 'repair-failed', problems, error: message });
      }
      this.lastFailure = message;
    }
  }
}
