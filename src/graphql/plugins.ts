import { createHash } from 'node:crypto';
import type { ApolloServerPlugin, BaseContext } from '@apollo/server';
import { ErrorCode } from '../common/errors/error-codes';
import type { MetricsService } from '../health/metrics.service';
import { assertCostWithinLimit } from './query-limits';

/** What the telemetry plugin needs of a logger (nestjs-pino's Logger fits). */
export interface OperationLogger {
  log(fields: object, message: string): void;
}

/** Rejects over-expensive operations after parsing and validation, before any resolver runs. */
export function costLimitPlugin(maxCost: number): ApolloServerPlugin<BaseContext> {
  return {
    async requestDidStart() {
      return {
        async didResolveOperation({ request, document, schema }) {
          assertCostWithinLimit(schema, document, request.variables, request.operationName ?? undefined, maxCost);
        },
      };
    },
  };
}

/**
 * A document that breaks a limit gets exactly one QUERY_TOO_COMPLEX error, however many nodes broke it,
 * so a hostile document cannot amplify the response.
 */
export function singleLimitErrorPlugin(): ApolloServerPlugin<BaseContext> {
  return {
    async requestDidStart() {
      return {
        async willSendResponse({ response }) {
          if (response.body.kind !== 'single') return;
          const errors = response.body.singleResult.errors;
          const first = errors?.find((e) => e.extensions?.code === ErrorCode.QUERY_TOO_COMPLEX);
          if (first) {
            response.body.singleResult.errors = [first];
            delete response.body.singleResult.data;
          }
        },
      };
    },
  };
}

/**
 * Latency histogram by operation name and one log line per operation. The document itself and its
 * variables are never logged (literals may carry PII): only the name and a hash of the document.
 */
export function operationTelemetryPlugin(metrics: MetricsService, logger: OperationLogger): ApolloServerPlugin<BaseContext> {
  return {
    async requestDidStart({ request }) {
      const startedAt = process.hrtime.bigint();
      return {
        async willSendResponse(ctx) {
          const seconds = Number(process.hrtime.bigint() - startedAt) / 1e9;
          const operation = ctx.operationName ?? request.operationName ?? 'anonymous';
          const type = ctx.operation?.operation ?? 'unknown';
          const errors = ctx.response.body.kind === 'single' ? (ctx.response.body.singleResult.errors ?? []) : [];
          const codes = errors.map((e) => String(e.extensions?.code ?? 'INTERNAL_SERVER_ERROR'));
          codes.forEach((code) => metrics.graphqlErrors.inc({ code }));
          metrics.graphqlDuration.observe({ operation: operation.slice(0, 64), type, outcome: errors.length ? 'error' : 'ok' }, seconds);
          logger.log(
            {
              graphql: {
                operationName: operation,
                type,
                documentHash: ctx.source ? createHash('sha256').update(ctx.source).digest('hex').slice(0, 16) : undefined,
                durationMs: Math.round(seconds * 1000),
                errorCodes: codes.length ? codes : undefined,
              },
            },
            'graphql operation',
          );
        },
      };
    },
  };
}
