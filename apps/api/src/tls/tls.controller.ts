import { Body, Controller, Get, Header, NotFoundException, Put, Req } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import type { Request } from 'express';
import type { TlsStatusDto } from '@rsynchub/contracts';
import { setAuditChange } from '../audit/audit-change';
import { UpdateTlsBody } from './tls.dto';
import { TlsService } from './tls.service';

@ApiTags('tls')
@Controller('tls')
export class TlsController {
  constructor(private readonly tls: TlsService) {}

  @Get()
  status(): TlsStatusDto {
    return this.tls.status();
  }

  @Put()
  async update(@Body() body: UpdateTlsBody, @Req() req: Request): Promise<TlsStatusDto> {
    const change = await this.tls.setEnabled(body.enabled);
    setAuditChange(req, { ...change, target: 'tls' });
    return this.tls.status();
  }

  /** The private CA's certificate, for sources to trust (`RSYNC_SSL_CA_CERT`, the agent's `caFile`). Public data, but behind auth like every route. */
  @Get('ca.pem')
  @Header('Content-Type', 'application/x-pem-file')
  @Header('Content-Disposition', 'attachment; filename="rsynchub-ca.pem"')
  caPem(): string {
    const pem = this.tls.caPem();
    if (!pem) throw new NotFoundException('the server presents an admin-provided certificate (RSYNCHUB_TLS_CERT): trust the CA that issued it');
    return pem;
  }
}
