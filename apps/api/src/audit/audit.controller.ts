import { Controller, Get, Query, Res } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import type { AuditEntryDto, Page } from '@rsynchub/contracts';
import { AuditQueryDto } from '../common/query.dto';
import { AuditService } from './audit.service';

@ApiTags('audit')
@Controller('audit')
export class AuditController {
  constructor(private readonly audit: AuditService) {}

  /** Append-only: there is deliberately no route that changes or removes an entry. */
  @Get()
  async list(@Query() q: AuditQueryDto, @Res({ passthrough: true }) res: Response): Promise<Page<AuditEntryDto> | string> {
    if (q.format === 'csv') {
      res.setHeader('Content-Type', 'text/csv; charset=utf-8');
      res.setHeader('Content-Disposition', 'attachment; filename="rsynchub-audit.csv"');
      return this.audit.csv(q);
    }
    return this.audit.query(q);
  }
}
