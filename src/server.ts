import type { INestApplication } from '@nestjs/common';
import { createApp } from './app.factory';
import { loadConfig, type AppConfig } from './config/config';
import { startEmbeddedPostgres, type EmbeddedPostgres } from './database/embedded-postgres';
import { runMigrations } from './database/migrate';

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
    await app.close();
    await embedded?.stop();
  };
  return { app, config, url, stop };
}
