import { Inject, Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import type { DaemonConfigDto, DaemonStatusDto } from '@rsynchub/contracts';
import { APP_CONFIG, AppConfig } from '../config/app-config';
import { LiveEventsHub } from '../events/live-events.hub';
import { DaemonSupervisor } from './daemon-supervisor';
import { RsyncdConfigWriter } from './rsyncd-config-writer';

/** Ties the config writer to the supervisor: files first, then the daemon; restarts when the listen socket changes. */
@Injectable()
export class DaemonService implements OnApplicationBootstrap {
  private readonly logger = new Logger(DaemonService.name);

  constructor(
    private readonly writer: RsyncdConfigWriter,
    private readonly supervisor: DaemonSupervisor,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    hub: LiveEventsHub,
  ) {
    this.supervisor.statusChanges.subscribe((status) => hub.publish('daemon.status', status));
    this.writer.onWritten(async (written) => {
      if (this.supervisor.setListen(written.settings.port, written.settings.address)) {
        this.logger.log(`listen address changed to ${written.settings.address}:${written.settings.port}; restarting the daemon`);
        await this.supervisor.restartIfWanted();
      }
    });
  }

  /**
   * Never fails the server's start: without rsync, or with a config the installed rsync refuses, the console still
   * comes up and says what is wrong; a config written by an earlier run keeps serving meanwhile.
   */
  async onApplicationBootstrap(): Promise<void> {
    let configError: string | null = null;
    try {
      await this.writer.regenerate();
    } catch (err) {
      configError = `could not write the daemon configuration: ${(err as Error).message}`;
      this.logger.error(configError);
    }
    if (this.config.startDaemon) await this.supervisor.start();
    if (configError) this.supervisor.noteError(configError);
  }

  status(): DaemonStatusDto {
    return this.supervisor.status();
  }

  start(): Promise<DaemonStatusDto> {
    return this.supervisor.start();
  }

  stop(): Promise<DaemonStatusDto> {
    return this.supervisor.stop();
  }

  restart(): Promise<DaemonStatusDto> {
    return this.supervisor.restart();
  }

  async renderedConfig(): Promise<DaemonConfigDto> {
    const written = this.writer.lastWritten ?? (await this.writer.preview());
    return {
      config: written.config,
      path: this.writer.filePaths.configFile,
      secretsPath: this.writer.filePaths.secretsFile,
      writtenAt: this.writer.lastWritten ? written.writtenAt.toISOString() : null,
    };
  }
}
