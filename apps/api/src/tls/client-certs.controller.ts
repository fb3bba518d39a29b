import { Body, Controller, Delete, Get, HttpCode, HttpStatus, Post, Req } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import type { Request } from 'express';
import type { CreatedTlsClientCertDto, TlsClientCertDto } from '@rsynchub/contracts';
import { setAuditChange } from '../audit/audit-change';
import { CurrentPrincipal } from '../auth/decorators';
import type { Principal } from '../auth/principal';
import { IdParam } from '../common/parse-id';
import { CreateTlsClientCertBody } from './client-certs.dto';
import { ClientCertsService } from './client-certs.service';

/** Client certificates for sources (issue 11). Admins issue and revoke; auditors may list (the guard's default). */
@ApiTags('tls')
@Controller('tls/client-certs')
export class ClientCertsController {
  constructor(private readonly certs: ClientCertsService) {}

  @Get()
  list(): Promise<TlsClientCertDto[]> {
    return this.certs.list();
  }

  /** The private key (server-made key only) is in this response and nowhere else: the audit entry names the certificate only. */
  @Post()
  async issue(@CurrentPrincipal() principal: Principal, @Body() body: CreateTlsClientCertBody, @Req() req: Request): Promise<CreatedTlsClientCertDto> {
    const created = await this.certs.issue(principal.username, body);
    setAuditChange(req, { after: { id: created.id, name: created.name, fingerprint: created.fingerprint, serial: created.serial, notAfter: created.notAfter, csr: body.csr !== undefined }, target: created.name });
    return created;
  }

  /** Revokes; the row stays (`revokedAt`). Again on a revoked one: 200, unchanged. */
  @Delete(':id')
  @HttpCode(HttpStatus.OK)
  async revoke(@IdParam('client certificate') id: number, @Req() req: Request): Promise<TlsClientCertDto> {
    const change = await this.certs.revoke(id);
    setAuditChange(req, { before: change.before, after: change.after, target: change.after.name });
    return change.after;
  }
}
