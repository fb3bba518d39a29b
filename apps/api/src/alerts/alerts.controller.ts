import { Body, Controller, Get, HttpCode, Param, Post, Put, Query, Req } from '@nestjs/common';
import { ApiBody, ApiTags } from '@nestjs/swagger';
import type { Request } from 'express';
import type { AlertDto, AlertRuleDto, Page, StorageUsageDto } from '@rsynchub/contracts';
import { setAuditChange } from '../audit/audit-change';
import { CurrentPrincipal } from '../auth/decorators';
import type { Principal } from '../auth/principal';
import { AlertQueryDto } from './alerts.dto';
import { AlertsService } from './alerts.service';
import { IdParam } from '../common/parse-id';

@ApiTags('alerts')
@Controller('alerts')
export class AlertsController {
  constructor(private readonly alerts: AlertsService) {}

  @Get()
  list(@Query() q: AlertQueryDto): Promise<Page<AlertDto>> {
    return this.alerts.list(q);
  }

  @Get('rules')
  rules(): Promise<AlertRuleDto[]> {
    return this.alerts.rules();
  }

  @Put('rules/:id')
  @ApiBody({ description: 'Any subset of the rule’s settings, e.g. {"enabled": true, "minFreePercent": 15}', schema: { type: 'object', additionalProperties: true } })
  async updateRule(@Param('id') id: string, @Body() body: Record<string, unknown>, @Req() req: Request): Promise<AlertRuleDto> {
    const change = await this.alerts.updateRule(id, body);
    setAuditChange(req, { before: change.before.settings, after: change.after.settings, target: id });
    return change.after;
  }

  /** Free space per storage root and per module, against the storage-low thresholds. */
  @Get('storage')
  storage(): Promise<StorageUsageDto> {
    return this.alerts.storage();
  }

  @Get(':id')
  get(@IdParam('alert') id: number): Promise<AlertDto> {
    return this.alerts.get(id);
  }

  @Post(':id/ack')
  @HttpCode(200)
  async ack(@IdParam('alert') id: number, @CurrentPrincipal() principal: Principal, @Req() req: Request): Promise<AlertDto> {
    const change = await this.alerts.acknowledge(id, principal.username);
    setAuditChange(req, { before: { acknowledgedAt: change.before.acknowledgedAt }, after: { acknowledgedAt: change.after.acknowledgedAt, acknowledgedBy: change.after.acknowledgedBy }, target: String(id) });
    return change.after;
  }
}
