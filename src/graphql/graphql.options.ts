import type { ApolloDriverConfig } from '@nestjs/apollo';
import type { AppConfig } from '../config/config';
import type { MetricsService } from '../health/metrics.service';
import { loggableError } from '../common/logging/logging';
import { createErrorFormatter } from './format-error';
import { costLimitPlugin, operationTelemetryPlugin, singleLimitErrorPlugin, type OperationLogger } from './plugins';
import { armorProtection } from './query-limits';
import { oncePerRequestPlugin } from './once-per-request.plugin';
import { applyFieldPolicies } from '../access/field-policy';
import { ApolloServerPluginCacheControlDisabled } from '@apollo/server/plugin/disabled';
import { fieldAuditFlusher, fieldAuditPlugin } from './field-audit.plugin';
import { deniedAccessAuditPlugin, failedMutationAuditPlugin, type DeniedAccessAudit } from './denied-access-audit.plugin';
import type { AuditSink } from '../common/audit/audit-sink';
import type { PrincipalResolver } from '../access/principal-resolver';
import type { ClsService } from 'nestjs-cls';
import type { RequestContext } from '../common/context/request-context';
import { graphqlContext } from './subscriber-context';
import { SUBSCRIPTION_FIELDS, subscriptionOptions, type SubscriptionDeps } from './subscriptions';
import { LiveSockets } from './live-sockets';
import { CompiledExecution } from './compiled-execution';
import { DateTimeScalar } from '../common/scalars/date-time';

/**
 * Apollo settings in one place: limits before execution, CSRF prevention, no batching, and in production
 * no introspection, landing page, suggestions or stack traces.
 */
export function graphqlOptions(config: AppConfig, metrics: MetricsService, logger: OperationLogger & { error(fields: object, message: string): void }, audit: AuditSink, principals: PrincipalResolver, cls: ClsService, requestContext: RequestContext, sockets: Pick<SubscriptionDeps, 'limiter' | 'clientIp'>): ApolloDriverConfig {
  const armor = armorProtection(config);
  const execution = new CompiledExecution(config.graphql.compileAfter);
  const liveSockets = new LiveSockets(config.graphql.maxSocketsPerPrincipal, SUBSCRIPTION_FIELDS);
  metrics.registerGauge('custos_graphql_sockets_open', 'Subscription sockets open on this instance, past their credential check', () =>
    Promise.resolve([{ labels: {}, value: liveSockets.openSockets }]),
  );
  metrics.registerGauge(
    'custos_graphql_subscriptions_live',
    'Live subscriptions on this instance, by subscription field',
    () => Promise.resolve(liveSockets.liveSubscriptions().map(({ field, count }) => ({ labels: { field }, value: count }))),
    ['field'],
  );
  return {
    autoSchemaFile: true,
    sortSchema: true,
    path: '/graphql',
    context: graphqlContext,
    subscriptions: subscriptionOptions({ audit, schema: () => execution.currentSchema(), maxCost: config.graphql.maxCost, hideSuggestions: config.isProduction, principals, validationRules: armor.validationRules, flushFieldAudit: fieldAuditFlusher(audit), cls, context: requestContext, sockets: liveSockets, rateLimits: config.rateLimits, ...sockets }) as never,
    csrfPrevention: true,
    allowBatchedHttpRequests: false,
    introspection: !config.isProduction,
    playground: false,
    // GraphiQL in development only; production gets no landing page at all.
    graphiql: !config.isProduction,
    // Guards, interceptors and filters also run on @ResolveField, so field policies hold on nested paths.
    fieldResolverEnhancers: ['guards', 'interceptors', 'filters'],
    includeStacktraceInErrorResponses: !config.isProduction,
    hideSchemaDetailsFromClientErrors: config.isProduction,
    validationRules: armor.validationRules,
    plugins: [
      // No HTTP caching of an authenticated API; left on, Apollo's cache-control plugin hooks every field.
      ApolloServerPluginCacheControlDisabled(),
      ...(armor.plugins as never[]),
      costLimitPlugin(config.graphql.maxCost),
      oncePerRequestPlugin(),
      fieldAuditPlugin(audit),
      ...('hasDeniedEntry' in audit ? [deniedAccessAuditPlugin(audit as DeniedAccessAudit, requestContext, logger)] : []),
      failedMutationAuditPlugin(audit, logger, requestContext),
      singleLimitErrorPlugin(),
      operationTelemetryPlugin(metrics, logger),
    ],
    formatError: createErrorFormatter({
      isProduction: config.isProduction,
      onInternalError: (error) => logger.error({ err: loggableError(error) }, 'unexpected error in GraphQL operation'),
    }),
    // Every `Date` field and argument is the strict DateTime scalar (an offset required), not Nest's
    // GraphQLISODateTime, which reads any input with `new Date(value)`.
    buildSchemaOptions: { dateScalarMode: 'isoDate', numberScalarMode: 'integer', scalarsMap: [{ type: Date, scalar: DateTimeScalar }] },
    // The field policy wraps the resolvers of protected types in the built schema (see applyFieldPolicies).
    transformSchema: (schema) => execution.useSchema(applyFieldPolicies(schema)),
    gateway: execution.gateway,
  } as ApolloDriverConfig;
}
