import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { DaemonModule } from '../daemon/daemon.module';
import { ModulesModule } from '../modules/modules.module';
import { SecretBoxModule } from '../rsync-users/secret-box.module';
import { SourcesModule } from '../sources/sources';
import { TransfersModule } from '../transfers/transfers.module';
import { AlertChannelEntity } from './alert-channel.entity';
import { AlertChannelsController } from './alert-channels.controller';
import { AlertChannelsService } from './alert-channels.service';
import { AlertDeliveryEntity } from './alert-delivery.entity';
import { AlertEntity } from './alert.entity';
import { AlertInputsCollector } from './alert-inputs.service';
import { AlertNotifier } from './alert-notifier.service';
import { AlertRuleSettingsEntity } from './alert-rule-settings.entity';
import { ALERTS_CONFIG, loadAlertsConfig } from './alerts-config';
import { AlertsController } from './alerts.controller';
import { AlertsService } from './alerts.service';

@Module({
  imports: [TypeOrmModule.forFeature([AlertEntity, AlertChannelEntity, AlertDeliveryEntity, AlertRuleSettingsEntity]), DaemonModule, ModulesModule, SourcesModule, TransfersModule, SecretBoxModule],
  // Channels first: its static `alerts/channels` routes must be matched before `alerts/:id`.
  controllers: [AlertChannelsController, AlertsController],
  providers: [
    { provide: ALERTS_CONFIG, useFactory: () => loadAlertsConfig() },
    AlertChannelsService,
    AlertInputsCollector,
    AlertNotifier,
    AlertsService,
  ],
  exports: [AlertsService],
})
export class AlertsModule {}
