import { Controller, Get, Param, Query, Res, StreamableFile } from '@nestjs/common';
import { ApiQuery, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import type { Readable } from 'node:stream';
import type { FileEventDto, ModuleActivityDto, Page, StatsDto, TransferSessionDto } from '@rsynchub/contracts';
import { FileEventQueryDto, TransferQueryDto } from '../common/query.dto';
import { TransfersService } from './transfers.service';
import { parseId } from '../common/parse-id';

/**
 * A CSV export streamed as it is rendered. A client that goes away stops the rendering; a failure half-way aborts
 * the response (the client sees a broken transfer, never a CSV that merely looks complete).
 */
function sendCsv(res: Response, filename: string, body: Readable): StreamableFile {
  res.on('close', () => body.destroy());
  return new StreamableFile(body, { type: 'text/csv; charset=utf-8', disposition: `attachment; filename="${filename}"` }).setErrorHandler(
    (_err, response) => (response as Response).destroy(),
  );
}

@ApiTags('transfers')
@Controller()
export class TransfersController {
  constructor(private readonly transfers: TransfersService) {}

  @Get('transfers')
  async list(@Query() q: TransferQueryDto, @Res({ passthrough: true }) res: Response): Promise<Page<TransferSessionDto> | StreamableFile> {
    if (q.format === 'csv') return sendCsv(res, 'rsynchub-transfers.csv', this.transfers.csv(q));
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
  ): Promise<Page<FileEventDto> | StreamableFile> {
    const id = parseId(rawId, 'transfer session');
    if (q.format === 'csv') return sendCsv(res, `rsynchub-transfer-${id}-files.csv`, await this.transfers.filesCsv(id, q));
    return this.transfers.filesOf(id, q);
  }

  @Get('stats')
  @ApiQuery({ name: 'window', required: false, description: 'seconds to average rates over (10..3600, default 60)' })
  stats(@Query('window') window?: string): Promise<StatsDto> {
    const w = typeof window !== 'string' ? 60 : Math.min(3600, Math.max(10, Number(window) || 60));
    return this.transfers.stats(w);
  }
}
