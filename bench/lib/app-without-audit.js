#!/usr/bin/env node
'use strict';
/*
 * BENCH ONLY — the compiled app with its audit sink replaced by a no-op, to measure what auditing costs
 * (bench/audit-overhead.js). Production has no switch that turns auditing off and must not get one: this
 * file builds the same Nest application as `createApp` (dist/src/app.factory.js) — same
 * `AppModule.forRoot`, logger, request-id middleware, 1 MB JSON body parser, `x-powered-by` off, trust
 * proxy — except that `@nestjs/testing` overrides the `AUDIT_SINK` provider (the audit module's
 * `useExisting: AuditWriter`) with a sink that writes nothing. Everything that writes through the token
 * (the PII-read plugin, the access guard, the services) then writes nothing; `AuditWriter` itself still
 * exists (the audit module's own services use it), and the detector and checkpointer still run.
 *
 * As a module: `createAppWithoutAudit(config, databaseUrl)`, used by bench/lib/app-process.js.
 * Standalone (after a build; DATABASE_URL required, migrations applied):
 *
 *   DATABASE_URL=postgres://… PII_KEYS=… node bench/lib/app-without-audit.js
 */

const { requireDist } = require('./util');

/** Implements AuditSink (dist/src/common/audit/audit-sink): accepts every entry and keeps none. */
const NO_AUDIT_SINK = Object.freeze({
  async record() {},
  async recordMany() {},
});

/** `createApp` of dist/src/app.factory.js with AUDIT_SINK overridden; returns the (not yet listening) app. */
async function createAppWithoutAudit(config, databaseUrl) {
  require('reflect-metadata');
  const { Test } = require('@nestjs/testing');
  const { Logger } = require('nestjs-pino');
  const { AppModule } = requireDist('app.module');
  const { AUDIT_SINK } = requireDist('common/audit/audit-sink');
  const { createHttpAdapter } = requireDist('app.factory');

  const moduleRef = await Test.createTestingModule({ imports: [AppModule.forRoot({ config, databaseUrl })] })
    .overrideProvider(AUDIT_SINK)
    .useValue(NO_AUDIT_SINK)
    .compile();
  // As in createApp: the same HTTP adapter settings, bufferLogs: true.
  const app = moduleRef.createNestApplication(createHttpAdapter(config), { bufferLogs: true });
  app.useLogger(app.get(Logger));
  if (app.get(AUDIT_SINK, { strict: false }) !== NO_AUDIT_SINK) throw new Error('AUDIT_SINK was not overridden');
  return app;
}

async function main() {
  const { loadConfig } = requireDist('config/config');
  const { runMigrations } = requireDist('database/migrate');
  const config = loadConfig(process.env, { warn: (m) => process.stderr.write(`WARNING: ${m}\n`) });
  if (!config.databaseUrl) throw new Error('DATABASE_URL is required (no embedded PostgreSQL here)');
  await runMigrations(config.databaseUrl);
  const app = await createAppWithoutAudit(config, config.databaseUrl);
  await app.listen(config.port, '127.0.0.1');
  const { port } = app.getHttpServer().address();
  process.stderr.write('WARNING: AUDITING IS DISABLED (bench-only launcher, not for any real use)\n');
  process.stdout.write(`Custos (no audit) listening on http://127.0.0.1:${port}/graphql\n`);
  for (const signal of ['SIGTERM', 'SIGINT']) process.once(signal, () => app.close().then(() => process.exit(0), () => process.exit(1)));
}

if (require.main === module) {
  main().catch((error) => {
    console.error(error);
    process.exit(1);
  });
}

module.exports = { NO_AUDIT_SINK, createAppWithoutAudit };
