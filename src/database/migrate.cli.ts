import { loadConfig } from '../config/config';
import { startEmbeddedPostgres } from './embedded-postgres';
import { runMigrations } from './migrate';

/** `npm run migration:run`: the same migrations `npm start` applies, against DATABASE_URL or the embedded database. */
async function main(): Promise<void> {
  const config = loadConfig(process.env, { warn: (m) => console.warn(m) });
  const embedded = config.databaseUrl ? undefined : await startEmbeddedPostgres(config.dataDir);
  try {
    const applied = await runMigrations(config.databaseUrl ?? embedded!.url);
    console.log(applied.length ? `Applied ${applied.length} migration(s): ${applied.join(', ')}` : 'No pending migrations.');
  } finally {
    await embedded?.stop();
  }
}

main().catch((error: unknown) => {
  console.error(`migration failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
