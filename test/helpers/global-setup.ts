import { runMigrations } from '../../src/database/migrate';
import { adminQuery, serverUrl, setTemplateName, uniqueName } from './postgres';

/** Creates and migrates the template database every e2e file clones. */
export default async function globalSetup(): Promise<void> {
  await ensureServerReachable();
  const name = uniqueName('custos_tpl');
  await adminQuery(`CREATE DATABASE ${name}`);
  await runMigrations(serverUrl(name));
  setTemplateName(name);
}

async function ensureServerReachable(): Promise<void> {
  try {
    await adminQuery('SELECT 1');
  } catch (error) {
    const hint = process.env.DATABASE_URL ? 'DATABASE_URL' : 'PostgreSQL on 127.0.0.1:5432 (user postgres)';
    throw new Error(`e2e tests need ${hint}: ${(error as Error).message}`);
  }
}
