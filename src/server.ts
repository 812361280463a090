import type { Server } from 'node:http';
import type { INestApplication } from '@nestjs/common';
import { createApp } from './app.factory';
import { lastResponsesOnTheirConnections } from './common/http/responses-in-flight';
import { loadConfig, type AppConfig } from './config/config';
import { startEmbeddedPostgres, type EmbeddedPostgres } from './database/embedded-postgres';
import { runMigrations } from './database/migrate';
import { SubscriptionSockets } from './graphql/subscription-sockets';

export interface RunningServer {
  app: INestApplication;
  config: AppConfig;
  url: string;
  stop(): Promise<void>;
}

/**
 * Start-up order: validate configuration, reach the database (embedded when DATABASE_URL is unset), apply
 * migrations, build the app (which creates the bootstrap admin on init), and only then listen.
 */
export async function startServer(env: NodeJS.ProcessEnv): Promise<RunningServer> {
  const say = (line: string) => process.stdout.write(`${line}\n`);
  const config = loadConfig(env, { warn: (m) => process.stderr.write(`WARNING: ${m}\n`) });
  let embedded: EmbeddedPostgres | undefined;
  if (!config.databaseUrl) {
    say(`No DATABASE_URL: starting embedded PostgreSQL (PGlite) in ${config.dataDir}/pgdata`);
    embedded = await startEmbeddedPostgres(config.dataDir);
  }
  const databaseUrl = config.databaseUrl ?? embedded!.url;
  const applied = await runMigrations(databaseUrl);
  if (applied.length) say(`Applied ${applied.length} migration(s)`);

  const app = await createApp(config, databaseUrl);
  await app.listen(config.port, '0.0.0.0');
  const address = app.getHttpServer().address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  const url = `http://localhost:${port}/graphql`;
  say(`Custos GraphQL API listening on ${url}`);

  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await shutDown(app);
    await embedded?.stop();
  };
  return { app, config, url, stop };
}

/**
 * Stops accepting and lets in-flight requests finish while jobs, the audit checkpointer and the pool are still
 * up; only then does Nest tear the modules down (e-mails in flight and webhook attempts get their own bounded
 * waits there). Subscription sockets never end by themselves: they are asked to go away first, and their
 * clients reconnect to another instance.
 */
export async function shutDown(app: INestApplication): Promise<void> {
  app.get(SubscriptionSockets).goingAway();
  await drainHttp(app.getHttpServer() as Server, SHUTDOWN_GRACE_MS);
  await app.close();
}

/** How long in-flight requests (and subscription sockets closing) get to finish on shutdown before they are cut. */
const SHUTDOWN_GRACE_MS = 10_000;

/**
 * Closes the listening socket, closes idle keep-alive connections at once and waits for requests in flight;
 * whatever still runs after `graceMs` (a stuck request, a socket whose client never answers) is cut so shutdown
 * always ends. A keep-alive connection carrying a request ends with its response (`Connection: close`), and so
 * does one on which a request still arrives, so none waits out its keep-alive timeout.
 */
export function drainHttp(server: Server, graceMs: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      server.closeAllConnections();
      resolve();
    }, graceMs);
    timer.unref();
    lastResponsesOnTheirConnections(server);
    server.close(() => {
      clearTimeout(timer);
      resolve();
    });
    server.closeIdleConnections();
  });
}
