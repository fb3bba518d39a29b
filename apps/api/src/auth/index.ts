export { AuthModule } from './auth.module';
export { AuthService, AuthenticatedRequestInfo, CredentialSource } from './auth.service';
export { AuthEvents, AuthEvent, AuthEventType, AuthEventActor, AuthEventTarget } from './auth-events';
export { AdminsService } from './admins.service';
export { Public, AdminOnly, AllowAuditor, CurrentPrincipal } from './decorators';
export { Principal, principalOf } from './principal';
export { SESSION_COOKIE, isOriginAllowed } from './secrets';
