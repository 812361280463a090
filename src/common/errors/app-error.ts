import { GraphQLError } from 'graphql';
import { ErrorCode } from './error-codes';

export interface FieldError {
  /** Dotted path from the input root, e.g. `input.email` or `condition.all.0.compare.op`. */
  path: string;
  message: string;
}

/**
 * Base of every error the application raises on purpose. It is a GraphQLError so that Apollo keeps its
 * extensions; the error formatter only has to translate errors raised by other libraries.
 */
export class AppError extends GraphQLError {
  constructor(
    readonly code: ErrorCode,
    message: string,
    extensions: Record<string, unknown> = {},
  ) {
    super(message, { extensions: { ...extensions, code } });
  }
}

export class UnauthenticatedError extends AppError {
  constructor(message = 'Authentication required', extensions: Record<string, unknown> = {}) {
    super(ErrorCode.UNAUTHENTICATED, message, extensions);
  }
}

export class ForbiddenError extends AppError {
  constructor(message = 'Not allowed', extensions: Record<string, unknown> = {}) {
    super(ErrorCode.FORBIDDEN, message, extensions);
  }
}

export class StepUpRequiredError extends AppError {
  constructor(message = 'This field needs a recent step-up (stepUp mutation)') {
    super(ErrorCode.STEP_UP_REQUIRED, message);
  }
}

export class NotFoundError extends AppError {
  constructor(what = 'Resource') {
    super(ErrorCode.NOT_FOUND, `${what} not found`);
  }
}

export class BadUserInputError extends AppError {
  constructor(message: string, fieldErrors: FieldError[] = [], extensions: Record<string, unknown> = {}) {
    super(ErrorCode.BAD_USER_INPUT, message, { ...extensions, fieldErrors });
  }

  /** Shorthand for a single invalid field. */
  static field(path: string, message: string): BadUserInputError {
    return new BadUserInputError(`Invalid input: ${path} ${message}`, [{ path, message }]);
  }
}

export class ConflictError extends AppError {
  constructor(message: string, extensions: Record<string, unknown> = {}) {
    super(ErrorCode.CONFLICT, message, extensions);
  }
}

export class InvalidTransitionError extends AppError {
  constructor(entity: string, from: string, to: string) {
    super(ErrorCode.INVALID_TRANSITION, `${entity} cannot move from ${from} to ${to}`, { from, to });
  }
}

export class RateLimitedError extends AppError {
  constructor(retryAfterSeconds: number, message = 'Too many requests') {
    super(ErrorCode.RATE_LIMITED, message, { retryAfterSeconds: Math.max(1, Math.ceil(retryAfterSeconds)) });
  }
}

export class QueryTooComplexError extends AppError {
  constructor(message: string) {
    super(ErrorCode.QUERY_TOO_COMPLEX, message, { http: { status: 400 } });
  }
}

/** Why the database could not serve (`extensions.reason` of SERVICE_UNAVAILABLE). */
export type UnavailableReason = 'STATEMENT_TIMEOUT' | 'LOCK_NOT_AVAILABLE' | 'IDLE_IN_TRANSACTION_TIMEOUT' | 'POOL_EXHAUSTED' | 'CONNECTION_TIMEOUT' | 'DATABASE_UNREACHABLE' | 'PUBSUB_UNAVAILABLE';

/** PostgreSQL SQLSTATEs that mean "not now" rather than "wrong": the same request may succeed later. */
const UNAVAILABLE_SQLSTATES: Record<string, UnavailableReason> = {
  // query_canceled: statement_timeout (DATABASE_STATEMENT_TIMEOUT_MS, lock waits included) or an operator's cancel.
  '57014': 'STATEMENT_TIMEOUT',
  // lock_not_available: lock_timeout, NOWAIT.
  '55P03': 'LOCK_NOT_AVAILABLE',
  // idle_in_transaction_session_timeout: the server ended a session left idle in a transaction (rolled back).
  '25P03': 'IDLE_IN_TRANSACTION_TIMEOUT',
  // The server going away or not taking connections: a restart, a failover, an operator ending the session.
  // admin_shutdown (also pg_terminate_backend), crash_shutdown, cannot_connect_now, too_many_connections.
  '57P01': 'DATABASE_UNREACHABLE',
  '57P02': 'DATABASE_UNREACHABLE',
  '57P03': 'DATABASE_UNREACHABLE',
  '53300': 'DATABASE_UNREACHABLE',
  // The socket to it failing (Node's error codes, on the same `code` property).
  ECONNREFUSED: 'DATABASE_UNREACHABLE',
  ECONNRESET: 'DATABASE_UNREACHABLE',
  ETIMEDOUT: 'DATABASE_UNREACHABLE',
  EPIPE: 'DATABASE_UNREACHABLE',
  EHOSTUNREACH: 'DATABASE_UNREACHABLE',
  EAI_AGAIN: 'DATABASE_UNREACHABLE',
};

/** SQLSTATE class 08, connection_exception: the connection to the server failed. */
const CONNECTION_EXCEPTION_CLASS = '08';

/** pg-pool's own errors (plain Errors, recognised by message: they are raised by pg-pool, never translated). */
const POOL_ERRORS: Record<string, UnavailableReason> = {
  // No connection came free within DATABASE_POOL_ACQUIRE_TIMEOUT_MS.
  'timeout exceeded when trying to connect': 'POOL_EXHAUSTED',
  // A new connection did not open within it.
  'Connection terminated due to connection timeout': 'CONNECTION_TIMEOUT',
  // pg: the server closed the connection under a query (a restart, a failover, a killed session).
  'Connection terminated unexpectedly': 'DATABASE_UNREACHABLE',
};

/**
 * The database could not serve this request in time: a statement or lock wait ran past its timeout, or no
 * pooled connection came free. The operation did not complete and may be retried: `retryable: true`, with
 * a `retryAfterSeconds` hint as RATE_LIMITED carries. The message names no SQL; `reason` says which limit.
 */
export class ServiceUnavailableError extends AppError {
  constructor(
    readonly reason: UnavailableReason,
    message = 'The service is busy and could not complete this operation in time; retry shortly',
  ) {
    super(ErrorCode.SERVICE_UNAVAILABLE, message, { reason, retryable: true, retryAfterSeconds: 1 });
  }

  /**
   * The reason when `error` is one of these database conditions, else undefined. Looks through the
   * wrappers they arrive in: TypeORM's QueryFailedError (`driverError`), `cause` chains.
   */
  static reasonOf(error: unknown): UnavailableReason | undefined {
    for (let e: unknown = error, depth = 0; e && typeof e === 'object' && depth < 5; depth++) {
      const { code, message, driverError, cause } = e as { code?: unknown; message?: unknown; driverError?: unknown; cause?: unknown };
      if (typeof code === 'string' && Object.hasOwn(UNAVAILABLE_SQLSTATES, code)) return UNAVAILABLE_SQLSTATES[code];
      if (typeof code === 'string' && code.length === 5 && code.startsWith(CONNECTION_EXCEPTION_CLASS)) return 'DATABASE_UNREACHABLE';
      if (typeof message === 'string' && Object.hasOwn(POOL_ERRORS, message) && e instanceof Error) return POOL_ERRORS[message];
      e = driverError ?? cause;
    }
    return undefined;
  }

  /** A ServiceUnavailableError for `error` when it is one of these database conditions. */
  static fromDatabase(error: unknown): ServiceUnavailableError | undefined {
    const reason = ServiceUnavailableError.reasonOf(error);
    return reason ? new ServiceUnavailableError(reason) : undefined;
  }
}
