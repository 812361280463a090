import { HttpException } from '@nestjs/common';
import { unwrapResolverError } from '@apollo/server/errors';
import { GraphQLError, type GraphQLFormattedError } from 'graphql';
import { AppError, ServiceUnavailableError } from '../common/errors/app-error';
import { ErrorCode } from '../common/errors/error-codes';
import { LIMIT_MARKER } from './query-limits';
import { scrubInputMessage, variableFieldErrors } from './variable-errors';

const HTTP_TO_CODE: Record<number, ErrorCode> = {
  400: ErrorCode.BAD_USER_INPUT,
  401: ErrorCode.UNAUTHENTICATED,
  403: ErrorCode.FORBIDDEN,
  404: ErrorCode.NOT_FOUND,
  409: ErrorCode.CONFLICT,
  429: ErrorCode.RATE_LIMITED,
};

/** Codes produced by Apollo/graphql-js itself that clients may rely on and that reveal nothing. */
const PASS_THROUGH = new Set([
  'GRAPHQL_PARSE_FAILED',
  'GRAPHQL_VALIDATION_FAILED',
  'BAD_USER_INPUT',
  'BAD_REQUEST',
  'OPERATION_RESOLUTION_FAILURE',
  'PERSISTED_QUERY_NOT_FOUND',
  'PERSISTED_QUERY_NOT_SUPPORTED',
]);

/** graphql-armor reports limits as validation errors "Syntax Error: <Kind> limit of N exceeded, found M." */
const ARMOR_LIMIT = /^Syntax Error: (Query depth|Aliases|Directives|Token|Query Cost) limit of \d+/;

/** A limit error's message as clients get it: armor's "Syntax Error: " prefix dropped (it is no syntax error). */
export const limitErrorMessage = (message: string): string => message.replace(/^Syntax Error: /, '');

/** An error raised by a query limit (armor's or ours): over HTTP and on the subscription socket alike. */
export function isLimitError(formatted: Pick<GraphQLFormattedError, 'message'>, original: unknown = formatted): boolean {
  const marked = (original as { extensions?: Record<string, unknown> } | undefined)?.extensions?.[LIMIT_MARKER];
  return Boolean(marked) || ARMOR_LIMIT.test(formatted.message);
}

export interface ErrorFormatterOptions {
  isProduction: boolean;
  /** Receives unexpected errors (with stack) so they are logged server-side, never sent. */
  onInternalError: (error: unknown) => void;
}

/**
 * The one place where every error becomes a client-facing `extensions.code`. Known application errors
 * keep theirs; library errors are translated; anything unexpected becomes INTERNAL_SERVER_ERROR without
 * its message in production (no SQL, no stack).
 */
export function createErrorFormatter(options: ErrorFormatterOptions) {
  return (formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError => {
    const original = appErrorInside(unwrapResolverError(error));
    const base = { message: formatted.message, locations: formatted.locations, path: formatted.path };

    if (original instanceof AppError) {
      const { http: _http, stacktrace: _stack, ...extensions } = (original.extensions ?? {}) as Record<string, unknown>;
      return { ...base, message: original.message, extensions: { ...extensions, code: original.code } };
    }

    // The database could not serve in time (statement or lock timeout, a full pool): say so, retryable,
    // rather than INTERNAL_SERVER_ERROR; still logged server-side, where an operator looks for the lock.
    const unavailable = ServiceUnavailableError.fromDatabase(original);
    if (unavailable) {
      options.onInternalError(original);
      const { http: _http, stacktrace: _stack, ...unavailableExtensions } = (unavailable.extensions ?? {}) as Record<string, unknown>;
      return { ...base, message: unavailable.message, extensions: { ...unavailableExtensions, code: unavailable.code } };
    }

    const extensions = (formatted.extensions ?? {}) as Record<string, unknown>;
    if (isLimitError(formatted, original)) {
      return { ...base, message: limitErrorMessage(formatted.message), extensions: { code: ErrorCode.QUERY_TOO_COMPLEX } };
    }

    // A unique constraint caught a race the service's own check could not (two creates at once).
    const sqlState = (original as { driverError?: { code?: string } } | undefined)?.driverError?.code;
    if (sqlState === '23505') {
      return { ...base, message: 'Already exists', extensions: { code: ErrorCode.CONFLICT } };
    }
    // Text PostgreSQL cannot store (a NUL character, a lone surrogate in jsonb) that no input check caught:
    // the input's fault, not ours.
    const detail = (original as { driverError?: { detail?: string } } | undefined)?.driverError?.detail ?? '';
    if (sqlState === '22P05' || sqlState === '22021' || (sqlState === '22P02' && /surrogate/i.test(detail))) {
      return { ...base, message: 'The input holds a character that cannot be stored (NUL or an unpaired surrogate)', extensions: { code: ErrorCode.BAD_USER_INPUT } };
    }

    if (original instanceof HttpException) {
      const status = original.getStatus();
      const code = HTTP_TO_CODE[status] ?? ErrorCode.INTERNAL_SERVER_ERROR;
      if (code !== ErrorCode.INTERNAL_SERVER_ERROR) return { ...base, message: original.message, extensions: { code } };
    }

    const code = typeof extensions.code === 'string' ? extensions.code : undefined;
    if (code === ErrorCode.BAD_USER_INPUT) {
      // graphql-js's coercion of variables: name the offending input path like our own validation does.
      const fieldErrors = variableFieldErrors(formatted.message);
      return { ...base, message: scrubInputMessage(formatted.message), extensions: { code, ...(fieldErrors.length ? { fieldErrors } : {}) } };
    }
    if (code && PASS_THROUGH.has(code)) {
      // graphql-js quotes the literal it could not coerce ("found …", "cannot represent …: …"): not to the client.
      const message = code === 'GRAPHQL_VALIDATION_FAILED' ? scrubInputMessage(formatted.message) : formatted.message;
      return { ...base, message, extensions: { code, ...(options.isProduction ? {} : { stacktrace: extensions.stacktrace }) } };
    }

    options.onInternalError(original);
    return {
      ...base,
      message: options.isProduction ? 'Internal server error' : formatted.message,
      extensions: { code: ErrorCode.INTERNAL_SERVER_ERROR, ...(options.isProduction ? {} : { stacktrace: extensions.stacktrace }) },
    };
  };
}

/**
 * An AppError thrown while graphql-js validates a literal (a `Date` scalar's parseLiteral, say) reaches us
 * wrapped in a validation error: the client should still get our code, not GRAPHQL_VALIDATION_FAILED.
 */
function appErrorInside(error: unknown): unknown {
  if (error instanceof GraphQLError && error.originalError instanceof AppError) return error.originalError;
  return error;
}

