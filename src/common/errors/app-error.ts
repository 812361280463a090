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
