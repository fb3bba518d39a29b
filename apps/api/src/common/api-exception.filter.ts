import { ArgumentsHost, Catch, ExceptionFilter, HttpException, HttpStatus, Logger } from '@nestjs/common';
import type { Response } from 'express';
import type { ApiErrorBody } from '@rsynchub/contracts';
import { FieldConflict, ValidationFailed } from './errors';

const ERROR_KINDS: Record<number, string> = {
  400: 'validation',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not_found',
  409: 'conflict',
  413: 'payload_too_large',
  415: 'unsupported_media_type',
  429: 'too_many_requests',
  503: 'unavailable',
};

/** One error body for the whole API: `{statusCode, error, message, details?}`. Unknown errors never leak internals. */
@Catch()
export class ApiExceptionFilter implements ExceptionFilter {
  private readonly logger = new Logger('ApiExceptionFilter');

  /** Set once the app is built: records mutating requests refused before any controller ran (401/403/429). */
  onRefusedMutation: ((req: unknown, err: unknown) => Promise<void>) | null = null;

  catch(exception: unknown, host: ArgumentsHost): void {
    if (host.getType() !== 'http') return;
    const res = host.switchToHttp().getResponse<Response>();
    const req = host.switchToHttp().getRequest<{ method: string; auditHandled?: boolean }>();
    const body = this.toBody(exception);
    if (this.onRefusedMutation && !req.auditHandled && !['GET', 'HEAD', 'OPTIONS'].includes(req.method) && [401, 403, 429].includes(body.statusCode)) {
      this.onRefusedMutation(req, exception)
        .catch((err: unknown) => this.logger.error(`could not audit a refused request: ${String(err)}`))
        .finally(() => !res.headersSent && res.status(body.statusCode).json(body));
      return;
    }
    if (body.statusCode >= 500) {
      this.logger.error(exception instanceof Error ? exception.stack ?? exception.message : String(exception));
    }
    if (!res.headersSent) res.status(body.statusCode).json(body);
  }

  private toBody(exception: unknown): ApiErrorBody {
    if (exception instanceof ValidationFailed) {
      return { statusCode: 400, error: 'validation', message: exception.message, details: exception.details };
    }
    if (exception instanceof FieldConflict) {
      return { statusCode: 409, error: 'conflict', message: exception.message, details: exception.details };
    }
    if (exception instanceof HttpException) {
      const status = exception.getStatus();
      const response = exception.getResponse();
      let message = exception.message;
      if (typeof response === 'object' && response !== null && 'message' in response) {
        const m = (response as { message: unknown }).message;
        message = Array.isArray(m) ? m.join('; ') : String(m);
      }
      const kind = (exception as { errorKind?: unknown }).errorKind;
      return { statusCode: status, error: typeof kind === 'string' ? kind : (ERROR_KINDS[status] ?? 'error'), message };
    }
    // body-parser errors (malformed JSON, too large) carry a status but are not HttpExceptions.
    const status = (exception as { status?: unknown })?.status;
    if (typeof status === 'number' && status >= 400 && status < 500) {
      const type = (exception as { type?: unknown }).type;
      const message =
        status === 413
          ? 'request body is too large'
          : type === 'entity.too.deep'
            ? String((exception as Error).message)
            : 'request body is not valid JSON';
      return { statusCode: status, error: ERROR_KINDS[status] ?? 'error', message };
    }
    return { statusCode: HttpStatus.INTERNAL_SERVER_ERROR, error: 'internal', message: 'internal server error' };
  }
}
