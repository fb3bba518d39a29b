import './threadpool';
import { Logger } from '@nestjs/common';
import { APP_CONFIG, AppConfig } from './config/app-config';
import { createApp } from './create-app';
import { startHttpRedirect } from './tls/https-console';

async function main(): Promise<void> {
  const app = await createApp();
  const config = app.get<AppConfig>(APP_CONFIG);
  const shown = config.httpHost === '0.0.0.0' ? 'localhost' : config.httpHost;
  if (config.tls.https) {
    await app.listen(config.tls.httpsPort, config.httpHost);
    if (config.tls.httpRedirect) {
      await startHttpRedirect(config);
      Logger.log(`http://${shown}:${config.httpPort}/ redirects to HTTPS`, 'RsyncHub');
    }
    Logger.log(`RsyncHub console at https://${shown}:${config.tls.httpsPort}/ (data in ${config.dataDir})`, 'RsyncHub');
    return;
  }
  await app.listen(config.httpPort, config.httpHost);
  Logger.log(`RsyncHub console at http://${shown}:${config.httpPort}/ (data in ${config.dataDir})`, 'RsyncHub');
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
