import { Catch, type ArgumentsHost } from '@nestjs/common';
import { BaseExceptionFilter } from '@nestjs/core';
import type { GqlContextType } from '@nestjs/graphql';
import { AppError } from './app-error';

/**
 * Errors the application raises on purpose (`AppError`: bad input, a refusal, a missing row, a limit) are
 * answers to the client, not faults of the server. Without this filter Nest's default handler logs each at
 * error level with its stack, so a client sending bad input fills the error log and trips alerts on it.
 * In a GraphQL resolver, guard or pipe the error is handed back unlogged: graphql-js reports a returned
 * error at its path exactly as a thrown one, and the formatter gives it its code. Elsewhere (plain HTTP
 * routes, whose own filters come first) Nest's default handling applies, as before. Errors from anything
 * else (the database, a bug) still reach the default handler and its log.
 */
@Catch(AppError)
export class ExpectedErrorFilter extends BaseExceptionFilter {
  override catch(exception: AppError, host: ArgumentsHost): unknown {
    if (host.getType<GqlContextType>() === 'graphql') return exception;
    return super.catch(exception, host);
  }
}
