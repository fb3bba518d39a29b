import { Controller, Get, Param, Query, Res } from '@nestjs/common';
import { ApiQuery, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import type { FileEventDto, ModuleActivityDto, Page, StatsDto, TransferSessionDto } from '@rsynchub/contracts';
import { FileEventQueryDto, TransferQueryDto } from '../common/query.dto';
import { TransfersService } from './transfers.service';
import { parseId } from '../common/parse-id';

function sendCsv(res: Response, filename: string): void {
  res.setHeader('Content-Type', 'text/csv; charset=utf-8');
  res.setHeader('Content-Disposition', `attachment; filename="${filename}"`);
}

@ApiTags('transfers')
@Controller()
export class TransfersController {
  constructor(private readonly transfers: TransfersService) {}

  @Get('transfers')
  async list(@Query() q: TransferQueryDto, @Res({ passthrough: true }) res: Response): Promise<Page<TransferSessionDto> | string> {
    if (q.format === 'csv') {
      sendCsv(res, 'rsynchub-transfers.csv');
      return this.transfers.csv(q);
    }
    return this.transfers.list(q);
  }

  @Get('transfers/by-module')
  activityByModule(): Promise<ModuleActivityDto[]> {
    return this.transfers.activityByModule();
  }

  @Get('transfers/:id')
  get(@Param('id') rawId: string): Promise<TransferSessionDto> {
    return this.transfers.get(parseId(rawId, 'transfer session'));
  }

  @Get('transfers/:id/files')
  async files(
    @Param('id') rawId: string,
    @Query() q: FileEventQueryDto,
    @Res({ passthrough: true }) res: Response,
  ): Promise<Page<FileEventDto> | string> {
    const id = parseId(rawId, 'transfer session');
    if (q.format === 'csv') {
      sendCsv(res, `rsynchub-transfer-${id}-files.csv`);
      return this.transfers.filesCsv(id, q);
    }
    return this.transfers.filesOf(id, q);
  }

  @Get('stats')
  @ApiQuery({ name: 'window', required: false, description: 'seconds to average rates over (10..3600, default 60)' })
  stats(@Query('window') window?: string): Promise<StatsDto> {
    const w = typeof window !== 'string' ? 60 : Math.min(3600, Math.max(10, Number(window) || 60));
    return this.transfers.stats(w);
  }
}
