import { BadRequestException, Inject, Injectable, InternalServerErrorException, Logger, OnModuleDestroy, OnModuleInit, ServiceUnavailableException } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DataSource, EntityManager } from 'typeorm';
import type { DaemonSettingsDto, ModuleFields } from '@rsynchub/contracts';
import { configToProve, deepFrozen, RenderCache, RsyncdConfigError, renderRsyncdConf, renderSecretsFile, sweepStaleProofs, type ConfigSections, type RenderInput } from '@rsynchub/rsyncd';
import { APP_CONFIG, AppConfig } from '../config/app-config';
import { ValidationFailed } from '../common/errors';
import { DbWriteQueue } from '../database/db-write-queue';
import { auditInTransaction, currentRequestAudit, forgetRolledBackAudit } from '../audit/audit-context';
import { removeLeftoverTemps, writeFilesAtomically } from './atomic-file';
import { daemonPaths, DaemonPaths } from './daemon-paths';
import { ProofRunner } from './proof-runner';
import { ChangeLogMirrors } from './config-change-log';

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
  /** The TLS daemon's config for connections with a verified client certificate (tlsClientCert modules open). */
  tlsCertConfig: string;
  settings: DaemonSettingsDto;
  warnings: Record<string, string[]>;
  writtenAt: Date;
  /** `config` and `tlsConfig` as splitConfigSections cuts them, from the render (see RenderResult.parts). */
  parts?: { config: ConfigSections; tlsConfig: ConfigSections; tlsCertConfig: ConfigSections };
}

type Listener = (written: WrittenConfig, previous: WrittenConfig | null) => void | Promise<void>;

/**
 * The only writer of rsyncd.conf and the secrets file. Every change that affects them runs through `change()`:
 * the database change and the file swap commit together or not at all. Changes run one at a time (a lock of their
 * own, apart from the database write queue). Order of a change:
 *   1. (optional) the caller's `prepare` step, under the same lock (e.g. checks against the files on disk, mkdir);
 *   2. a dry run: the caller's mutation in a transaction that renders the config it leads to and is rolled back;
 *   3. the proof, OUTSIDE any transaction (log ingestion and other writes go on meanwhile): the real daemon code
 *      (`rsync --server --daemon` over a pipe, no port; see verifyConfigWithDaemon) must accept that config: its global part and every section that is not already in
 *      the live config (see configToProve: rsync's acceptance of a section depends on that section alone);
 *   4. the mutation again, for real, in a transaction: render both files, check the config is the one proven (if
 *      anything else changed it meanwhile, prove again, inside), swap the files in atomically (0600), commit.
 * A failure in any step leaves the database and the old files as they were. A mutation therefore must be
 * repeatable: the same database state must lead it to the same config (it may differ in what it returns).
 * The running daemon re-reads rsyncd.conf on every connection, so no restart is needed for module or user changes.
 */
