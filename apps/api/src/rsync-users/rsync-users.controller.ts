import { Body, Controller, Delete, Get, HttpCode, Param, Patch, Post, Query, Req } from '@nestjs/common';
import type { Request } from 'express';
import { setAuditChange } from '../audit/audit-change';
import { ApiQuery, ApiTags } from '@nestjs/swagger';
import type { RsyncUserDto, RsyncUserWithSecretResponse } from '@rsynchub/contracts';
import { CreateRsyncUserBody, UpdateRsyncUserBody } from './rsync-users.dto';
import { RsyncUsersService } from './rsync-users.service';

@ApiTags('rsync-users')
@Controller('rsync-users')
export class RsyncUsersController {
  constructor(private readonly users: RsyncUsersService) {}

  @Get()
  list(): Promise<RsyncUserDto[]> {
    return this.users.list();
  }

  @Get(':name')
  get(@Param('name') name: string): Promise<RsyncUserDto> {
    return this.users.get(name);
  }

  @Post()
  async create(@Body() body: CreateRsyncUserBody, @Req() req: Request): Promise<RsyncUserWithSecretResponse> {
    const { user, generatedPassword, before, after } = await this.users.create(body);
    setAuditChange(req, { before, after });
    return generatedPassword ? { user, generatedPassword } : { user };
  }

  @Patch(':name')
  async update(@Param('name') name: string, @Body() body: UpdateRsyncUserBody, @Req() req: Request): Promise<RsyncUserWithSecretResponse> {
    const { user, generatedPassword, before, after, passwordChanged } = await this.users.update(name, body);
    // The audit log records that the password changed, never what it is.
    setAuditChange(req, { before, after: { ...after, passwordChanged } });
    return generatedPassword ? { user, generatedPassword } : { user };
  }

  @Delete(':name')
  @HttpCode(204)
  @ApiQuery({ name: 'removeGrants', required: false, description: 'also remove the grants of modules that still name this user' })
  async remove(@Req() req: Request, @Param('name') name: string, @Query('removeGrants') removeGrants?: string): Promise<void> {
    const change = await this.users.remove(name, removeGrants === 'true');
    setAuditChange(req, change);
  }
}
