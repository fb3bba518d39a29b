import { Body, Controller, Get, HttpCode, HttpStatus, Post, Req, Res, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiCookieAuth, ApiNoContentResponse, ApiOkResponse, ApiTags, ApiTooManyRequestsResponse, ApiUnauthorizedResponse } from '@nestjs/swagger';
import type { CookieOptions, Request, Response } from 'express';
import type { LoginResponse, MeResponse } from '@rsynchub/contracts';
import { AuthService, TooManyFailedLogins } from './auth.service';
import { PasswordWorkBusy } from './password-work-gate';
import { AdminsService } from './admins.service';
import { AllowAuditor, AllowBeforePasswordChange, CurrentPrincipal, Public } from './decorators';
import { ChangePasswordRequestBody, LoginRequestBody, LoginResponseView, MeResponseView } from './dto';
import { Principal } from './principal';
import { requestContext } from './request-context';
import { SESSION_COOKIE } from './secrets';
import { LoginRequestGuard } from './login-request.guard';

function sessionCookieOptions(req: Request): CookieOptions {
  // No maxAge: a browser-session cookie; the server enforces the 12 h sliding expiry. `req.secure` is true over HTTPS,
  // and behind a proxy trusted with RSYNCHUB_TRUST_PROXY that says X-Forwarded-Proto: https.
  return { httpOnly: true, sameSite: 'strict', path: '/', secure: req.secure };
}

@ApiTags('auth')
@Controller('auth')
export class AuthController {
  constructor(
    private readonly auth: AuthService,
    private readonly admins: AdminsService,
  ) {}

  @Public()
  @UseGuards(LoginRequestGuard)
  @Post('login')
  @HttpCode(HttpStatus.OK)
  @ApiOkResponse({ type: LoginResponseView, description: 'Also sets the HttpOnly session cookie rsynchub_session.' })
  @ApiUnauthorizedResponse({ description: 'invalid username or password' })
  @ApiTooManyRequestsResponse({ description: 'Too many failed logins; see Retry-After.' })
  async login(@Body() body: LoginRequestBody, @Req() req: Request, @Res({ passthrough: true }) res: Response): Promise<LoginResponse> {
    try {
      const result = await this.auth.login(body.username, body.password, requestContext(req));
      res.cookie(SESSION_COOKIE, result.token, sessionCookieOptions(req));
      return result;
    } catch (err) {
      if (err instanceof TooManyFailedLogins || err instanceof PasswordWorkBusy) res.setHeader('Retry-After', String(err.retryAfterSeconds));
      throw err;
    }
  }

  @AllowAuditor()
  @AllowBeforePasswordChange()
  @Post('logout')
  @HttpCode(HttpStatus.NO_CONTENT)
  @ApiBearerAuth()
  @ApiCookieAuth()
  @ApiNoContentResponse({ description: 'Session revoked and cookie cleared.' })
  async logout(@CurrentPrincipal() principal: Principal, @Req() req: Request, @Res({ passthrough: true }) res: Response): Promise<void> {
    await this.auth.logout(principal, requestContext(req));
    res.clearCookie(SESSION_COOKIE, sessionCookieOptions(req));
  }

  @AllowBeforePasswordChange()
  @Get('me')
  @ApiBearerAuth()
  @ApiCookieAuth()
  @ApiOkResponse({ type: MeResponseView })
  async me(@CurrentPrincipal() principal: Principal): Promise<MeResponse> {
    const admin = await this.admins.get(principal.adminId);
    return { admin, via: principal.via, mustChangePassword: await this.auth.mustChangePassword(principal.adminId) };
  }

  @AllowAuditor()
  @AllowBeforePasswordChange()
  @Post('password')
  @HttpCode(HttpStatus.NO_CONTENT)
  @ApiBearerAuth()
  @ApiCookieAuth()
  @ApiNoContentResponse({ description: 'Password changed; the account\'s other sessions are revoked.' })
  async changePassword(
    @CurrentPrincipal() principal: Principal,
    @Body() body: ChangePasswordRequestBody,
    @Req() req: Request,
    @Res({ passthrough: true }) res: Response,
  ): Promise<void> {
    try {
      await this.auth.changeOwnPassword(principal, body.currentPassword, body.newPassword, requestContext(req));
    } catch (err) {
      if (err instanceof TooManyFailedLogins || err instanceof PasswordWorkBusy) res.setHeader('Retry-After', String(err.retryAfterSeconds));
      throw err;
    }
  }
}
