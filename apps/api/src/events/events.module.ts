import { Global, Module } from '@nestjs/common';
import { AuthModule } from '../auth/auth.module';
import { LiveEventsGateway } from './live-events.gateway';
import { LiveEventsHub } from './live-events.hub';

@Global()
@Module({
  imports: [AuthModule],
  providers: [LiveEventsHub, LiveEventsGateway],
  exports: [LiveEventsHub],
})
export class EventsModule {}
