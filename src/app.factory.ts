import type { Server } from 'node:http';
import type { INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { Logger } from 'nestjs-pino';
import { AppModule } from './app.module';
import { mintRequestId, REQUEST_ID_HEADER } from './common/context/request-id';
import { trustProxyFunction } from './common/http/client-address';
import { trackResponsesInFlight } from './common/http/responses-in-flight';
import type { AppConfig } from './config/config';

/** Request bodies above this are refused (413) before parsing; 1000 inline events fit comfortably. */
const MAX_BODY_BYTES = 1024 * 1024;

/**
 * Builds the application exactly as production runs it; tests use this too. Fastify, not Express: on the
 * single-event ingest load the app's one thread is the bottleneck, and Fastify's request handling costs it
 * noticeably less per request (docs/ARCHITECTURE.md, "HTTP adapter").
 */
export async function createApp(config: AppConfig, databaseUrl: string): Promise<INestApplication> {
  const app = await NestFactory.create<NestFastifyApplication>(AppModule.forRoot({ config, databaseUrl }), createHttpAdapter(config), {
    bufferLogs: true,
  });
  app.useLogger(app.get(Logger));
  return app;
}

/** The HTTP server's settings: body limit, trusted proxies and request ids. */
export function createHttpAdapter(config: AppConfig): FastifyAdapter {
  const adapter = new FastifyAdapter({
    bodyLimit: MAX_BODY_BYTES,
    // Node's own defaults, which Fastify replaces with 72 s and none: an idle keep-alive connection holds its
    // socket for 5 s, not 72, and a body trickled in byte by byte is cut at 5 min.
    keepAliveTimeout: 5_000,
    requestTimeout: 300_000,
    // Behind a load balancer set TRUST_PROXY so the client address comes from X-Forwarded-For; by default no
    // proxy is trusted, so clients cannot choose the IP that rate limits and the audit log see.
    trustProxy: trustProxyFunction(config.trustProxy),
    // Our own id for every request; an incoming x-request-id is never adopted (see mintRequestId).
    genReqId: mintRequestId,
    requestIdHeader: false,
  });
  adapter.getInstance().addHook('onRequest', (request, reply, done) => {
    reply.header(REQUEST_ID_HEADER, request.id);
    done();
  });
  // So that a shutdown's drain (server.ts) can end each keep-alive connection with the response it carries.
  trackResponsesInFlight(adapter.getInstance().server as Server);
  return adapter;
}

/** Initialises the app without listening, for callers that drive its HTTP server directly (supertest). */
export async function initApp(app: INestApplication): Promise<void> {
  await app.init();
  // Fastify seals its routes and hooks on `ready`, which `listen` would otherwise do.
  await (app as NestFastifyApplication).getHttpAdapter().getInstance().ready();
}
