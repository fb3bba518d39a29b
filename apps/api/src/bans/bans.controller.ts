import { Controller, Delete, Get, Param, Req } from '@nestjs/common';
import type { Request } from 'express';
import { setAuditChange } from '../audit/audit-change';
import { ApiTags } from '@nestjs/swagger';
import type { BanDto, BanListDto } from '@rsynchub/contracts';
import { BansService } from './bans.service';

@ApiTags('bans')
@Controller('bans')
export class BansController {
  constructor(private readonly bans: BansService) {}

  /** Bans in force and the settings that make them. */
  @Get()
  list(): Promise<BanListDto> {
    return this.bans.list();
  }

  /** Lifts a ban: the address may connect again at once. */
  @Delete(':address')
  async lift(@Param('address') address: string, @Req() req: Request): Promise<BanDto> {
    setAuditChange(req, { target: address.slice(0, 64) });
    const lifted = await this.bans.lift(address);
    setAuditChange(req, { before: lifted, after: null });
    return lifted;
  }
}
