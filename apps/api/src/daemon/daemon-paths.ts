import * as path from 'node:path';

/** Where the managed daemon's files live inside the data dir. One place, so nothing guesses a path. */
export interface DaemonPaths {
  configFile: string;
  secretsFile: string;
  motdFile: string;
  pidFile: string;
  lockDir: string;
  logFile: string;
  /** The per-connection daemons' behind the TLS listener (same modules, users and log file; see apps/api/src/tls). */
  tlsConfigFile: string;
  /**
   * The same for TLS connections that presented a valid, not revoked client certificate (the front picks it per
   * connection): `tlsClientCert` modules are open only in this one.
   */
  tlsCertConfigFile: string;
  /** Written only by the listening TLS daemon of earlier versions (inetd mode writes none): to stop a leftover. */
  tlsPidFile: string;
}

export function daemonPaths(dataDir: string): DaemonPaths {
  return {
    configFile: path.join(dataDir, 'rsyncd.conf'),
    secretsFile: path.join(dataDir, 'rsyncd.secrets'),
    motdFile: path.join(dataDir, 'rsyncd.motd'),
    pidFile: path.join(dataDir, 'rsyncd.pid'),
    lockDir: path.join(dataDir, 'locks'),
    logFile: path.join(dataDir, 'rsyncd.log'),
    tlsConfigFile: path.join(dataDir, 'rsyncd-tls.conf'),
    tlsCertConfigFile: path.join(dataDir, 'rsyncd-tls-cert.conf'),
    tlsPidFile: path.join(dataDir, 'rsyncd-tls.pid'),
  };
}
