import { Catch, HttpException, Logger, type ArgumentsHost, type ExceptionFilter } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { AppError } from '../../../common/errors/app-error';
import { ErrorCode, HTTP_STATUS } from '../../../common/errors/error-codes';

/**
 * The export is plain HTTP, not GraphQL: errors (the guard's UNAUTHENTICATED/FORBIDDEN/RATE_LIMITED
 * included) become a JSON body `{error: {code, message, …}}` with the matching status, in the API's
 * vocabulary. Once streaming has begun the status is already sent: the connection is cut instead, so a
 * truncated file never looks complete.
 */
@Catch()
export class HttpErrorFilter implements ExceptionFilter {
  private readonly logger = new Logger('AuditExport');

  catch(exception: unknown, host: ArgumentsHost): void {
    const reply = host.switchToHttp().getResponse<FastifyReply>();
    if (reply.raw.headersSent) {
      this.logger.error(exception, 'audit export failed while streaming');
      reply.raw.destroy();
      return;
    }
    let code = ErrorCode.INTERNAL_SERVER_ERROR;
    let message = 'Internal server error';
    let extra: Record<string, unknown> = {};
    if (exception instanceof AppError) {
      const { code: _code, http: _http, ...rest } = (exception.extensions ?? {}) as Record<string, unknown>;
      ({ code, message } = exception);
      extra = rest;
    } else if (exception instanceof HttpException && exception.getStatus() === 404) {
      code = ErrorCode.NOT_FOUND;
      message = 'Not found';
    } else {
      this.logger.error(exception, 'audit export failed');
    }
    if (typeof extra.retryAfterSeconds === 'number') reply.header('retry-after', String(extra.retryAfterSeconds));
    reply.status(HTTP_STATUS[code]).send({ error: { code, message, ...extra } });
  }
}
