'use strict';
/** A throw-away bench database and the environment of an app that uses it. */

const path = require('node:path');
const fs = require('node:fs');
const os = require('node:os');
const { randomBytes } = require('node:crypto');
const { key } = require('./util');

/**
 * Names a fresh database `custos_bench_<time>_<random>` on DATABASE_URL's server (default
 * postgres://postgres@127.0.0.1:5432; its path is replaced) and a temporary directory of the same name.
 * `create()` connects to the server's `postgres` database and creates it; `drop()` drops it (FORCE), closes
 * that connection and removes the directory.
 */
function benchDatabase() {
  const { Client } = require('pg');
  const base = new URL(process.env.DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/postgres');
  const dbName = `custos_bench_${Date.now()}_${randomBytes(3).toString('hex')}`;
  const adminUrl = new URL(base);
  adminUrl.pathname = '/postgres';
  const dbUrl = new URL(base);
  dbUrl.pathname = `/${dbName}`;
  const tmpDir = path.join(os.tmpdir(), dbName);
  const admin = new Client({ connectionString: adminUrl.toString() });
  return {
    dbName,
    url: dbUrl.toString(),
    tmpDir,
    /** Connected to the server's `postgres` database. */
    admin,
    async create() {
      await admin.connect();
      await admin.query(`CREATE DATABASE ${dbName}`);
    },
    async drop() {
      await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`).catch((e) => console.error(`could not drop ${dbName}: ${e.message}`));
      await admin.end().catch(() => {});
      fs.rmSync(tmpDir, { recursive: true, force: true });
    },
  };
}

/**
 * The app's environment: production mode, warn-level logs, random keys, files under `tmpDir`, the bootstrap
 * admin, TRUST_PROXY=loopback (each sign-in claims its own X-Forwarded-For address, so the per-IP sign-in
 * limit is not in the way) and no REDIS_URL (in-process rate limits, nothing shared with other instances).
 * Every app process of one bench gets the same environment, so tokens are valid on each.
 */
function appEnv({ databaseUrl, tmpDir, adminEmail, adminPassword }) {
  const env = {
    ...process.env,
    NODE_ENV: 'production',
    LOG_LEVEL: 'warn',
    DATABASE_URL: databaseUrl,
    PII_KEYS: `v1:${key()}`,
    PII_ACTIVE_KEY: 'v1',
    BLIND_INDEX_KEY: key(),
    TOKEN_SECRET: key(),
    AUDIT_CHAIN_KEY: key(),
    DATA_DIR: tmpDir,
    AUDIT_CHECKPOINT_PATH: path.join(tmpDir, 'audit-checkpoints.jsonl'),
    NOTIFY_TRANSPORT: `file:${path.join(tmpDir, 'notify.jsonl')}`,
    BOOTSTRAP_ADMIN_EMAIL: adminEmail,
    BOOTSTRAP_ADMIN_PASSWORD: adminPassword,
    TRUST_PROXY: 'loopback',
  };
  delete env.REDIS_URL;
  return env;
}

module.exports = { benchDatabase, appEnv };
