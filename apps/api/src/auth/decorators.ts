import { createParamDecorator, ExecutionContext, SetMetadata, UnauthorizedException } from '@nestjs/common';
import { Principal, principalOf } from './principal';

export const IS_PUBLIC = 'rsynchub:auth:public';
export const ADMIN_ONLY = 'rsynchub:auth:adminOnly';
export const ALLOW_AUDITOR = 'rsynchub:auth:allowAuditor';
export const ALLOW_BEFORE_PASSWORD_CHANGE = 'rsynchub:auth:allowBeforePasswordChange';

/** No authentication at all (login, health). */
export const Public = (): MethodDecorator & ClassDecorator => SetMetadata(IS_PUBLIC, true);

/** Admin role required even for GET/HEAD (e.g. listing admin accounts or tokens). */
export const AdminOnly = (): MethodDecorator & ClassDecorator => SetMetadata(ADMIN_ONLY, true);

/** A non-GET route an auditor may call too (logout, changing one's own password). */
export const AllowAuditor = (): MethodDecorator & ClassDecorator => SetMetadata(ALLOW_AUDITOR, true);

/** One of the few routes an account that must change its password may call (the change itself, me, logout). */
export const AllowBeforePasswordChange = (): MethodDecorator & ClassDecorator => SetMetadata(ALLOW_BEFORE_PASSWORD_CHANGE, true);
export const ALLOW_SOURCE_TOKEN = 'rsynchub:auth:allowSourceToken';

/** The one kind of route a `source`-scoped API token may call (heartbeats); every other route refuses such tokens. */
export const AllowSourceToken = (): MethodDecorator & ClassDecorator => SetMetadata(ALLOW_SOURCE_TOKEN, true);

/** The authenticated principal of the request; 401 when there is none (only possible on @Public routes). */
export const CurrentPrincipal = createParamDecorator((_data: unknown, ctx: ExecutionContext): Principal => {
  const principal = principalOf(ctx.switchToHttp().getRequest());
  if (!principal) throw new UnauthorizedException('authentication required');
  return principal;
});
