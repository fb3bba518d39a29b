import { Body, Controller, Delete, Get, HttpCode, HttpStatus, Post, Req } from '@nestjs/common';
import { ApiBearerAuth, ApiCookieAuth, ApiCreatedResponse, ApiNoContentResponse, ApiOkResponse, ApiTags } from '@nestjs/swagger';
import type { Request } from 'express';
import type { ApiTokenDto, CreateApiTokenResponse } from '@rsynchub/contracts';
import { ApiTokensService } from './api-tokens.service';
import { AdminOnly, AllowAuditor, CurrentPrincipal } from './decorators';
import { ApiTokenView, CreateApiTokenRequestBody, CreateApiTokenResponseView } from './dto';
import { Principal } from './principal';
import { requestContext } from './request-context';
import { IdParam } from '../common/parse-id';

@ApiTags('tokens')
@ApiBearerAuth()
@ApiCookieAuth()
@Controller('tokens')
export class ApiTokensController {
  constructor(private readonly tokens: ApiTokensService) {}

  /** Auditors may call this too, for `read` tokens only (the service enforces the scope). */
  @Post()
  @AllowAuditor()
  @ApiCreatedResponse({ type: CreateApiTokenResponseView, description: 'The secret is shown only in this response.' })
  create(@CurrentPrincipal() principal: Principal, @Body() body: CreateApiTokenRequestBody, @Req() req: Request): Promise<CreateApiTokenResponse> {
    return this.tokens.create(principal, body, requestContext(req));
  }

  @Get()
  @AdminOnly()
  @ApiOkResponse({ type: ApiTokenView, isArray: true })
  list(): Promise<ApiTokenDto[]> {
    return this.tokens.list();
  }

  @Delete(':id')
  @AdminOnly()
  @HttpCode(HttpStatus.NO_CONTENT)
  @ApiNoContentResponse({ description: 'Revoked; the token stops working at once.' })
  revoke(@CurrentPrincipal() principal: Principal, @IdParam('token') id: number, @Req() req: Request): Promise<void> {
    return this.tokens.revoke(principal, id, requestContext(req));
  }
}
