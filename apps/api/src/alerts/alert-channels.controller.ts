import { Body, Controller, Delete, Get, HttpCode, Patch, Post, Req } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import type { Request } from 'express';
import type { AlertChannelDto, AlertChannelTestResponse, AlertDto } from '@rsynchub/contracts';
import { setAuditChange } from '../audit/audit-change';
import { AlertChannelsService } from './alert-channels.service';
import { CreateAlertChannelBody, UpdateAlertChannelBody } from './alerts.dto';
import { IdParam } from '../common/parse-id';

/** Sample alert for "Send test": clearly marked, never stored. */
function sampleAlert(): AlertDto {
  const now = new Date().toISOString();
  return {
    id: 0,
    rule: 'test',
    key: 'test',
    severity: 'warning',
    state: 'firing',
    title: 'Test message from RsyncHub',
    message: 'This is a test of an alert channel. If you can read it, the channel works.',
    details: {},
    firstSeenAt: now,
    lastSeenAt: now,
    resolvedAt: null,
    occurrences: 1,
    acknowledgedAt: null,
    acknowledgedBy: null,
  };
}

@ApiTags('alerts')
@Controller('alerts/channels')
export class AlertChannelsController {
  constructor(private readonly channels: AlertChannelsService) {}

  @Get()
  list(): Promise<AlertChannelDto[]> {
    return this.channels.list();
  }

  @Get(':id')
  get(@IdParam('alert channel') id: number): Promise<AlertChannelDto> {
    return this.channels.get(id);
  }

  @Post()
  async create(@Body() body: CreateAlertChannelBody, @Req() req: Request): Promise<AlertChannelDto> {
    const change = await this.channels.create(body);
    setAuditChange(req, { ...change, target: change.after!.name });
    return change.after!;
  }

  @Patch(':id')
  async update(@IdParam('alert channel') id: number, @Body() body: UpdateAlertChannelBody, @Req() req: Request): Promise<AlertChannelDto> {
    const change = await this.channels.update(id, body);
    // The audit log records that the SMTP password changed, never what it is.
    setAuditChange(req, { before: change.before, after: { ...change.after, passwordChanged: body.email?.password !== undefined }, target: change.after!.name });
    return change.after!;
  }

  @Delete(':id')
  @HttpCode(204)
  async remove(@IdParam('alert channel') id: number, @Req() req: Request): Promise<void> {
    const change = await this.channels.remove(id);
    setAuditChange(req, { ...change, target: change.before!.name });
  }

  @Post(':id/test')
  @HttpCode(200)
  async test(@IdParam('alert channel') id: number, @Req() req: Request): Promise<AlertChannelTestResponse> {
    const res = await this.channels.test(id, sampleAlert());
    setAuditChange(req, { after: res });
    return res;
  }
}
