import { Inject, Injectable } from '@nestjs/common';
import * as net from 'node:net';
import { APP_CONFIG, AppConfig } from '../config/app-config';
import { DaemonSupervisor } from '../daemon/daemon-supervisor';
import { daemonPaths } from '../daemon/daemon-paths';

export const TLS_BACKEND_HOST = '127.0.0.1';

function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, TLS_BACKEND_HOST, () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

/**
 * The second `rsync --daemon`: same modules, users, secrets, lock dir and log file as the plain one, but with
 * `proxy protocol = yes` (a global rsync parameter, hence a second process) and reachable on loopback only, on a
 * port picked anew at every (re)start, behind the TLS listener. Supervised exactly like the plain daemon.
 */
@Injectable()
export class TlsDaemonSupervisor extends DaemonSupervisor {
  constructor(@Inject(APP_CONFIG) config: AppConfig) {
    super(config);
    const paths = daemonPaths(config.dataDir);
    this.paths = { ...paths, configFile: paths.tlsConfigFile, pidFile: paths.tlsPidFile };
  }

  /** Stops through the serialised path, so a start still under way at shutdown cannot leave a daemon behind. */
  override async onApplicationShutdown(): Promise<void> {
    await this.stop();
    await super.onApplicationShutdown();
  }

  protected override async prepareSpawn(): Promise<void> {
    this.setListen(await freeLoopbackPort(), TLS_BACKEND_HOST);
  }
}