@Injectable()
export class RsyncdConfigWriter implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger(RsyncdConfigWriter.name);
  private readonly paths: DaemonPaths;
  private sources: Partial<ConfigSources> = {};
  private last: WrittenConfig | null = null;
  private readonly listeners: Listener[] = [];
  /**
   * What RsyncHub last wrote to each file (mode 0600), to notice changes made outside it. The text itself, not a
   * hash: it is in memory anyway (the last render), and a write then costs no hashing of megabytes of config.
   */
  private readonly expected = new Map<string, string>();
  /**
   * Inode, size, mtime and ctime of each file when its hash above was last confirmed. While they are unchanged the
   * content is too (any write moves ctime, which user space cannot set back), so the drift check, which runs every
   * 2 s and after each write, re-reads and hashes a file only when they moved: at 6,000 modules the two configs are
   * 2.6 MB, and hashing them on every check took a large part of the server's CPU during module creates.
   */
  private readonly expectedStat = new Map<string, string>();
  private tempsChecked = false;
  /** The last secrets list rendered and its file text (see secretsText). */
  private lastSecrets: { list: readonly { name: string; password: string }[]; text: string } | null = null;
  /** Extra global lines owned by other domains (e.g. transfer logging); set before the first write. */
  private transferLogFormat: string | undefined;
  /** Serialises config changes (see the class comment) without holding the database queue during a proof. */
  private lock: Promise<unknown> = Promise.resolve();
  /** Each module's rendered section, reused while the module and the settings around it stay the same. */
  private readonly renderCache = new RenderCache();
  private readonly tlsRenderCache = new RenderCache();
  private readonly tlsCertRenderCache = new RenderCache();
  /** The sections of the config this process last proved and wrote (null until the first write: prove it all). */
  private accepted: Set<string> | null = null;
  /** The same for the TLS daemon's config (proven apart: it has its own globals and the full tlsOnly sections). */
  private tlsAccepted: Set<string> | null = null;
  /** The same for rsyncd-tls-cert.conf (its sections are rsyncd-tls.conf's but for the open tlsClientCert ones). */
  private tlsCertAccepted: Set<string> | null = null;
  /** What the last proof covered (for the benchmark and logs). */
  lastProof: { sections: number; skipped: number; ms: number } | null = null;
  /**
   * Runs the proofs' rsync processes from a small helper process: forking rsync from this (big) process cost the
   * event loop ~20-30 ms of CPU per proof. See proof-runner.ts for what happens when the helper dies or hangs.
   */
  private readonly proofs = new ProofRunner();
  /**
   * The in-memory states of the config's rows (modules, users) that the sources keep up to date from the config change
   * log (see config-change-log.ts), registered here: one per server, so log lines are pruned only once none needs them.
   */
  readonly changeLog = new ChangeLogMirrors();

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly writes: DbWriteQueue,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {
    this.paths = daemonPaths(config.dataDir);
  }

  onModuleInit(): void {
    this.proofs.warmUp();
  }

  onModuleDestroy(): void {
    this.proofs.stop();
  }

  get filePaths(): DaemonPaths {
    return this.paths;
  }

  /** For reads a `prepare` step makes (outside any transaction). */
  get readManager(): EntityManager {
    return this.dataSource.manager;
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

  /**
   * Applies `mutation` and the matching files together; see the class comment. `prepare` runs first under the same
   * lock, so what it checks cannot change before the mutation commits (config changes all go through here).
   */
  change<T>(mutation: (em: EntityManager) => Promise<T>, prepare?: () => Promise<void> | void): Promise<T> {
    const run = this.lock.then(async () => {
      if (prepare) await prepare();
      return this.changeNow(mutation);
    });
    this.lock = run.catch(() => undefined);
    return run;
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
      // A server killed mid-proof by an older version left its throwaway daemon serving on loopback: end it.
      const killed = await sweepStaleProofs().catch(() => []);
      if (killed.length > 0) this.logger.warn(`killed ${killed.length} proof daemon(s) left behind by an earlier run (pids ${killed.join(', ')})`);
    }
    // Steps 2 and 3 of the class comment: the config this change leads to, proven without holding the write queue.
    const draft = await this.dryRun(mutation);
    // The rsync processes side by side (two; a third only for a new tlsClientCert section): the wait is mostly their start-up.
    await Promise.all([
      this.prove(draft.written.parts!.config),
      this.proveTls(draft.written.parts!.tlsConfig),
      this.proveTlsCert(draft.written.parts!.tlsCertConfig, draft.written.parts!.tlsConfig),
    ]);
    try {
      result = await this.writes.transaction(async (em) => {
        previous = this.last;
        // Nothing at all written to the database since the dry run read its sources: the mutation runs on the same
        // state, so (being repeatable) it leads to the same files, already rendered and proven. Otherwise (log
        // ingestion, another process...) the sources are read and rendered again, and proven again if they differ.
        const unchanged = (await this.databaseStamp(em)) === draft.stamp;
        const value = await mutation(em);
        // The audited request's entry commits with the change (see audit-context.ts).
        await auditInTransaction(em);
        if (unchanged) {
          written = { ...draft.written, writtenAt: new Date() };
          // Not rendered again, but read: the modules source brings its in-memory state up to this transaction's rows
          // (a few rows, from the change log), so the next change starts from here and not from ever further back.
          await this.requireSource('modules')(em);
        } else {
          written = await this.render(em);
          if (written.config !== draft.written.config) await this.prove(written.parts!.config);
          if (written.tlsConfig !== draft.written.tlsConfig) await this.proveTls(written.parts!.tlsConfig);
          if (written.tlsCertConfig !== draft.written.tlsCertConfig) await this.proveTlsCert(written.parts!.tlsCertConfig, written.parts!.tlsConfig);
        }
        // Always read for real: a mutation may choose a password (a generated one) differently in each run. The
        // configs never hold a password, so the repeatability the reuse above relies on holds for them.
        const secretsText = this.secretsText(await this.requireSource('secrets')(em));
        try {
          fs.mkdirSync(this.paths.lockDir, { recursive: true, mode: 0o700 });
          // Secrets first: a config naming a user the secrets file lacks only denies that user.
          const files = [
            { file: this.paths.secretsFile, content: secretsText },
            { file: this.paths.motdFile, content: written.settings.motd ? written.settings.motd.replace(/\n?$/, '\n') : '' },
            { file: this.paths.configFile, content: written.config },
            { file: this.paths.tlsConfigFile, content: written.tlsConfig },
            { file: this.paths.tlsCertConfigFile, content: written.tlsCertConfig },
          ];
          // Only the files whose content changes (a user create leaves both configs as they are): each write is an
          // fsync. The previous content of a file RsyncHub wrote and nobody touched since is known, not read back.
          const changing = files.filter((f) => !this.unchangedOnDisk(f.file, f.content));
          swapped = writeFilesAtomically(changing, changing.map((f) => this.knownContent(f.file)));
          for (const f of changing) {
            this.expected.set(f.file, f.content);
            this.expectedStat.set(f.file, statSignature(f.file));
          }
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
    // The render's own section strings: each was hashed when it was first put in a set, not again on every change.
    this.accepted = new Set(written.parts!.config.sections);
    this.tlsAccepted = new Set(written.parts!.tlsConfig.sections);
    this.tlsCertAccepted = new Set(written.parts!.tlsCertConfig.sections);
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
    for (const [file, content] of this.expected) {
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
      const signature = signatureOf(st);
      if (this.expectedStat.get(file) === signature) continue;
      try {
        if (fs.readFileSync(file, 'utf8') !== content) problems.push(`${name}: content changed`);
        else this.expectedStat.set(file, signature);
      } catch (err) {
        problems.push(`${name}: cannot be read (${(err as Error).message})`);
      }
    }
    return problems;
  }

  /** The files the writer owns (for watching them). */
  get ownedFiles(): string[] {
    return [this.paths.secretsFile, this.paths.motdFile, this.paths.configFile, this.paths.tlsConfigFile, this.paths.tlsCertConfigFile];
  }

  private rememberFilesOnDisk(): void {
    for (const file of this.ownedFiles) {
      try {
        this.expected.set(file, fs.readFileSync(file, 'utf8'));
        this.expectedStat.set(file, statSignature(file));
      } catch {
        this.expected.delete(file);
        this.expectedStat.delete(file);
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
    return this.renderFrom(await this.gather(em));
  }

  /** What the config is made of, as `em` sees it (the database half of a render). */
  private async gather(em: EntityManager): Promise<{ settings: DaemonSettingsDto; modules: ModuleFields[]; bans: string[] }> {
    const settings = await this.requireSource('settings')(em);
    const modules = await this.requireSource('modules')(em);
    const bans = this.sources.bans ? await this.sources.bans(em) : [];
    return { settings, modules, bans };
  }

  /** The CPU half of a render (no database): thousands of sections when settings or bans changed. */
  /** `withTls` false: the TLS daemon's file is left out (''): a dry run proves only the plain config. */
  private renderFrom({ settings, modules, bans }: { settings: DaemonSettingsDto; modules: ModuleFields[]; bans: string[] }, withTls = true): WrittenConfig {
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
        cache: this.renderCache,
      };
      const { text, warnings, parts } = renderRsyncdConf(input);
      // Same lock dir and log file: max connections count across both daemons, one log is ingested. A cache of its
      // own: the TLS file's sections differ (tlsOnly modules), and one shared cache would be reset by every switch.
      const none = { global: '', sections: [] };
      if (!withTls) return { config: text, tlsConfig: '', tlsCertConfig: '', settings, warnings, writtenAt: new Date(), parts: { config: parts, tlsConfig: none, tlsCertConfig: none } };
      const tlsInput: RenderInput = {
        ...input, transport: 'tls', proxyProtocolHosts: ['127.0.0.1'], paths: { ...input.paths, pidFile: this.paths.tlsPidFile }, cache: this.tlsRenderCache,
      };
      const tls = renderRsyncdConf(tlsInput);
      // A third file, for TLS connections with a verified client certificate: the front chooses per connection. Its
      // own cache again. With no (enabled) tlsClientCert module it is the same text as rsyncd-tls.conf, so it is not
      // rendered at all: most servers pay one scan of the list (a render pass at 10,000 modules is ~15 ms).
      const needsCertRender = modules.some((m) => m.tlsClientCert === true && m.enabled !== false);
      const tlsCert = needsCertRender ? renderRsyncdConf({ ...tlsInput, clientCertVerified: true, cache: this.tlsCertRenderCache }) : tls;
      return {
        config: text,
        tlsConfig: tls.text,
        tlsCertConfig: tlsCert.text,
        settings,
        warnings,
        writtenAt: new Date(),
        parts: { config: parts, tlsConfig: tls.parts, tlsCertConfig: tlsCert.parts },
      };
    } catch (err) {
      if (err instanceof RsyncdConfigError) throw new ValidationFailed(err.issues);
      throw err;
    }
  }

  /**
   * The secrets file for `secrets`. The same frozen list as last time (the users source hands out the same one while
   * its rows are unchanged) is the same file: not rendered again.
   */
  private secretsText(secrets: { name: string; password: string }[]): string {
    if (this.lastSecrets?.list === secrets) return this.lastSecrets.text;
    const text = this.renderSecretsOrFail(secrets);
    // Only a list that can never change is remembered by identity (checked once, here).
    this.lastSecrets = deepFrozen(secrets) ? { list: secrets, text } : null;
    return text;
  }

  private renderSecretsOrFail(secrets: { name: string; password: string }[]): string {
    try {
      return renderSecretsFile(secrets);
    } catch (err) {
      if (err instanceof RsyncdConfigError) throw new ValidationFailed(err.issues.map((i) => ({ ...i, message: i.message })));
      throw err;
    }
  }

  /**
   * Runs `mutation` in a transaction that is then rolled back, and renders the config it led to. Only the reads are
   * inside the transaction: rendering (all sections again after a settings or ban change) does not hold the queue,
   * and it leaves the render cache warm for the real run.
   */
  private async dryRun(mutation: (em: EntityManager) => Promise<unknown>): Promise<{ written: WrittenConfig; stamp: string }> {
    let inputs: Awaited<ReturnType<RsyncdConfigWriter['gather']>> | null = null;
    let stamp = '';
    try {
      await this.writes.transaction(async (em) => {
        await mutation(em);
        inputs = await this.gather(em);
        // Last: the count includes the mutation's own changes, which the rollback undoes but does not uncount.
        stamp = await this.databaseStamp(em);
        throw ROLLBACK;
      });
    } catch (err) {
      if (err !== ROLLBACK) throw err;
    }
    // Both files are proven before either is written (the TLS one by an inetd-mode rsync): the TLS render costs one
    // more pass over the sections per change, the price of never writing a TLS config rsync refuses.
    return { written: this.renderFrom(inputs!), stamp };
  }

  /**
   * Changes when anything is written to the database: rows changed through this process's connection (counted even
   * when rolled back; RsyncHub has one connection) and commits by any other connection (data_version). Taken at the
   * end of the dry run and at the start of the real run: equal means no row changed in between except by the dry
   * run's own rolled-back statements, so the real run starts from the state the dry run started from.
   */
  private async databaseStamp(em: EntityManager): Promise<string> {
    const [changes] = (await em.query('SELECT total_changes() AS n')) as { n: number }[];
    const [version] = (await em.query('PRAGMA data_version')) as { data_version: number }[];
    return `${changes?.n}:${version?.data_version}`;
  }

  /** The file holds `content` already: RsyncHub wrote exactly that and the file has not changed since. */
  private unchangedOnDisk(file: string, content: string): boolean {
    return this.expected.get(file) === content && this.knownContent(file) !== undefined;
  }

  /**
   * What the file holds, when RsyncHub wrote it, it is still a regular file of mode 0600, and its inode, size and
   * times are the ones last confirmed; else undefined (then the file is written, and its old content read back).
   */
  private knownContent(file: string): string | undefined {
    const content = this.expected.get(file);
    if (content === undefined) return undefined;
    let st: fs.Stats;
    try {
      st = fs.lstatSync(file);
    } catch {
      return undefined;
    }
    // checkFiles confirms a chmod-ed file's content and takes its new times as known: its mode still needs the write.
    if (!st.isFile() || (st.mode & 0o777) !== 0o600) return undefined;
    return this.expectedStat.get(file) === signatureOf(st) ? content : undefined;
  }

  /** The proof could not run (its helper died, hung or answered nonsense): the change is refused, unwritten. */
  private unproven(error: string): ServiceUnavailableException {
    this.logger.error(`config proof could not run: ${error}`);
    return new ServiceUnavailableException(`the configuration change was not written: its proof by rsync could not run (${error}); try again`);
  }

  /**
   * The listing a proof asks for never opens the secrets file (and the config names the live one anyway), so the
   * proof's rsync gets an empty one: no copy of the passwords is written to a temp dir.
   */
  private async prove(config: ConfigSections): Promise<void> {
    const started = performance.now();
    const part = configToProve(config, this.accepted);
    // A generous deadline: the proof holds up only other config changes now, and a false "refused" on a loaded
    // machine (rsync slow to start) would fail an admin's change for nothing.
    const outcome = await this.proofs.prove('daemon', part.text, this.config.rsyncBinary, PROOF_TIMEOUT_MS);
    this.lastProof = { sections: part.sections, skipped: part.skipped, ms: performance.now() - started };
    if (!outcome.ok && outcome.unproven) throw this.unproven(outcome.error);
    if (!outcome.ok) {
      this.logger.warn(`generated config refused by rsync: ${outcome.error}`);
      throw new BadRequestException(`the rsync daemon refused the generated configuration: ${outcome.error}`);
    }
  }

  /**
   * The TLS daemon's config (rsyncd-tls.conf), proven the way it is used: one inetd-mode rsync on a private pair,
   * given a PROXY line and a module-list request (see verifyInetdConfig). Only its globals and the sections not
   * already accepted, as for the plain file.
   */
  private async proveTls(config: ConfigSections): Promise<void> {
    const part = configToProve(config, this.tlsAccepted);
    const outcome = await this.proofs.prove('inetd', part.text, this.config.rsyncBinary, PROOF_TIMEOUT_MS);
    if (!outcome.ok && outcome.unproven) throw this.unproven(outcome.error);
    if (!outcome.ok) {
      this.logger.warn(`generated TLS daemon config refused by rsync: ${outcome.error}`);
      throw new BadRequestException(`the rsync daemon refused the generated configuration for the TLS listener (rsyncd-tls.conf): ${outcome.error}`);
    }
  }

  /**
   * rsyncd-tls-cert.conf, proven like rsyncd-tls.conf. It differs from that file only in the open tlsClientCert
   * sections, and its globals are the same text (proven with it, see the caller): only sections that neither file
   * proven before nor rsyncd-tls.conf of this change holds are proven, and nothing runs when there are none (most
   * changes: a module without the setting), so a config change costs no third rsync.
   */
  private async proveTlsCert(config: ConfigSections, tlsConfig: ConfigSections): Promise<void> {
    const known = new Set(tlsConfig.sections);
    for (const s of this.tlsCertAccepted ?? []) known.add(s);
    const sameGlobals = config.global === tlsConfig.global;
    if (sameGlobals && this.tlsCertAccepted !== null && config.sections.every((s) => known.has(s))) return;
    const part = configToProve(config, sameGlobals && this.tlsCertAccepted !== null ? known : null);
    const outcome = await this.proofs.prove('inetd', part.text, this.config.rsyncBinary, PROOF_TIMEOUT_MS);
    if (!outcome.ok && outcome.unproven) throw this.unproven(outcome.error);
    if (!outcome.ok) {
      this.logger.warn(`generated TLS client-certificate daemon config refused by rsync: ${outcome.error}`);
      throw new BadRequestException(`the rsync daemon refused the generated configuration for TLS clients with a certificate (rsyncd-tls-cert.conf): ${outcome.error}`);
    }
  }
}

const PROOF_TIMEOUT_MS = 20_000;

/** Thrown inside a dry run's transaction to roll it back. */
const ROLLBACK = Symbol('dry run');

function signatureOf(st: fs.Stats): string {
  return `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}`;
}

/** The file's signature now ('' if it cannot be read: never equal to a real one, so the content is checked). */
function statSignature(file: string): string {
  try {
    return signatureOf(fs.lstatSync(file));
  } catch {
    return '';
  }
}

