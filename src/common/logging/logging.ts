import type { IncomingMessage, ServerResponse } from 'node:http';
import { hostname } from 'node:os';
import type { Params } from 'nestjs-pino';
import type { AppConfig } from '../../config/config';

/**
 * Keys whose values never reach a log line: credentials, tokens, codes and every PII field name used by
 * the API. Wildcards cover two levels of nesting, where such values appear in structured log objects.
 */
export const REDACTED_KEYS = [
  'password', 'newPassword', 'currentPassword', 'initialPassword',
  'token', 'accessToken', 'refreshToken', 'challengeToken', 'secret', 'code', 'recoveryCode', 'recoveryCodes',
  'fullName', 'email', 'phone', 'nationalId', 'dateOfBirth', 'address', 'content', 'description', 'note', 'notes', 'comment',
  'contactEmail', 'otpauthUri', 'totpSecret', 'passwordHash', 'summary', 'reference',
  'variables', 'query',
  // A database error carries the statement's parameters and the offending values ("Key (x)=(…)").
  'parameters', 'driverError', 'detail',
];

export function redactPaths(): string[] {
  return [
    'req.headers.authorization',
    'req.headers.cookie',
    'req.headers["x-api-key"]',
    'res.headers["set-cookie"]',
    ...REDACTED_KEYS,
    ...REDACTED_KEYS.map((k) => `*.${k}`),
    ...REDACTED_KEYS.map((k) => `*.*.${k}`),
  ];
}

/**
 * What of an unexpected error may be logged: its type, message, database error code and stack — never the
 * properties libraries attach (a failed query's SQL parameters, the driver's detail naming the values).
 */
export function loggableError(error: unknown): Record<string, unknown> {
  if (!(error instanceof Error)) return { type: typeof error, message: String(error).slice(0, 500) };
  const code = (error as { code?: unknown; driverError?: { code?: unknown } }).driverError?.code ?? (error as { code?: unknown }).code;
  // As `sqlState`: `code` is a redacted key (a one-time code is called that), so under it the value never showed.
  return { type: error.name, message: error.message, ...(typeof code === 'string' ? { sqlState: code } : {}), stack: error.stack };
}

/** Structured JSON logs with the request id on every line; no bodies, no query strings, no secrets. */
export function loggerParams(config: AppConfig): Params {
  return {
    pinoHttp: {
      level: config.logLevel,
      genReqId: (req: IncomingMessage) => (req as IncomingMessage & { id: string }).id,
      redact: { paths: redactPaths(), censor: '[REDACTED]' },
      // On the root logger once, not per request (pino-http's customProps makes two child loggers a request).
      base: { pid: process.pid, hostname: hostname(), service: 'custos' },
      // Health probes would drown everything else.
      // `originalUrl`: the HTTP server's middleware layer rewrites `url` relative to where the logger is mounted.
      autoLogging: { ignore: (req: IncomingMessage & { originalUrl?: string }) => (req.originalUrl ?? req.url ?? '').startsWith('/health') },
      serializers: {
        // GET /graphql?query=… may carry PII in literals: log the path only.
        req: (req: { id: string; method: string; url: string; remoteAddress?: string; raw?: { clientRequestId?: string } }) => ({
          id: req.id,
          ...(req.raw?.clientRequestId ? { clientRequestId: req.raw.clientRequestId } : {}),
          method: req.method,
          path: (req.url ?? '').split('?')[0],
          remoteAddress: req.remoteAddress,
        }),
        res: (res: ServerResponse & { statusCode: number }) => ({ statusCode: res.statusCode }),
      },
    },
  };
}
