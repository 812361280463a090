import { ApolloDriver, type ApolloDriverConfig } from '@nestjs/apollo';
import { Module } from '@nestjs/common';
import { GraphQLModule } from '@nestjs/graphql';
import { Logger } from 'nestjs-pino';
import { APP_CONFIG } from '../config/config.module';
import type { AppConfig } from '../config/config';
import { MetricsService } from '../health/metrics.service';
import { graphqlOptions } from './graphql.options';
import { ServerInfoResolver } from './server-info.resolver';
import { SubscriptionSockets } from './subscription-sockets';
import { AUDIT_SINK, type AuditSink } from '../common/audit/audit-sink';
import { PRINCIPAL_RESOLVER, type PrincipalResolver } from '../access/principal-resolver';
import { ClsService } from 'nestjs-cls';
import { RequestContext } from '../common/context/request-context';
import { RateLimiter } from '../common/rate-limit/rate-limiter.service';
import { clientAddressOf, trustProxyFunction } from '../common/http/client-address';

@Module({
  imports: [
    GraphQLModule.forRootAsync<ApolloDriverConfig>({
      driver: ApolloDriver,
      inject: [APP_CONFIG, MetricsService, Logger, AUDIT_SINK, PRINCIPAL_RESOLVER, ClsService, RequestContext, RateLimiter],
      useFactory: (config: AppConfig, metrics: MetricsService, logger: Logger, audit: AuditSink, principals: PrincipalResolver, cls: ClsService, requestContext: RequestContext, limiter: RateLimiter) => {
        const trust = trustProxyFunction(config.trustProxy);
        return graphqlOptions(config, metrics, {
          log: (fields, message) => logger.log(fields, message),
          error: (fields, message) => logger.error(fields, message),
        }, audit, principals, cls, requestContext, {
          limiter,
          // A WebSocket upgrade is read with the same TRUST_PROXY as an HTTP request (createHttpAdapter).
          clientIp: (request) => clientAddressOf(request, trust),
        });
      },
    }),
  ],
  providers: [ServerInfoResolver, SubscriptionSockets],
})
export class GraphqlApiModule {}
