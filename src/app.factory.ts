import type { INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { Logger } from 'nestjs-pino';
import { AppModule } from './app.module';
import { requestIdMiddleware } from './common/context/request-id';
import type { AppConfig } from './config/config';

/** Request bodies above this are refused (413) before parsing; 1000 inline events fit comfortably. */
export const MAX_BODY_BYTES = '1mb';

/** Builds the application exactly as production runs it; tests use this too. */
export async function createApp(config: AppConfig, databaseUrl: string): Promise<INestApplication> {
  const app = await NestFactory.create<NestExpressApplication>(AppModule.forRoot({ config, databaseUrl }), {
    bufferLogs: true,
    bodyParser: false,
  });
  app.useLogger(app.get(Logger));
  app.use(requestIdMiddleware);
  app.useBodyParser('json', { limit: MAX_BODY_BYTES });
  app.disable('x-powered-by');
  // Behind a load balancer set TRUST_PROXY so the client address comes from X-Forwarded-For; by default no
  // proxy is trusted, so clients cannot choose the IP that rate limits and the audit log see.
  app.set('trust proxy', config.trustProxy);
  return app;
}
