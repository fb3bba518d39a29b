import { Body, Controller, Delete, Get, HttpCode, HttpStatus, Patch, Post, Req } from '@nestjs/common';
import { ApiBearerAuth, ApiConflictResponse, ApiCookieAuth, ApiCreatedResponse, ApiNoContentResponse, ApiOkResponse, ApiTags } from '@nestjs/swagger';
import type { Request } from 'express';
import type { AdminDto, ResetAdminPasswordResponse } from '@rsynchub/contracts';
import { AdminsService } from './admins.service';
import { AdminOnly, CurrentPrincipal } from './decorators';
import { AdminView, CreateAdminRequestBody, ResetAdminPasswordRequestBody, UpdateAdminRequestBody } from './dto';
import { Principal } from './principal';
import { requestContext } from './request-context';
import { IdParam } from '../common/parse-id';

@ApiTags('admins')
@ApiBearerAuth()
@ApiCookieAuth()
@AdminOnly()
@Controller('admins')
export class AdminsController {
  constructor(private readonly admins: AdminsService) {}

  @Get()
  @ApiOkResponse({ type: AdminView, isArray: true })
  list(): Promise<AdminDto[]> {
    return this.admins.list();
  }

  @Get(':id')
  @ApiOkResponse({ type: AdminView })
  get(@IdParam('admin') id: number): Promise<AdminDto> {
    return this.admins.get(id);
  }

  @Post()
  @ApiCreatedResponse({ type: AdminView, description: 'The new account must change its password at first login.' })
  @ApiConflictResponse({ description: 'The username exists (case-insensitively).' })
  create(@CurrentPrincipal() principal: Principal, @Body() body: CreateAdminRequestBody, @Req() req: Request): Promise<AdminDto> {
    return this.admins.create(principal, body, requestContext(req));
  }

  @Patch(':id')
  @ApiOkResponse({ type: AdminView, description: 'A password or role change revokes the account\'s sessions and tokens.' })
  @ApiConflictResponse({ description: 'Demoting yourself or the last admin, or setting your own password here.' })
  update(
    @CurrentPrincipal() principal: Principal,
    @IdParam('admin') id: number,
    @Body() body: UpdateAdminRequestBody,
    @Req() req: Request,
  ): Promise<AdminDto> {
    return this.admins.update(principal, id, body, requestContext(req));
  }

  @Post(':id/password')
  @HttpCode(HttpStatus.OK)
  @ApiOkResponse({ description: 'The account must change the temporary password at its next login; its sessions and tokens are revoked. `temporaryPassword` only when generated.' })
  @ApiConflictResponse({ description: 'Resetting your own password (use POST /api/v1/auth/password).' })
  resetPassword(
    @CurrentPrincipal() principal: Principal,
    @IdParam('admin') id: number,
    @Body() body: ResetAdminPasswordRequestBody,
    @Req() req: Request,
  ): Promise<ResetAdminPasswordResponse> {
    return this.admins.resetPassword(principal, id, body.password, requestContext(req));
  }

  @Delete(':id')
  @HttpCode(HttpStatus.NO_CONTENT)
  @ApiNoContentResponse({ description: 'Deleted, with its sessions and tokens.' })
  @ApiConflictResponse({ description: 'Deleting yourself or the last admin.' })
  remove(@CurrentPrincipal() principal: Principal, @IdParam('admin') id: number, @Req() req: Request): Promise<void> {
    return this.admins.remove(principal, id, requestContext(req));
  }
}
