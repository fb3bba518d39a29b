import 'reflect-metadata';
import { INestApplication, Logger, LogLevel, ValidationError, ValidationPipe } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import { WsAdapter } from '@nestjs/platform-ws';
import type { NestExpressApplication } from '@nestjs/platform-express';
import cookieParser from 'cookie-parser';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { NextFunction, Request, Response } from 'express';
import { API_PREFIX, FieldError } from '@rsynchub/contracts';
import { AppModule } from './app.module';
import { ApiExceptionFilter } from './common/api-exception.filter';
import { ValidationFailed } from './common/errors';
import { APP_CONFIG, AppConfig, loadAppConfig } from './config/app-config';
import { followCertificateRenewals, httpsOptionsFor } from './tls/https-console';
import { AuditService } from './audit/audit.service';
import { auditEntryFor } from './audit/audit.interceptor';
import { AdminsService } from './auth/admins.service';
import { AuthService } from './auth/auth.service';
import { PASSWORD_CHANGE_REQUIRED } from './auth/auth.guard';
import { earlyLoginRefusal, loginAdmission } from './auth/early-login-refusal';
import { LoginThrottle } from './auth/login-throttle';
import { PasswordWorkGate } from './auth/password-work-gate';
import { AuditAggregator } from './audit/audit-aggregator';
import { RefusalLimiter } from './common/refusal-limiter';
import { compressStatic, noStoreForApi, securityHeaders, staticCacheControl } from './common/web-hygiene';
import { rejectDeepJson } from './common/json-depth';

function flatten(errors: ValidationError[], parent = ''): FieldError[] {
  return errors.flatMap((e) => {
    const field = parent ? (/^\d+$/.test(e.property) ? `${parent}[${e.property}]` : `${parent}.${e.property}`) : e.property;
    const own = Object.values(e.constraints ?? {}).map((message) => ({ field, message: message.replace(/^\S+ /, 'must ').replace(/^must must/, 'must') }));
    return [...own, ...flatten(e.children ?? [], field)];
  });
}

export interface CreateAppOptions {
  logger?: LogLevel[] | false;
}

/** Builds the fully configured Nest application (used by main.ts and by e2e tests, so both run the same stack). */
export async function createApp(options: CreateAppOptions = {}): Promise<INestApplication> {
  const app = await NestFactory.create<NestExpressApplication>(AppModule, {
    logger: options.logger ?? ['log', 'warn', 'error'],
    bodyParser: true,
    httpsOptions: await httpsOptionsFor(loadAppConfig()),
  });
  followCertificateRenewals(app);
  const config = app.get<AppConfig>(APP_CONFIG);
  // Off unless RSYNCHUB_TRUST_PROXY says which proxy to believe (req.ip, req.secure then come from X-Forwarded-*).
  app.set('trust proxy', config.trustProxy);
  app.disable('x-powered-by');
  for (const handler of securityHeaders()) app.use(handler);
  app.use(noStoreForApi());
  // Before the body parser: a refused login flood costs no body parsing either.
  app.use(earlyLoginRefusal(app.get(LoginThrottle), app.get(PasswordWorkGate), app.get(AuditAggregator)));
  app.useBodyParser('json', { limit: '2mb', verify: rejectDeepJson });
  app.use(loginAdmission(app.get(LoginThrottle), app.get(PasswordWorkGate), app.get(AuditAggregator)));
  app.use(compressStatic());
  app.use(cookieParser());
  app.setGlobalPrefix(API_PREFIX.slice(1), { exclude: ['metrics'] });
  const exceptionFilter = new ApiExceptionFilter();
  app.useGlobalFilters(exceptionFilter);
  app.useGlobalPipes(
    new ValidationPipe({
      whitelist: true,
      forbidNonWhitelisted: true,
      transform: true,
      exceptionFactory: (errors) => new ValidationFailed(flatten(errors)),
    }),
  );
  app.useWebSocketAdapter(new WsAdapter(app));
  const audit = app.get(AuditService);
  const admins = app.get(AdminsService);
  const auth = app.get(AuthService);
  const anonymousRefusals = new RefusalLimiter(20, 60_000);
  exceptionFilter.onRefusedMutation = async (req, err) => {
    const entry = await auditEntryFor(req as Request, 'failure', err, (name) => admins.usernameExists(name));
    // Anyone can send refused requests: keep the first ones per address and minute, not an unbounded flood.
    if (entry.actorType === 'anonymous' && !anonymousRefusals.allow(entry.clientIp ?? 'unknown')) return;
    await audit.record(entry);
  };
  // The API description is not public either: same session cookie or bearer token as the API.
  app.use(['/api/docs', '/api/docs-json'], (req: Request, res: Response, next: NextFunction) => {
    auth
      .authenticate({ cookieHeader: req.headers.cookie, authorization: req.headers.authorization })
      .then((principal) =>
        !principal
          ? res.status(401).json({ statusCode: 401, error: 'unauthorized', message: 'authentication required' })
          : principal.mustChangePassword
            ? res.status(403).json({ statusCode: 403, error: 'password_change_required', message: PASSWORD_CHANGE_REQUIRED })
            : principal.scope === 'source'
              ? res.status(403).json({ statusCode: 403, error: 'forbidden', message: 'a source-scoped token may only send heartbeats' })
              : next(),
      )
      .catch(next);
  });
  app.enableShutdownHooks();

  const document = SwaggerModule.createDocument(
    app,
    new DocumentBuilder()
      .setTitle('RsyncHub API')
      .setDescription('Provision rsync daemon modules, auth users and settings; review transfers and the audit log.')
      .setVersion('1')
      .addBearerAuth()
      .addCookieAuth('rsynchub_session')
      .build(),
  );
  SwaggerModule.setup('api/docs', app, document, { jsonDocumentUrl: 'api/docs-json' });
  serveWebConsole(app, config.webDir);
  Logger.log('OpenAPI at /api/docs', 'RsyncHub');
  return app;
}

/**
 * The built web console is served on the same port as the API (one URL for `npm start`), with the SPA fallback
 * that sends index.html for client-side routes. Assets are public, like any login page; all data stays behind auth.
 */
function serveWebConsole(app: NestExpressApplication, webDir: string): void {
  const index = path.join(webDir, 'index.html');
  if (!fs.existsSync(index)) {
    Logger.warn(`web console not built (${index} missing): only the API is served`, 'RsyncHub');
    return;
  }
  app.useStaticAssets(webDir, { index: false, setHeaders: (res, file) => res.setHeader('Cache-Control', staticCacheControl(file)) });
  app.use((req: Request, res: Response, next: NextFunction) => {
    if (req.method !== 'GET' || req.path.startsWith('/api/') || req.path === '/metrics' || path.extname(req.path)) return next();
    res.setHeader('Cache-Control', 'no-cache');
    res.sendFile(index);
  });
}
