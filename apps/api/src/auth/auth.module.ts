import { Global, Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AdminsController } from './admins.controller';
import { AdminsService } from './admins.service';
import { ApiTokensController } from './api-tokens.controller';
import { ApiTokensService } from './api-tokens.service';
import { AuthEvents } from './auth-events';
import { AuthController } from './auth.controller';
import { AuthGuard } from './auth.guard';
import { AuthService } from './auth.service';
import { AdminEntity } from './entities/admin.entity';
import { AdminSessionEntity } from './entities/admin-session.entity';
import { ApiTokenEntity } from './entities/api-token.entity';
import { LoginThrottle } from './login-throttle';
import { PasswordHasher } from './passwords';
import { PasswordWorkGate } from './password-work-gate';
import { UnknownRouteAuth } from './unknown-route-auth';

/**
 * Admin accounts, login sessions, API tokens, and the global AuthGuard. Global so any module (e.g. the WebSocket
 * gateway, the audit log) can inject AuthService and AuthEvents without importing it.
 */
@Global()
@Module({
  imports: [TypeOrmModule.forFeature([AdminEntity, AdminSessionEntity, ApiTokenEntity])],
  controllers: [AuthController, AdminsController, ApiTokensController],
  providers: [
    AuthService,
    AdminsService,
    ApiTokensService,
    PasswordHasher,
    { provide: PasswordWorkGate, useFactory: () => new PasswordWorkGate() },
    AuthEvents,
    { provide: LoginThrottle, useFactory: () => new LoginThrottle() },
    UnknownRouteAuth,
    { provide: APP_GUARD, useClass: AuthGuard },
  ],
  exports: [AuthService, AuthEvents, AdminsService],
})
export class AuthModule {}
