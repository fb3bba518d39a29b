import { Inject, Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';
import type { AlertDto } from '@rsynchub/contracts';
import { AlertChannelsService, alertPayload, describeError, DeliverableChannel } from './alert-channels.service';
import { ALERTS_CONFIG, AlertsConfig } from './alerts-config';
import { SEVERITY_RANK } from './rules';

/**
 * Sends firing and resolved messages to every enabled channel that wants them, in the background: a slow or
 * broken channel never holds up evaluation or other channels. Each message is tried again after the configured
 * delays; the final outcome is recorded per channel (shown in the console as the channel's last delivery).
 */
@Injectable()
export class AlertNotifier implements OnApplicationShutdown {
  private readonly logger = new Logger(AlertNotifier.name);
  private readonly pending = new Set<Promise<void>>();
  private stopped = false;

  constructor(
    private readonly channels: AlertChannelsService,
    @Inject(ALERTS_CONFIG) private readonly config: AlertsConfig,
  ) {}

  notify(alert: AlertDto, kind: 'firing' | 'resolved'): void {
    const job = this.channels
      .deliverable()
      .then((list) => Promise.all(list.filter((c) => this.wants(c, alert, kind)).map((c) => this.deliver(c, alert, kind))))
      .then(() => undefined)
      .catch((err) => this.logger.error(`alert ${alert.id}: could not read the channels: ${(err as Error).message}`));
    this.pending.add(job);
    void job.finally(() => this.pending.delete(job));
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopped = true;
    await Promise.race([Promise.all(this.pending), new Promise((r) => setTimeout(r, 5_000).unref())]);
  }

  private wants(c: DeliverableChannel, alert: AlertDto, kind: 'firing' | 'resolved'): boolean {
    if (kind === 'resolved' && !c.sendResolved) return false;
    return SEVERITY_RANK[alert.severity] >= SEVERITY_RANK[c.minSeverity];
  }

  private async deliver(c: DeliverableChannel, alert: AlertDto, kind: 'firing' | 'resolved'): Promise<void> {
    const payload = alertPayload(kind, alert);
    let error: string | null = null;
    for (let attempt = 0; ; attempt++) {
      try {
        await this.channels.send(c, payload);
        error = null;
        break;
      } catch (err) {
        error = describeError(err);
        const delay = this.config.retryDelaysMs[attempt];
        if (delay === undefined || this.stopped) break;
        await new Promise((r) => setTimeout(r, delay));
      }
    }
    if (error) this.logger.warn(`alert ${alert.id} (${kind}) not delivered to channel "${c.name}": ${error}`);
    await this.channels.recordDelivery(c.id, alert.id, kind, error);
  }
}
