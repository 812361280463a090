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
        async didResolveOperation({ request, document, schema, operation }) {
          // No operation to run (an unknown operationName, or several operations and none named): the
          // executor answers OPERATION_RESOLUTION_FAILURE without running anything, so there is nothing to price.
          if (!operation) return;
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

/** Distinct operation names the latency histogram keeps as labels; later ones are counted as `other`. */
export const MAX_OPERATION_LABELS = 200;

/**
 * Latency histogram by operation name and one log line per operation. The document itself and its
 * variables are never logged (literals may carry PII): only the name and a hash of the document.
 * Operation names are the client's choice, and each label value is a new series kept for the process's
 * life: only names of documents that parsed and resolved become labels, at most MAX_OPERATION_LABELS of
 * them (`unknown` when none resolved, `other` past the bound), so no caller can grow /metrics without end.
 */
export function operationTelemetryPlugin(metrics: MetricsService, logger: OperationLogger): ApolloServerPlugin<BaseContext> {
  const labels = new Set<string>();
  const labelOf = (name: string | null | undefined, resolved: boolean): string => {
    if (!resolved) return 'unknown';
    if (!name) return 'anonymous';
    if (labels.has(name)) return name;
    if (labels.size >= MAX_OPERATION_LABELS || name.length > 64) return 'other';
    labels.add(name);
    return name;
  };
  return {
    async requestDidStart({ request }) {
      const startedAt = process.hrtime.bigint();
      return {
        async willSendResponse(ctx) {
          const seconds = Number(process.hrtime.bigint() - startedAt) / 1e9;
          const operation = (ctx.operationName ?? request.operationName ?? 'anonymous').slice(0, 64);
          const type = ctx.operation?.operation ?? 'unknown';
          const errors = ctx.response.body.kind === 'single' ? (ctx.response.body.singleResult.errors ?? []) : [];
          const codes = errors.map((e) => String(e.extensions?.code ?? 'INTERNAL_SERVER_ERROR'));
          codes.forEach((code) => metrics.graphqlErrors.inc({ code }));
          metrics.graphqlDuration.observe({ operation: labelOf(ctx.operationName, ctx.operation !== undefined), type, outcome: errors.length ? 'error' : 'ok' }, seconds);
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
