import { Injectable, OnModuleInit } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { NextFunction, Request, Response } from 'express';
import { API_PREFIX, ApiErrorBody } from '@rsynchub/contracts';
import { AuthService } from './auth.service';
import { AUTH_REQUIRED } from './auth.guard';

/**
 * Unknown API paths answer 401 to unauthenticated clients (404 only once authenticated), so the route table cannot
 * be probed without credentials. Registered in onModuleInit, which Nest runs after the routes are mounted and before
 * its not-found handler, so this only ever sees requests that no route handled.
 */
@Injectable()
export class UnknownRouteAuth implements OnModuleInit {
  constructor(
    private readonly adapterHost: HttpAdapterHost,
    private readonly auth: AuthService,
  ) {}

  onModuleInit(): void {
    const adapter = this.adapterHost.httpAdapter;
    if (!adapter || adapter.getType() !== 'express') return;
    adapter.use((req: Request, res: Response, next: NextFunction) => {
      const path = req.originalUrl.split('?')[0];
      if (path !== API_PREFIX && !path.startsWith(`${API_PREFIX}/`)) return next();
      this.auth.authenticateRequest(req).then(
        (found) => {
          if (found) return next();
          const body: ApiErrorBody = { statusCode: 401, error: 'unauthorized', message: AUTH_REQUIRED };
          res.status(401).json(body);
        },
        (err: unknown) => next(err),
      );
    });
  }
}
