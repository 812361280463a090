import type { INestApplication } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { DataSource } from 'typeorm';

/** The server tests run against: DATABASE_URL if set, else the local PostgreSQL on 127.0.0.1:5432. */
export function serverUrl(database = 'postgres'): string {
  const url = new URL(process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres');
  url.pathname = `/${database}`;
  return url.toString();
}

export async function adminQuery(sql: string): Promise<void> {
  const client = new Client({ connectionString: serverUrl('postgres') });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

export function uniqueName(prefix: string): string {
  return `${prefix}_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;
}

const TEMPLATE_ENV = 'CUSTOS_TEST_TEMPLATE_DB';

export function templateName(): string {
  const name = process.env[TEMPLATE_ENV];
  if (!name) throw new Error('e2e global setup did not run (no template database)');
  return name;
}

export function setTemplateName(name: string): void {
  process.env[TEMPLATE_ENV] = name;
}

export interface TestDatabase {
  name: string;
  url: string;
  drop(): Promise<void>;
}

/**
 * A fresh database for one test file, cloned from the migrated template (a file copy: far faster than
 * running migrations again). Clones of one template cannot run concurrently, so retry while it is busy.
 */
export async function createTestDatabase(): Promise<TestDatabase> {
  const name = uniqueName('custos_test');
  const template = templateName();
  for (let attempt = 0; ; attempt++) {
    try {
      await adminQuery(`CREATE DATABASE ${name} TEMPLATE ${template}`);
      break;
    } catch (error) {
      const busy = (error as { code?: string }).code === '55006';
      if (!busy || attempt > 100) throw error;
      await new Promise((r) => setTimeout(r, 100 + Math.random() * 200));
    }
  }
  return {
    name,
    url: serverUrl(name),
    drop: () => adminQuery(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`),
  };
}

/**
 * Waits (up to 20 s) until at least `count` backends of `client`'s database wait on a lock: requests a test
 * holds back with a lock of its own have all reached it. Returns how many were waiting at the end. The bound
 * is generous because it only costs time when something is wrong: under a loaded CI run (four suites on two
 * cores) a request took more than 5 s to reach the lock.
 */
export async function lockWaiters(client: Client, count: number, timeoutMs = 20_000): Promise<number> {
  let waiting = 0;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { rows } = await client.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`);
    waiting = rows[0].n as number;
    if (waiting >= count || Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  if (waiting < count) {
    // Twice under load a race test saw one waiter where two were due; show what every backend was doing.
    const { rows } = await client.query(
      `SELECT pid, application_name, state, wait_event_type, wait_event, left(query, 120) AS query FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()`,
    );
    console.warn(`lockWaiters: ${waiting} of ${count} waiting after ${timeoutMs} ms\n${JSON.stringify(rows, null, 1)}`);
  }
  return waiting;
}

/**
 * Runs `work` inside an operator's transaction on a connection of its own (BEGIN sent; `work` commits or
 * leaves it to be rolled back), and closes the connection whatever happens: for tests that hold a row lock
 * while the app's calls queue behind it.
 */
export async function inSideTransaction(url: string, work: (side: Client) => Promise<void>): Promise<void> {
  const side = new Client({ connectionString: url });
  await side.connect();
  try {
    await side.query('BEGIN');
    await work(side);
  } finally {
    await side.end();
  }
}

/**
 * A spy on the query runner's `query`, recording every statement the app sends through TypeORM (statements
 * the pipelining client sends together, such as the ingest screening's round trip, do not pass here). It
 * changes nothing; the prototype is shared by every app in the process, so restore it in a `finally`.
 */
export function spyOnQueries(app: INestApplication) {
  return jest.spyOn(Object.getPrototypeOf(app.get(DataSource).createQueryRunner()) as { query: (sql: string, params?: unknown[]) => Promise<unknown> }, 'query');
}

/** What an `eraseCustomer` committing first (on this instance or another) leaves of the customer `$1`. */
export const ERASE_CUSTOMER_SQL = `UPDATE customer SET status = 'ERASED', data_key = NULL, full_name = NULL, email = NULL, phone = NULL, national_id = NULL, date_of_birth = NULL,
       address = NULL, email_bidx = NULL, phone_bidx = NULL, national_id_bidx = NULL, erased_at = now() WHERE id = $1`;
