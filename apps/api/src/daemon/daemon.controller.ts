import { Body, Controller, Get, HttpCode, Post, Put, Req } from '@nestjs/common';
import type { Request } from 'express';
import { setAuditChange } from '../audit/audit-change';
import { ApiTags } from '@nestjs/swagger';
import type { DaemonConfigDto, DaemonSettingsViewDto, DaemonStatusDto } from '@rsynchub/contracts';
import { DaemonSettingsService } from './daemon-settings.service';
import { DaemonService } from './daemon.service';
import { UpdateDaemonSettingsBody } from './daemon.dto';

@ApiTags('daemon')
@Controller('daemon')
export class DaemonController {
  constructor(
    private readonly daemon: DaemonService,
    private readonly settings: DaemonSettingsService,
  ) {}

  @Get()
  status(): DaemonStatusDto {
    return this.daemon.status();
  }

  @Post('start')
  @HttpCode(200)
  start(): Promise<DaemonStatusDto> {
    return this.daemon.start();
  }

  @Post('stop')
  @HttpCode(200)
  stop(): Promise<DaemonStatusDto> {
    return this.daemon.stop();
  }

  @Post('restart')
  @HttpCode(200)
  restart(): Promise<DaemonStatusDto> {
    return this.daemon.restart();
  }

  @Get('settings')
  getSettings(): Promise<DaemonSettingsViewDto> {
    return this.settings.view();
  }

  @Put('settings')
  async updateSettings(@Body() body: UpdateDaemonSettingsBody, @Req() req: Request): Promise<DaemonSettingsViewDto> {
    const change = await this.settings.update(body);
    setAuditChange(req, { ...change, target: 'daemon' });
    return { ...change.after, publicHostEffective: this.settings.effectivePublicHost(change.after.publicHost ?? ''), pinnedByEnvironment: this.settings.pinnedByEnvironment() };
  }

  @Get('config')
  config(): Promise<DaemonConfigDto> {
    return this.daemon.renderedConfig();
  }
}
