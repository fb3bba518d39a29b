import { Module } from '@nestjs/common';
import { Logger } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { APP_CONFIG, AppConfig } from '../config/app-config';
import { DaemonModule } from '../daemon/daemon.module';
import { CertificateStore } from './certificate-store';
import { ClientCertsController } from './client-certs.controller';
import { ClientCertsService } from './client-certs.service';
import { TlsClientCertEntity } from './tls-client-cert.entity';
import { TlsController } from './tls.controller';
import { TlsSettingsEntity } from './tls-settings.entity';
import { CERTIFICATE_STORE, TlsService } from './tls.service';

@Module({
  imports: [TypeOrmModule.forFeature([TlsSettingsEntity, TlsClientCertEntity]), DaemonModule],
  controllers: [TlsController, ClientCertsController],
  providers: [
    TlsService,
    ClientCertsService,
    {
      provide: CERTIFICATE_STORE,
      inject: [APP_CONFIG],
      useFactory: (config: AppConfig) => {
        const logger = new Logger('TlsCertificates');
        return new CertificateStore(config.dataDir, config.tls, { log: (m) => logger.log(m), warn: (m) => logger.warn(m), error: (m) => logger.error(m) });
      },
    },
  ],
  exports: [TlsService],
})
export class TlsModule {}
