import { randomBytes } from 'node:crypto';
import type { INestApplication } from '@nestjs/common';
import request from 'supertest';
import { createApp, initApp } from '../../src/app.factory';
import { loadConfig, type AppConfig } from '../../src/config/config';
import { createTestDatabase, type TestDatabase } from './postgres';

/** The bootstrap admin every test app starts with (TOTP not yet enrolled). */
export const TEST_ADMIN = { email: 'admin@custos.test', password: 'bootstrap-admin-passphrase-2026' };

export const randomIp = () => `10.${randomBytes(1)[0]}.${randomBytes(1)[0]}.${1 + (randomBytes(1)[0] % 250)}`;

const key = () => randomBytes(32).toString('base64');

/** Keys for one test app: real, random, never written to disk. */
export function testSecrets(): Record<string, string> {
  return {
    PII_KEYS: `v1:${key()}`,
    BLIND_INDEX_KEY: key(),
    TOKEN_SECRET: key(),
    AUDIT_CHAIN_KEY: key(),
  };
}

export interface GraphQLResponse<T = Record<string, unknown>> {
  status: number;
  headers: Record<string, string>;
  data?: T | null;
  errors?: Array<{ message: string; path?: Array<string | number>; extensions?: Record<string, unknown> }>;
  body: unknown;
}

export interface TestApp {
  app: INestApplication;
  config: AppConfig;
  db: TestDatabase;
  http: () => ReturnType<typeof request>;
  /**
   * POST /graphql. Each call comes from a random client IP (X-Forwarded-For from loopback is trusted) so
   * per-IP sign-in limits do not couple unrelated tests; pass `ip` to test those limits.
   */
  gql<T = Record<string, unknown>>(query: string, variables?: Record<string, unknown>, options?: { token?: string; ip?: string; headers?: Record<string, string> }): Promise<GraphQLResponse<T>>;
  close(): Promise<void>;
}

export interface StartOptions {
  /** Runs on the fresh database before the app starts; returns the URL the app connects with (another role's, say). */
  prepare?: (db: TestDatabase) => Promise<string | void>;
}

/**
 * Boots the real application (same factory as `npm start`) on a fresh database cloned from the migrated
 * template. `env` overrides configuration, e.g. `{ NODE_ENV: 'production' }`.
 */
export async function startTestApp(env: Record<string, string> = {}, options: StartOptions = {}): Promise<TestApp> {
  const db = await createTestDatabase();
  let url = db.url;
  try {
    url = (await options.prepare?.(db)) ?? db.url;
  } catch (error) {
    await db.drop();
    throw error;
  }
  const config = loadConfig({
    NODE_ENV: 'test',
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    DATA_DIR: `/tmp/${db.name}`,
    AUDIT_CHECKPOINT_PATH: `/tmp/${db.name}/audit-checkpoints.jsonl`,
    NOTIFY_TRANSPORT: `file:/tmp/${db.name}/notify.jsonl`,
    ...testSecrets(),
    // supertest connects from loopback; trusting it lets each request claim its own client IP.
    TRUST_PROXY: 'loopback',
    // Every document compiled from its first execution, so the suite runs the code production runs for
    // repeated queries (compiled-execution.e2e-spec compares it with graphql-js).
    GRAPHQL_COMPILE_AFTER: '0',
    BOOTSTRAP_ADMIN_EMAIL: TEST_ADMIN.email,
    BOOTSTRAP_ADMIN_PASSWORD: TEST_ADMIN.password,
    DATABASE_URL: url,
    ...env,
  });
  let app: INestApplication;
  try {
    app = await createApp(config, url);
    await initApp(app);
  } catch (error) {
    await db.drop();
    throw error;
  }
  const server = app.getHttpServer();
  const http = () => request(server);
  return {
    app,
    config,
    db,
    http,
    async gql(query, variables, options = {}) {
      const req = http().post('/graphql').set('content-type', 'application/json');
      if (options.token) req.set('authorization', `Bearer ${options.token}`);
      req.set('x-forwarded-for', options.ip ?? randomIp());
      for (const [name, value] of Object.entries(options.headers ?? {})) req.set(name, value);
      const res = await req.send({ query, variables });
      const body = res.body as { data?: never; errors?: never };
      return { status: res.status, headers: res.headers as Record<string, string>, data: body?.data, errors: body?.errors, body: res.body };
    },
    async close() {
      await app.close();
      await db.drop();
    },
  };
}
