import { BadRequestException, Inject, Injectable, InternalServerErrorException, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DataSource, EntityManager } from 'typeorm';
import type { DaemonSettingsDto, ModuleFields } from '@rsynchub/contracts';
import { RsyncdConfigError, renderRsyncdConf, renderSecretsFile, verifyConfigWithDaemon, type RenderInput } from '@rsynchub/rsyncd';
import { APP_CONFIG, AppConfig } from '../config/app-config';
import { ValidationFailed } from '../common/errors';
import { DbWriteQueue } from '../database/db-write-queue';
import { auditInTransaction, currentRequestAudit, forgetRolledBackAudit } from '../audit/audit-context';
import { removeLeftoverTemps, writeFilesAtomically } from './atomic-file';
import { daemonPaths, DaemonPaths } from './daemon-paths';

/** What each domain contributes to the rendered files, read inside the same transaction as the change. */
export interface ConfigSources {
  settings(em: EntityManager): Promise<DaemonSettingsDto>;
  modules(em: EntityManager): Promise<ModuleFields[]>;
  secrets(em: EntityManager): Promise<{ name: string; password: string }[]>;
  /** Client addresses every module refuses (optional: no bans without it). */
  bans(em: EntityManager): Promise<string[]>;
}

export interface WrittenConfig {
  config: string;
  /** The same modules for the daemon behind the TLS listener (proxy protocol on; tlsOnly modules open). */
  tlsConfig: string;
  settings: DaemonSettingsDto;
  warnings: Record<string, string[]>;
  writtenAt: Date;
}

type Listener = (written: WrittenConfig, previous: WrittenConfig | null) => void | Promise<void>;

/**
 * The only writer of rsyncd.conf and the secrets file. Every change that affects them runs through `change()`:
 * the database change and the file swap commit together or not at all. Order of a change:
 *   1. run the caller's change inside a transaction (serialised: one change at a time);
 *   2. render both files from the state the transaction now sees;
 *   3. prove the config with a throwaway daemon on a spare loopback port;
 *   4. swap the files in atomically (0600);
 *   5. commit. A failure in any step rolls the transaction back and leaves the old files in place.
 * The running daemon re-reads rsyncd.conf on every connection, so no restart is needed for module or user changes.
 */
@Injectable()
export class RsyncdConfigWriter {
  private readonly logger = new Logger(RsyncdConfigWriter.name);
  private readonly paths: DaemonPaths;
  private sources: Partial<ConfigSources> = {};
  private last: WrittenConfig | null = null;
  private readonly listeners: Listener[] = [];
  /** sha256 of what RsyncHub last wrote to each file (mode 0600), to notice changes made outside it. */
  private readonly expected = new Map<string, string>();
  private tempsChecked = false;
  /** Extra global lines owned by other domains (e.g. transfer logging); set before the first write. */
  private transferLogFormat: string | undefined;

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly writes: DbWriteQueue,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {
    this.paths = daemonPaths(config.dataDir);
  }

  get filePaths(): DaemonPaths {
    return this.paths;
  }

  get lastWritten(): WrittenConfig | null {
    return this.last;
  }

  registerSource<K extends keyof ConfigSources>(kind: K, source: ConfigSources[K]): void {
    this.sources[kind] = source;
  }

  setTransferLogFormat(format: string): void {
    this.transferLogFormat = format;
  }

  /** Called after each successful write with the new and the previous state (e.g. to restart on a port change). */
  onWritten(listener: Listener): void {
    this.listeners.push(listener);
  }

  /** Applies `mutation` and the matching files together; see the class comment. */
  change<T>(mutation: (em: EntityManager) => Promise<T>): Promise<T> {
    return this.changeNow(mutation);
  }

  /** Re-renders from the database as it is (start-up, or after a crash left files behind). */
  regenerate(): Promise<void> {
    return this.change(async () => undefined);
  }

  /** Renders what the files would be for the current state, without writing anything. */
  async preview(): Promise<WrittenConfig> {
    return this.render(this.dataSource.manager);
  }

  private async changeNow<T>(mutation: (em: EntityManager) => Promise<T>): Promise<T> {
    let previous: WrittenConfig | null = null;
    let written!: WrittenConfig;
    let swapped: { restore: () => void } | null = null;
    let result: T;
    const auditBefore = currentRequestAudit()?.entryId ?? null;
    if (!this.tempsChecked) {
      this.tempsChecked = true;
      this.removeTemps('left by an earlier run');
    }
    try {
      result = await this.writes.transaction(async (em) => {
        previous = this.last;
        const value = await mutation(em);
        // The audited request's entry commits with the change (see audit-context.ts).
        await auditInTransaction(em);
        written = await this.render(em);
        const secrets = await this.requireSource('secrets')(em);
        const secretsText = this.renderSecretsOrFail(secrets);
        await this.prove(written.config, secretsText);
        try {
          fs.mkdirSync(this.paths.lockDir, { recursive: true, mode: 0o700 });
          // Secrets first: a config naming a user the secrets file lacks only denies that user.
          const files = [
            { file: this.paths.secretsFile, content: secretsText },
            { file: this.paths.motdFile, content: written.settings.motd ? written.settings.motd.replace(/\n?$/, '\n') : '' },
            { file: this.paths.configFile, content: written.config },
            { file: this.paths.tlsConfigFile, content: written.tlsConfig },
          ];
          swapped = writeFilesAtomically(files);
          for (const f of files) this.expected.set(f.file, sha256(f.content));
        } catch (err) {
          this.removeTemps('after a failed write');
          throw new InternalServerErrorException(`could not write the daemon configuration: ${(err as Error).message}`);
        }
        this.last = written;
        return value;
      });
    } catch (err) {
      forgetRolledBackAudit(auditBefore);
      // The files were swapped but the database did not commit (the last step): files and database must agree.
      if (swapped) {
        (swapped as { restore: () => void }).restore();
        this.last = previous;
        this.rememberFilesOnDisk();
      }
      throw err;
    }
    for (const listener of this.listeners) {
      try {
        await listener(written, previous);
      } catch (err) {
        this.logger.error(`config listener failed: ${(err as Error).message}`);
      }
    }
    return result;
  }

