import { Module, type DynamicModule } from '@nestjs/common';
import { ClsModule } from 'nestjs-cls';
import { LoggerModule } from 'nestjs-pino';
import type { AppConfig } from './config/config';
import type { RequestWithId } from './common/context/request-id';
import { ConfigModule } from './config/config.module';
import { DatabaseModule } from './database/database.module';
import { loggerParams } from './common/logging/logging';
import { GraphqlApiModule } from './graphql/graphql-api.module';
import { HealthModule } from './health/health.module';
import { APP_FILTER, APP_GUARD, APP_PIPE } from '@nestjs/core';
import { ExpectedErrorFilter } from './common/errors/expected-error.filter';
import { AccessGuard } from './access/access.guard';
import { ContextModule } from './common/context/context.module';
import { CryptoModule } from './common/crypto/crypto.module';
import { NotifyModule } from './common/notify/notify.module';
import { RateLimitModule } from './common/rate-limit/rate-limit.module';
import { JobsModule } from './common/jobs/jobs.module';
import { InputValidationPipe } from './common/validation/validation.pipe';
import { AuditModule } from './modules/audit/audit.module';
import { IdentityModule } from './modules/identity/identity.module';
import { CustomersModule } from './modules/customers/customers.module';
import { MonitoringModule } from './modules/monitoring/monitoring.module';
import { ComplaintsModule } from './modules/complaints/complaints.module';
import { VerificationModule } from './modules/verification/verification.module';

export interface AppModuleOptions {
  config: AppConfig;
  /** Resolved database URL: DATABASE_URL or the embedded server's. */
  databaseUrl: string;
}

@Module({})
export class AppModule {
  static forRoot({ config, databaseUrl }: AppModuleOptions): DynamicModule {
    return {
      module: AppModule,
      imports: [
        ConfigModule.forRoot(config),
        ClsModule.forRoot({
          global: true,
          middleware: { mount: true, generateId: true, idGenerator: (req: RequestWithId) => req.id },
        }),
        LoggerModule.forRoot(loggerParams(config)),
        // The embedded PGlite (no DATABASE_URL) serves every connection in one session: no named statements or
        // pipelines there.
        DatabaseModule.forRoot(databaseUrl, {
          pipelining: config.databaseUrl !== undefined,
          preparedStatements: config.databaseUrl !== undefined && config.databasePreparedStatements,
          timeouts: config.databaseTimeouts,
        }),
        ContextModule,
        CryptoModule,
        NotifyModule,
        RateLimitModule.forRoot(config.redisUrl, `${config.redisKeyPrefix}rl:`),
        JobsModule,
        HealthModule,
        GraphqlApiModule,
        AuditModule,
        IdentityModule,
        CustomersModule,
        MonitoringModule,
        ComplaintsModule,
        VerificationModule,
      ],
      providers: [
        // Guards run before pipes: authorisation is decided before input is validated.
        { provide: APP_GUARD, useClass: AccessGuard },
        { provide: APP_PIPE, useClass: InputValidationPipe },
        { provide: APP_FILTER, useClass: ExpectedErrorFilter },
      ],
    };
  }
}
