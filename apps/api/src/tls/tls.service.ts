import { Inject, Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import * as fs from 'node:fs';
import { Repository } from 'typeorm';
import type { TlsCertificateDto, TlsStatusDto } from '@rsynchub/contracts';
import { APP_CONFIG, AppConfig } from '../config/app-config';
import { RsyncdConfigWriter } from '../daemon/rsyncd-config-writer';
import { CertificateStore } from './certificate-store';
import { CertificateInfo, compactFingerprint } from './certificates';
import { verifyInetdConfig } from '@rsynchub/rsyncd';
import { chooseTlsFront, NativeTlsFront, type TlsFrontRunner } from './tls-front-native';
import { TlsSettingsEntity } from './tls-settings.entity';

export const CERTIFICATE_STORE = Symbol('CERTIFICATE_STORE');

/** A new network address gets into the private CA's server certificate within this. */
const NAMES_CHECK_MS = 10 * 60_000;

function certificateDto(info: CertificateInfo | null): TlsCertificateDto | null {
  if (!info) return null;
  return {
    subject: info.subject,
    issuer: info.issuer,
    notBefore: info.notBefore.toISOString(),
    notAfter: info.notAfter.toISOString(),
    dnsNames: info.dnsNames,
    ipAddresses: info.ipAddresses,
    fingerprint256: info.fingerprint256,
    fingerprint: compactFingerprint(info.fingerprint256),
  };
}

/**
 * The rsync-over-TLS listener as a whole: the console setting, the certificate, and the TLS front that runs one
 * proxy-protocol daemon per connection (inetd mode; the native front tls-front-native.ts, or the Node one tls-front.ts). Never fails the server's start: a port in use or an unreadable certificate shows in
 * GET /api/v1/tls and the plain daemon keeps serving.
 */
@Injectable()
export class TlsService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(TlsService.name);
  private readonly front: TlsFrontRunner;
  /** Why the Node front runs instead of the native one (null: native). */
  private readonly frontWhy: string | null;
  private enabled = true;
  private address: string;
  private publicHost = '';
  private lastError: string | null = null;
  private namesTimer: NodeJS.Timeout | null = null;
  private shuttingDown = false;
  /** Start/stop one at a time (two admins toggling at once). */
  private op: Promise<unknown> = Promise.resolve();

  constructor(
    @InjectRepository(TlsSettingsEntity) private readonly repo: Repository<TlsSettingsEntity>,
    private readonly writer: RsyncdConfigWriter,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(CERTIFICATE_STORE) readonly store: CertificateStore,
  ) {
    this.address = config.rsyncAddress;
    const choice = chooseTlsFront(config.tls.front, this.logger);
    this.front = choice.front;
    this.frontWhy = choice.why;
  }

  /**
   * Does not hold up the server's start (the HTTP port opens after every bootstrap hook): the certificate and the
   * listener come up in the background, and GET /api/v1/tls says when the listener is up.
   */
  async onApplicationBootstrap(): Promise<void> {
    const row = await this.repo.findOneBy({ id: 1 });
    if (!row) await this.repo.insert({ id: 1, enabled: true, updatedAt: new Date() });
    this.enabled = row?.enabled ?? true;
    this.stopLeftoverListeningDaemon();
    this.store.onChange((served) => this.front.setCertificate(served.certPem, served.keyPem));
    this.writer.onWritten(async (written) => {
      const publicHost = written.settings.publicHost ?? '';
      if (publicHost !== this.publicHost) {
        this.publicHost = publicHost;
        await this.store.refreshNames(publicHost);
      }
      if (written.settings.address !== this.address) {
        this.address = written.settings.address;
        if (this.front.listening) await this.serialise(() => this.restartFront());
      }
    });
    void this.serialise(() => this.bringUp()).catch((err: unknown) => {
      this.lastError = (err as Error).message;
      this.logger.error(`TLS listener off: ${this.lastError}`);
    });
  }

  private async bringUp(): Promise<void> {
    if (this.shuttingDown) return;
    if (!this.writer.lastWritten) {
      try {
        await this.writer.regenerate();
      } catch (err) {
        this.lastError = `no daemon configuration to serve: ${(err as Error).message}`;
      }
    }
    this.publicHost = this.writer.lastWritten?.settings.publicHost ?? '';
    this.address = this.writer.lastWritten?.settings.address ?? this.address;
    try {
      await this.store.load(this.publicHost);
      this.store.watch();
    } catch (err) {
      this.lastError = (err as Error).message;
      this.logger.error(`TLS listener off: ${this.lastError}`);
      return;
    }
    this.namesTimer = setInterval(() => void this.store.refreshNames(this.publicHost), NAMES_CHECK_MS);
    this.namesTimer.unref();
    if (this.enabled && this.config.startDaemon && !this.shuttingDown) await this.startListener();
  }

  async onApplicationShutdown(): Promise<void> {
    this.shuttingDown = true;
    await this.op; // a start still under way finishes first, then everything it started is stopped
    if (this.namesTimer) clearInterval(this.namesTimer);
    this.store.close();
    await this.front.stop();
  }

  async setEnabled(enabled: boolean): Promise<{ before: { enabled: boolean }; after: { enabled: boolean } }> {
    const before = { enabled: this.enabled };
    await this.repo.update({ id: 1 }, { enabled, updatedAt: new Date() });
    this.enabled = enabled;
    await this.serialise(() => (enabled ? this.startListener() : this.stopListener()));
    return { before, after: { enabled } };
  }

  status(): TlsStatusDto {
    const served = this.store.current;
    const listening = this.front.listening;
    const daemonProblem = this.enabled && this.front.lastDaemonError ? `TLS daemon: ${this.front.lastDaemonError}` : null;
    const frontProblem = this.enabled && this.front instanceof NativeTlsFront ? this.front.lastFrontError : null;
    return {
      enabled: this.enabled,
      port: this.config.tls.rsyncTlsPort,
      address: this.address,
      listening,
      lastError: this.lastError ?? this.store.lastError ?? frontProblem ?? daemonProblem,
      certificateSource: this.store.provided ? 'provided' : 'private-ca',
      certificate: certificateDto(served?.leaf ?? null),
      ca: certificateDto(served?.ca ?? null),
      connections: { accepted: this.front.accepted, handshakeFailures: this.front.handshakeFailures, active: this.front.active },
      front: { kind: this.front.kind, why: this.frontWhy, restarts: this.front instanceof NativeTlsFront ? this.front.restarts : 0 },
    };
  }

  caPem(): string | null {
    return this.store.current?.caPem ?? null;
  }

  private serialise<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.op.then(fn);
    this.op = run.catch(() => undefined);
    return run;
  }

  private async startListener(): Promise<void> {
    const served = this.store.current;
    if (!served) return;
    this.lastError = null;
    // The file on disk was proven when it was written, but maybe by an older RsyncHub or an older rsync: a refusal
    // here shows in GET /api/v1/tls instead of as a failure on every connection.
    const configFile = this.writer.filePaths.tlsConfigFile;
    let text: string;
    try {
      text = fs.readFileSync(configFile, 'utf8');
    } catch (err) {
      this.lastError = `no TLS daemon configuration at ${configFile}: ${(err as Error).message}`;
      return;
    }
    const certConfigFile = this.writer.filePaths.tlsCertConfigFile;
    let certText: string;
    try {
      certText = fs.readFileSync(certConfigFile, 'utf8');
    } catch (err) {
      this.lastError = `no TLS daemon configuration for client certificates at ${certConfigFile}: ${(err as Error).message}`;
      return;
    }
    const [proof, certProof] = await Promise.all([
      verifyInetdConfig(text, { rsyncPath: this.config.rsyncBinary, timeoutMs: 20_000 }),
      certText === text ? null : verifyInetdConfig(certText, { rsyncPath: this.config.rsyncBinary, timeoutMs: 20_000 }),
    ]);
    if (!proof.ok) {
      this.lastError = `TLS daemon configuration refused by rsync: ${proof.error}`;
      this.logger.error(`TLS listener off: ${this.lastError}`);
      return;
    }
    if (certProof && !certProof.ok) {
      this.lastError = `TLS daemon configuration for client certificates (rsyncd-tls-cert.conf) refused by rsync: ${certProof.error}`;
      this.logger.error(`TLS listener off: ${this.lastError}`);
      return;
    }
    await this.restartFront();
  }

  /**
   * An earlier RsyncHub ran the TLS daemon as a listening process on loopback (review F1). One left behind by a
   * SIGKILL of such a version would keep listening for forged PROXY lines: stop it if its pid file names it.
   */
  private stopLeftoverListeningDaemon(): void {
    const pidFile = this.writer.filePaths.tlsPidFile;
    try {
      const pid = Number(fs.readFileSync(pidFile, 'utf8').trim());
      const cmdline = Number.isInteger(pid) && pid > 1 ? fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8') : '';
      if (cmdline.includes('--daemon') && cmdline.includes(this.writer.filePaths.tlsConfigFile) && cmdline.includes('--port')) {
        this.logger.warn(`stopping a listening TLS daemon left over from an earlier version (pid ${pid})`);
        try {
          process.kill(-pid, 'SIGKILL');
        } catch {
          process.kill(pid, 'SIGKILL');
        }
      }
    } catch {
      /* none */
    }
    fs.rmSync(pidFile, { force: true });
  }

  private async restartFront(): Promise<void> {
    const served = this.store.current;
    if (!served) return;
    let clientCa: string | undefined;
    try {
      // Client certificates come from the private CA even when the server presents an admin-provided certificate.
      clientCa = (await this.store.clientCa()).certPem;
    } catch (err) {
      // The listener still serves every module that needs no client certificate; those that do stay closed.
      this.logger.error(`TLS client certificates off: ${(err as Error).message}`);
    }
    try {
      await this.front.start({
        host: this.address,
        port: this.config.tls.rsyncTlsPort,
        cert: served.certPem,
        key: served.keyPem,
        clientCa,
        daemon: () => ({
          rsyncPath: this.config.rsyncBinary,
          configFile: this.writer.filePaths.tlsConfigFile,
          certConfigFile: this.writer.filePaths.tlsCertConfigFile,
          allowedFile: this.store.clientAllowedFile,
        }),
      });
      this.lastError = null;
      this.logger.log(
        `rsync over TLS on ${this.address}:${this.config.tls.rsyncTlsPort} (certificate ${served.leaf.fingerprint256}; ${this.front.kind === 'native' ? 'native TLS front' : `Node TLS front: ${this.frontWhy}`})`,
      );
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      this.lastError =
        e.code === 'EADDRINUSE'
          ? `port ${this.config.tls.rsyncTlsPort} on ${this.address} is already in use by another program (RSYNCHUB_RSYNC_TLS_PORT)`
          : e.code === 'EACCES'
            ? `port ${this.config.tls.rsyncTlsPort} needs root (ports below 1024 are privileged); set RSYNCHUB_RSYNC_TLS_PORT`
            : `cannot listen on ${this.address}:${this.config.tls.rsyncTlsPort}: ${e.message}`;
      this.logger.error(`TLS listener off: ${this.lastError}`);
    }
  }

  private async stopListener(): Promise<void> {
    await this.front.stop();
    this.lastError = null;
  }
}
