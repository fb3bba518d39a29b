import 'reflect-metadata';
import { INestApplication, Logger, LogLevel, ValidationError, ValidationPipe } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import { WsAdapter } from '@nestjs/platform-ws';
import type { NestExpressApplication } from '@nestjs/platform-express';
import cookieParser from 'cookie-parser';
import { API_PREFIX, FieldError } from '@rsynchub/contracts';
import { AppModule } from './app.module';
import { ApiExceptionFilter } from './common/api-exception.filter';
import { ValidationFailed } from './common/errors';

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
  });
  app.useBodyParser('json', { limit: '2mb' });
  app.set('trust proxy', false);
  app.disable('x-powered-by');
  app.use(cookieParser());
  app.setGlobalPrefix(API_PREFIX.slice(1), { exclude: ['metrics'] });
  app.useGlobalFilters(new ApiExceptionFilter());
  app.useGlobalPipes(
    new ValidationPipe({
      whitelist: true,
      forbidNonWhitelisted: true,
      transform: true,
      exceptionFactory: (errors) => new ValidationFailed(flatten(errors)),
    }),
  );
  app.useWebSocketAdapter(new WsAdapter(app));
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
  Logger.log('OpenAPI at /api/docs', 'RsyncHub');
  return app;
}
