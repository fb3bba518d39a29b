import './threadpool';
import { Logger } from '@nestjs/common';
import { APP_CONFIG, AppConfig } from './config/app-config';
import { createApp } from './create-app';

async function main(): Promise<void> {
  const app = await createApp();
  const config = app.get<AppConfig>(APP_CONFIG);
  await app.listen(config.httpPort, config.httpHost);
  const shown = config.httpHost === '0.0.0.0' ? 'localhost' : config.httpHost;
  Logger.log(`RsyncHub console at http://${shown}:${config.httpPort}/ (data in ${config.dataDir})`, 'RsyncHub');
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
