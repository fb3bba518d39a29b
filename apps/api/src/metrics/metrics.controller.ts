import { Controller, Get, Header, Module } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import { DaemonModule } from '../daemon/daemon.module';
import { DaemonService } from '../daemon/daemon.service';
import { TransferLogIngestor } from '../transfers/transfer-log-ingestor';
import { TransfersModule } from '../transfers/transfers.module';
import { TransfersService } from '../transfers/transfers.service';

function label(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/** Prometheus text exposition at `/metrics` (authenticated like everything else: use an API token as bearer). */
@ApiTags('metrics')
@Controller('metrics')
export class MetricsController {
  constructor(
    private readonly daemon: DaemonService,
    private readonly transfers: TransfersService,
    private readonly ingestor: TransferLogIngestor,
  ) {}

  @Get()
  @Header('Content-Type', 'text/plain; version=0.0.4; charset=utf-8')
  async metrics(): Promise<string> {
    const out: string[] = [];
    const metric = (name: string, type: string, help: string, samples: [Record<string, string>, number][]) => {
      out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
      for (const [labels, value] of samples) {
        const l = Object.entries(labels).map(([k, v]) => `${k}="${label(v)}"`).join(',');
        out.push(`${name}${l ? `{${l}}` : ''} ${Number.isFinite(value) ? value : 0}`);
      }
    };
    const status = this.daemon.status();
    metric('rsynchub_daemon_up', 'gauge', 'Whether the supervised rsync daemon is running.', [[{}, status.state === 'running' ? 1 : 0]]);
    metric('rsynchub_daemon_restarts_total', 'counter', 'Automatic restarts of the rsync daemon.', [[{}, status.restarts]]);
    const totals = await this.transfers.totalsByModule();
    metric('rsynchub_sessions_total', 'counter', 'Transfer sessions by module and outcome.', totals.map((t) => [{ module: t.module, status: t.status }, t.sessions]));
    metric(
      'rsynchub_auth_failures_total',
      'counter',
      'Failed rsync logins by module.',
      totals.filter((t) => t.status === 'auth_failed').map((t) => [{ module: t.module }, t.sessions]),
    );
    const byModule = new Map<string, { rx: number; tx: number; files: number; dirs: number }>();
    for (const t of totals) {
      const m = byModule.get(t.module) ?? { rx: 0, tx: 0, files: 0, dirs: 0 };
      m.rx += t.bytesReceived ?? 0;
      m.tx += t.bytesSent ?? 0;
      m.files += t.files ?? 0;
      m.dirs += t.dirs ?? 0;
      byModule.set(t.module, m);
    }
    metric('rsynchub_bytes_received_total', 'counter', 'Bytes clients pushed to us, by module.', [...byModule].map(([m, v]) => [{ module: m }, v.rx]));
    metric('rsynchub_bytes_sent_total', 'counter', 'Bytes clients pulled from us, by module.', [...byModule].map(([m, v]) => [{ module: m }, v.tx]));
    metric('rsynchub_files_total', 'counter', 'Regular files transferred (directories not counted), by module.', [...byModule].map(([m, v]) => [{ module: m }, v.files]));
    metric('rsynchub_directories_total', 'counter', 'Directories created or updated, by module.', [...byModule].map(([m, v]) => [{ module: m }, v.dirs]));
    const st = this.ingestor.stats;
    metric('rsynchub_active_sessions', 'gauge', 'Transfers in progress.', [[{}, this.ingestor.openSessions.length]]);
    metric('rsynchub_ingested_lines_total', 'counter', 'Daemon log lines ingested by this process.', [[{}, st.linesIngested]]);
    metric('rsynchub_ingestion_lag_seconds', 'gauge', 'Age of the newest ingested line while a backlog is being read (0 when caught up).', [
      [{}, st.caughtUp || !st.lastLineAt ? 0 : (Date.now() - st.lastLineAt.getTime()) / 1000],
    ]);
    return out.join('\n') + '\n';
  }
}

@Module({ imports: [DaemonModule, TransfersModule], controllers: [MetricsController] })
export class MetricsModule {}
