import { Controller, Get, HttpStatus, Res } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import type { HealthDto } from '@rsynchub/contracts';
import { Public } from '../auth/decorators';
import { DaemonService } from '../daemon/daemon.service';
import { ConfigDriftService } from '../daemon/config-drift.service';

const VERSION: string = (require('../../../../package.json') as { version: string }).version;

/** For load balancers and `npm start` users: 200 only once the server and the daemon are up, 503 otherwise. */
@ApiTags('health')
@Controller('health')
export class HealthController {
  constructor(
    private readonly daemon: DaemonService,
    private readonly drift: ConfigDriftService,
  ) {}

  @Get()
  @Public()
  health(@Res({ passthrough: true }) res: Response): HealthDto {
    const state = this.daemon.status().state;
    const problems = this.drift.problems;
    const ok = state === 'running' && problems.length === 0;
    res.status(ok ? HttpStatus.OK : HttpStatus.SERVICE_UNAVAILABLE);
    return { status: ok ? 'ok' : 'degraded', daemon: state, version: VERSION, ...(problems.length > 0 ? { problems } : {}) };
  }
}