  /**
   * What differs between the files and what RsyncHub last wrote: deleted, replaced by something that is not a
   * regular file, content changed, or a mode other than 0600. Empty before the first write.
   */
  checkFiles(): string[] {
    const problems: string[] = [];
    for (const [file, hash] of this.expected) {
      const name = path.basename(file);
      let st: fs.Stats;
      try {
        st = fs.lstatSync(file);
      } catch (err) {
        problems.push((err as NodeJS.ErrnoException).code === 'ENOENT' ? `${name}: deleted` : `${name}: cannot be read (${(err as Error).message})`);
        continue;
      }
      if (!st.isFile()) {
        problems.push(`${name}: replaced by ${st.isSymbolicLink() ? 'a symbolic link' : 'something that is not a file'}`);
        continue;
      }
      if ((st.mode & 0o777) !== 0o600) problems.push(`${name}: mode ${(st.mode & 0o777).toString(8)} (expected 600)`);
      try {
        if (sha256(fs.readFileSync(file, 'utf8')) !== hash) problems.push(`${name}: content changed`);
      } catch (err) {
        problems.push(`${name}: cannot be read (${(err as Error).message})`);
      }
    }
    return problems;
  }

  /** The files the writer owns (for watching them). */
  get ownedFiles(): string[] {
    return [this.paths.secretsFile, this.paths.motdFile, this.paths.configFile, this.paths.tlsConfigFile];
  }

  private rememberFilesOnDisk(): void {
    for (const file of this.ownedFiles) {
      try {
        this.expected.set(file, sha256(fs.readFileSync(file, 'utf8')));
      } catch {
        this.expected.delete(file);
      }
    }
  }

  private removeTemps(when: string): void {
    try {
      const removed = removeLeftoverTemps(this.ownedFiles);
      if (removed.length > 0) this.logger.warn(`removed ${removed.length} temp file(s) ${when}: ${removed.map((f) => path.basename(f)).join(', ')}`);
    } catch (err) {
      this.logger.error(`could not remove leftover temp files: ${(err as Error).message}`);
    }
  }

  private requireSource<K extends keyof ConfigSources>(kind: K): ConfigSources[K] {
    const source = this.sources[kind];
    if (!source) throw new Error(`no ${kind} source registered with RsyncdConfigWriter`);
    return source;
  }

  private async render(em: EntityManager): Promise<WrittenConfig> {
    const settings = await this.requireSource('settings')(em);
    const modules = await this.requireSource('modules')(em);
    const bans = this.sources.bans ? await this.sources.bans(em) : [];
    try {
      const input: RenderInput = {
        settings,
        modules,
        runningAsRoot: process.getuid?.() === 0,
        paths: {
          secretsFile: this.paths.secretsFile,
          pidFile: this.paths.pidFile,
          lockDir: this.paths.lockDir,
          logFile: this.paths.logFile,
          motdFile: settings.motd ? this.paths.motdFile : undefined,
        },
        transferLogFormat: this.transferLogFormat,
        bans,
      };
      const { text, warnings } = renderRsyncdConf(input);
      // Same lock dir and log file: max connections count across both daemons, one log is ingested.
      const tls = renderRsyncdConf({ ...input, transport: 'tls', proxyProtocolHosts: ['127.0.0.1'], paths: { ...input.paths, pidFile: this.paths.tlsPidFile } });
      return { config: text, tlsConfig: tls.text, settings, warnings, writtenAt: new Date() };
    } catch (err) {
      if (err instanceof RsyncdConfigError) throw new ValidationFailed(err.issues);
      throw err;
    }
  }

  private renderSecretsOrFail(secrets: { name: string; password: string }[]): string {
    try {
      return renderSecretsFile(secrets);
    } catch (err) {
      if (err instanceof RsyncdConfigError) throw new ValidationFailed(err.issues.map((i) => ({ ...i, message: i.message })));
      throw err;
    }
  }

  private async prove(configText: string, secretsText: string): Promise<void> {
    const outcome = await verifyConfigWithDaemon(configText, secretsText, { rsyncPath: this.config.rsyncBinary });
    if (!outcome.ok) {
      this.logger.warn(`generated config refused by rsync: ${outcome.error}`);
      throw new BadRequestException(`the rsync daemon refused the generated configuration: ${outcome.error}`);
    }
  }
}

function sha256(text: string): string {
  return crypto.createHash('sha256').update(text).digest('hex');
}
