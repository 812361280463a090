#!/usr/bin/env node
'use strict';
/*
 * Customer list read benchmark: `customers(first: 100)` with PII fields as a COMPLIANCE_OFFICER, against a
 * bare `pg` + PiiVault baseline measured in the same run.
 *
 *   npm run bench:customers          (builds dist/ if needed, then runs this file)
 *   BENCH_SECONDS=30 node bench/customers-read.js
 *
 * Runs the compiled app (dist/src/...), so `node scripts/build-if-needed.js` must have run first.
 * The app runs in a child process (this file with `--serve`) so autocannon, in the parent, does not share
 * its event loop. The child counts the SQL statements each HTTP request sends (pg.Client#query wrapped
 * under an AsyncLocalStorage scope opened per request), because pg_stat_statements is usually not loaded.
 */

const path = require('node:path');
const fs = require('node:fs');
const os = require('node:os');
const { fork } = require('node:child_process');
const { randomBytes, createHmac } = require('node:crypto');
const { AsyncLocalStorage } = require('node:async_hooks');

const ROOT = path.join(__dirname, '..');
const DIST = path.join(ROOT, 'dist', 'src');
const SECONDS = positiveInt(process.env.BENCH_SECONDS, 10);
const CUSTOMERS = positiveInt(process.env.BENCH_CUSTOMERS, 500);
const WARMUP_SECONDS = 2;
const CONNECTIONS = 10; // autocannon connections = baseline workers
const PAGE_SIZE = 100;
const COUNT_PAGE_SIZES = [10, 50, 100];
const COUNT_REQUESTS = 5; // sequential requests per page size for the statement count (after one warm-up)
const TARGET_RATIO = 0.3;
/** Staff accounts may run 600 operations a minute (RATE_LIMITS.staffOperations, no env override). */
const OPS_PER_ACCOUNT = 550;
const SEED_CONCURRENCY = 8;
const SIGNIN_CONCURRENCY = 4;
const RESULTS_FILE = path.join(__dirname, 'results', 'customers-read.json');

const FIELDS = 'id externalRef fullName email phone riskLevel transactionLimit';
const pageQuery = (first) => `{ customers(first: ${first}) { nodes { ${FIELDS} } } }`;
const BODY = JSON.stringify({ query: pageQuery(PAGE_SIZE) });
/** The PII columns the query reads, as the AAD names them (PII_COLUMN in customer.entity.ts). */
const PII_READ = [
  ['fullName', 'full_name'],
  ['email', 'email'],
  ['phone', 'phone'],
];

function positiveInt(value, fallback) {
  const n = Number.parseInt(value, 10);
  return Number.isFinite(n) && n > 0 ? n : fallback;
}

function requireDist(rel) {
  const file = path.join(DIST, rel);
  if (!fs.existsSync(`${file}.js`)) {
    throw new Error(`${path.relative(ROOT, file)}.js is missing: run \`node scripts/build-if-needed.js\` (npm run bench:customers does)`);
  }
  return require(file);
}

// ---------------------------------------------------------------------------
// Server side (child process): the real app, plus a per-request SQL statement counter
// ---------------------------------------------------------------------------

/** Short name of a statement for the breakdown, e.g. `INSERT INTO audit_entry`, `SELECT … FROM customer`. */
function statementLabel(text) {
  const t = String(text || '').replace(/\s+/g, ' ').trim();
  let m;
  if ((m = /^(INSERT INTO|UPDATE|DELETE FROM)\s+"?([\w.]+)"?/i.exec(t))) return `${m[1].toUpperCase()} ${m[2]}`;
  if ((m = /^SELECT\s+(pg_\w+|gen_random_uuid)\s*\(/i.exec(t))) return `SELECT ${m[1]}()`;
  if ((m = /^SELECT\s+COUNT\b.*?\bFROM\s+"?([\w.]+)"?/i.exec(t))) return `SELECT COUNT … FROM ${m[1]}`;
  if ((m = /^SELECT\b.*?\bFROM\s+"?([\w.]+)"?/i.exec(t))) return `SELECT … FROM ${m[1]}`;
  return t.slice(0, 40);
}

async function serve() {
  if (!process.send) throw new Error('--serve is internal (needs an IPC parent); run without arguments');
  require('reflect-metadata');

  // Count every statement the pg driver sends (TypeORM and raw queries alike) before the app loads pg.
  const scope = new AsyncLocalStorage();
  const totals = { requests: 0, inRequest: 0, background: 0, inRequestTx: 0, backgroundTx: 0 };
  let flagged = [];
  const pg = require('pg');
  const query = pg.Client.prototype.query;
  pg.Client.prototype.query = function countedQuery(config) {
    const text = typeof config === 'string' ? config : config && config.text;
    // Transactions as the server counts them (pg_stat_database.xact_commit): each COMMIT, and each statement
    // sent outside an explicit transaction.
    let commits = 0;
    if (/^\s*(START TRANSACTION|BEGIN)\b/i.test(text)) this.benchInTx = true;
    else if (/^\s*(COMMIT|END)\b/i.test(text)) (this.benchInTx = false), (commits = 1);
    else if (/^\s*ROLLBACK\s*$/i.test(text)) this.benchInTx = false;
    else if (!this.benchInTx) commits = 1;
    const store = scope.getStore();
    if (store) {
      store.n += 1;
      store.tx += commits;
      totals.inRequest += 1;
      totals.inRequestTx += commits;
      if (store.labels) {
        const label = statementLabel(text);
        store.labels[label] = (store.labels[label] || 0) + 1;
      }
    } else {
      totals.background += 1;
      totals.backgroundTx += commits;
    }
    return query.apply(this, arguments);
  };

  const { loadConfig } = requireDist('config/config');
  const { createApp } = requireDist('app.factory');
  const config = loadConfig(process.env);
  const app = await createApp(config, config.databaseUrl);
  // createApp registered the request-id middleware and the body parser; this runs after both, before the
  // GraphQL handler (mounted at init), so the scope covers guards, resolvers and Apollo plugins.
  app.use((req, res, next) => {
    totals.requests += 1;
    const store = { n: 0, tx: 0, labels: req.headers['x-bench-count'] ? {} : null };
    if (store.labels) flagged.push(store);
    scope.run(store, next);
  });
  await app.listen(0, '127.0.0.1');
  const { port } = app.getHttpServer().address();

  let closing = false;
  process.on('unhandledRejection', (error) => {
    if (closing) return; // a request abandoned by the client meeting the closed pool
    console.error(error);
    process.exit(1);
  });
  process.on('message', async (msg) => {
    if (msg === 'take') {
      const taken = flagged;
      flagged = [];
      process.send({ take: { flagged: taken, totals: { ...totals } } });
    } else if (msg === 'close') {
      closing = true;
      await app.close();
      process.send('closed', () => process.exit(0));
    }
  });
  process.send({ port });
}

// ---------------------------------------------------------------------------
// Parent: database, child app, accounts, seeding, measurements
// ---------------------------------------------------------------------------

function startServer(env) {
  return new Promise((resolve, reject) => {
    const child = fork(__filename, ['--serve'], { stdio: 'inherit', env });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error('app did not start within 60 s'));
    }, 60_000);
    child.once('message', (msg) => {
      clearTimeout(timer);
      resolve({ child, port: msg.port });
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`app exited early (code ${code})`));
    });
  });
}

function stopServer(child) {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      resolve();
    }, 15_000);
    child.removeAllListeners('exit');
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.send('close');
  });
}

/** Asks the child for the statement counts of the flagged requests since the last call, and the totals. */
function take(child) {
  return new Promise((resolve) => {
    const onMessage = (msg) => {
      if (!msg || !msg.take) return;
      child.off('message', onMessage);
      resolve(msg.take);
    };
    child.on('message', onMessage);
    child.send('take');
  });
}

/** Waits until the app has sent no statement for a second (requests abandoned by the client finished). */
async function settle(child) {
  let last = (await take(child)).totals;
  for (let quiet = 0; quiet < 4; ) {
    await sleep(250);
    const now = (await take(child)).totals;
    quiet = now.inRequest === last.inRequest ? quiet + 1 : 0;
    last = now;
  }
  return last;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const key = () => randomBytes(32).toString('base64');
const randomIp = () => `10.${randomBytes(1)[0]}.${randomBytes(1)[0]}.${1 + (randomBytes(1)[0] % 250)}`;

/** RFC 6238 TOTP (SHA-1, 6 digits, 30 s) from a base32 secret. */
function totp(secret, atMs = Date.now()) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0;
  let value = 0;
  const bytes = [];
  for (const ch of secret.toUpperCase().replace(/=+$/, '')) {
    value = (value << 5) | alphabet.indexOf(ch);
    bits += 5;
    if (bits >= 8) {
      bytes.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(atMs / 30_000)));
  const h = createHmac('sha1', Buffer.from(bytes)).update(counter).digest();
  const o = h[h.length - 1] & 0xf;
  return String((h.readUInt32BE(o) & 0x7fffffff) % 1_000_000).padStart(6, '0');
}

function gqlClient(url) {
  /** POST /graphql; `ip` becomes X-Forwarded-For (TRUST_PROXY=loopback), so sign-ins spread over per-IP limits. */
  async function call(query, variables, { token, ip, count } = {}) {
    const headers = { 'content-type': 'application/json' };
    if (token) headers.authorization = `Bearer ${token}`;
    if (ip) headers['x-forwarded-for'] = ip;
    if (count) headers['x-bench-count'] = '1';
    const res = await fetch(url, { method: 'POST', headers, body: JSON.stringify({ query, variables }) });
    const text = await res.text();
    let body;
    try {
      body = JSON.parse(text);
    } catch {
      body = { errors: [{ message: `HTTP ${res.status}: ${text.slice(0, 200)}` }] };
    }
    return { status: res.status, body };
  }
  async function ok(query, variables, options) {
    const { status, body } = await call(query, variables, options);
    if (status !== 200 || body.errors?.length || !body.data) {
      throw new Error(`GraphQL ${status}: ${JSON.stringify(body.errors ?? body).slice(0, 500)}`);
    }
    return body.data;
  }
  return { call, ok };
}

/** The real sign-in: login → (password change) → TOTP enrollment → session. Returns the access token. */
async function signIn(gql, email, password) {
  const ip = randomIp();
  let { login } = await gql.ok(
    'mutation($e: String!, $p: String!) { login(input: {email: $e, password: $p}) { challengeToken next } }',
    { e: email, p: password },
    { ip },
  );
  if (login.next === 'PASSWORD_CHANGE_REQUIRED') {
    const r = await gql.ok(
      'mutation($c: String!, $p: String!) { completePasswordChange(challengeToken: $c, newPassword: $p) { challengeToken next } }',
      { c: login.challengeToken, p: `${password}-renewed` },
      { ip },
    );
    login = r.completePasswordChange;
  }
  if (login.next !== 'ENROLLMENT_REQUIRED') throw new Error(`sign-in of ${email}: unexpected next step ${login.next}`);
  const { beginTotpEnrollment } = await gql.ok(
    'mutation($c: String!) { beginTotpEnrollment(challengeToken: $c) { secret } }',
    { c: login.challengeToken },
    { ip },
  );
  const { completeTotpEnrollment } = await gql.ok(
    'mutation($c: String!, $code: String!) { completeTotpEnrollment(challengeToken: $c, code: $code) { accessToken user { id role } } }',
    { c: login.challengeToken, code: totp(beginTotpEnrollment.secret) },
    { ip },
  );
  return completeTotpEnrollment.accessToken;
}

let staffCounter = 0;
async function createStaff(gql, adminToken, role) {
  const n = ++staffCounter;
  const email = `bench-${role.toLowerCase().replace(/_/g, '-')}-${n}@custos.test`;
  const password = `bench-initial-password-${n}-${randomBytes(4).toString('hex')}`;
  await gql.ok(
    'mutation($i: CreateUserInput!) { createUser(input: $i) { id } }',
    { i: { email, displayName: `Bench ${role} ${n}`, role, initialPassword: password } },
    { token: adminToken },
  );
  return signIn(gql, email, password);
}

async function createOfficers(gql, adminToken, count) {
  const tokens = [];
  await pool(count, SIGNIN_CONCURRENCY, async () => {
    tokens.push(await createStaff(gql, adminToken, 'COMPLIANCE_OFFICER'));
  });
  return tokens;
}

/** Runs `task(i)` for i in [0, n) with at most `concurrency` at a time. */
async function pool(n, concurrency, task) {
  let next = 0;
  const worker = async () => {
    while (next < n) await task(next++);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, n) }, worker));
}

function seedInput(i) {
  const n = String(i).padStart(5, '0');
  return {
    externalRef: `bench-${n}`,
    fullName: `Bench Customer ${n}`,
    email: `customer-${n}@bench.example`,
    phone: `+86139${String(i).padStart(8, '0')}`,
    nationalId: `ID-${n}-${(i * 7919) % 10000}`,
    dateOfBirth: `19${70 + (i % 30)}-0${1 + (i % 9)}-1${i % 10}`,
    address: `${i} Benchmark Street, Test City`,
    transactionLimit: String(1000 + i),
  };
}

async function seed(gql, tokens, count) {
  await pool(count, SEED_CONCURRENCY, async (i) => {
    const token = tokens[Math.floor(i / OPS_PER_ACCOUNT)];
    await gql.ok('mutation($i: CreateCustomerInput!) { createCustomer(input: $i) { id } }', { i: seedInput(i) }, { token });
  });
}

// ---------------------------------------------------------------------------
// Statistics
// ---------------------------------------------------------------------------

function percentile(sorted, p) {
  if (!sorted.length) return NaN;
  const idx = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[idx];
}

const round2 = (n) => Math.round(n * 100) / 100;
const mean = (values) => values.reduce((a, b) => a + b, 0) / values.length;

// ---------------------------------------------------------------------------
// Baseline: bare pg + the same PiiVault, same concurrency
// ---------------------------------------------------------------------------

function makeBaseline(config, databaseUrl) {
  const { Pool } = require('pg');
  const { PiiVault } = requireDist('common/crypto/pii-vault.service');
  const { dataKeyOwner } = requireDist('common/crypto/envelope');
  const vault = new PiiVault(config);
  const db = new Pool({ connectionString: databaseUrl, max: CONNECTIONS });
  db.on('error', () => {}); // an idle client cut off by DROP DATABASE … WITH (FORCE) at the end
  const sql = `SELECT id, external_ref, data_key, full_name, email, phone, risk_level, transaction_limit
                 FROM customer ORDER BY created_at, id LIMIT ${PAGE_SIZE + 1}`;

  async function once() {
    const { rows } = await db.query(sql);
    const nodes = [];
    for (const row of rows.slice(0, PAGE_SIZE)) {
      const dek = row.data_key ? vault.openDataKey(row.data_key, dataKeyOwner.customer(row.id)) : null;
      const node = { id: row.id, externalRef: row.external_ref, riskLevel: row.risk_level, transactionLimit: row.transaction_limit };
      for (const [field, column] of PII_READ) {
        node[field] = dek ? vault.decryptNullable(dek, row[column], { table: 'customer', column, rowId: row.id }) : null;
      }
      nodes.push(node);
    }
    return nodes;
  }

  async function run(seconds) {
    const latencies = [];
    const until = performance.now() + seconds * 1000;
    const start = performance.now();
    await Promise.all(
      Array.from({ length: CONNECTIONS }, async () => {
        while (performance.now() < until) {
          const t0 = performance.now();
          await once();
          latencies.push(performance.now() - t0);
        }
      }),
    );
    const elapsed = (performance.now() - start) / 1000;
    latencies.sort((a, b) => a - b);
    return {
      opsPerSec: latencies.length / elapsed,
      latencyP50Ms: percentile(latencies, 50),
      latencyP99Ms: percentile(latencies, 99),
      operations: latencies.length,
      seconds: elapsed,
    };
  }

  return { once, run, close: () => db.end() };
}

// ---------------------------------------------------------------------------
// App load (autocannon, rotating officer tokens)
// ---------------------------------------------------------------------------

function cannon(url, tokens, seconds) {
  const autocannon = require('autocannon');
  let next = 0;
  const errorSamples = [];
  let graphqlErrors = 0;
  const cap = tokens.length * OPS_PER_ACCOUNT;
  const opts = {
    url,
    connections: CONNECTIONS,
    duration: seconds,
    // A slow response is a latency to report, not a socket error: wait well past the run (default 10 s).
    timeout: Math.max(30, seconds * 3),
    // Never let one account pass its per-minute budget: the run stops early rather than hit RATE_LIMITED.
    maxOverallRequests: Math.max(cap, CONNECTIONS),
    requests: [
      {
        method: 'POST',
        path: '/graphql',
        headers: { 'content-type': 'application/json' },
        body: BODY,
        setupRequest(req) {
          const token = tokens[next++ % tokens.length];
          return { ...req, headers: { ...req.headers, authorization: `Bearer ${token}` } };
        },
        onResponse(status, body) {
          if (status === 200 && !body.includes('"errors"')) return;
          if (status === 200) graphqlErrors += 1;
          if (errorSamples.length < 3) errorSamples.push(`${status}: ${String(body).slice(0, 300)}`);
        },
      },
    ],
  };
  return autocannon(opts).then((r) => {
    if (r.timeouts) errorSamples.push(`${r.timeouts} timeout(s): no response within ${opts.timeout} s`);
    return { r, graphqlErrors, errorSamples, capped: r.requests.total >= cap };
  });
}

// ---------------------------------------------------------------------------
// Output
// ---------------------------------------------------------------------------

function printTable(head, rows) {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => String(row[i]).length)));
  const line = (cells) => cells.map((c, i) => (i === 0 ? String(c).padEnd(widths[i]) : String(c).padStart(widths[i]))).join('  ');
  console.log(line(head));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  rows.forEach((row) => console.log(line(row)));
}

function pkgVersion(name) {
  try {
    return JSON.parse(fs.readFileSync(path.join(ROOT, 'node_modules', name, 'package.json'), 'utf8')).version;
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------

async function main() {
  const { Client } = require('pg');
  const { loadConfig } = requireDist('config/config');
  const { runMigrations } = requireDist('database/migrate');

  const base = new URL(process.env.DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/postgres');
  const dbName = `custos_bench_${Date.now()}_${randomBytes(3).toString('hex')}`;
  const adminUrl = new URL(base);
  adminUrl.pathname = '/postgres';
  const dbUrl = new URL(base);
  dbUrl.pathname = `/${dbName}`;
  const tmpDir = path.join(os.tmpdir(), dbName);

  console.log(
    `Customer read bench: customers(first: ${PAGE_SIZE}) as COMPLIANCE_OFFICER, ${CUSTOMERS} customers, ` +
      `${CONNECTIONS} connections/workers, ${WARMUP_SECONDS}s warm-up + ${SECONDS}s, node ${process.version}, ${os.cpus().length} CPUs, ` +
      `load ${os.loadavg()[0].toFixed(2)}`,
  );

  const admin = new Client({ connectionString: adminUrl.toString() });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${dbName}`);
  let child;
  let baseline;
  const cleanup = async () => {
    if (child) await stopServer(child).catch(() => child.kill('SIGKILL'));
    child = undefined;
    if (baseline) await baseline.close().catch(() => {});
    baseline = undefined;
    await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`).catch((e) => console.error(`could not drop ${dbName}: ${e.message}`));
    await admin.end().catch(() => {});
    fs.rmSync(tmpDir, { recursive: true, force: true });
  };
  const onSignal = () => {
    cleanup().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  let exitCode = 0;
  try {
    const adminEmail = 'bench-admin@custos.test';
    const adminPassword = `bench-admin-${randomBytes(8).toString('hex')}`;
    const env = {
      ...process.env,
      NODE_ENV: 'production',
      LOG_LEVEL: 'warn',
      DATABASE_URL: dbUrl.toString(),
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
      // Sign-ins claim their own client IP (X-Forwarded-For), so the per-IP sign-in limit is not in the way.
      TRUST_PROXY: 'loopback',
    };
    delete env.REDIS_URL; // in-process rate limits: nothing shared with other instances
    const config = loadConfig(env);

    process.stdout.write('  setup: migrations ... ');
    const applied = await runMigrations(dbUrl.toString());
    console.log(`${applied.length} applied`);
    const server = await startServer(env);
    child = server.child;
    const url = `http://127.0.0.1:${server.port}/graphql`;
    const gql = gqlClient(url);

    process.stdout.write('  setup: accounts ... ');
    const adminToken = await signIn(gql, adminEmail, adminPassword);
    const seeders = await createOfficers(gql, adminToken, Math.ceil(CUSTOMERS / OPS_PER_ACCOUNT));
    const [probe] = await createOfficers(gql, adminToken, 1);
    console.log(`admin + ${seeders.length} seeding + 1 probing COMPLIANCE_OFFICER`);

    process.stdout.write(`  setup: seeding ${CUSTOMERS} customers via createCustomer ... `);
    const seedStart = performance.now();
    await seed(gql, seeders, CUSTOMERS);
    console.log(`${((performance.now() - seedStart) / 1000).toFixed(1)} s`);

    // Correctness first: the app returns 100 full (unmasked) rows, the same rows the baseline decrypts.
    baseline = makeBaseline(config, dbUrl.toString());
    const appPage = (await gql.ok(pageQuery(PAGE_SIZE), undefined, { token: probe })).customers.nodes;
    const basePage = await baseline.once();
    if (appPage.length !== PAGE_SIZE) throw new Error(`expected ${PAGE_SIZE} nodes, got ${appPage.length}`);
    const expected = new Map(Array.from({ length: CUSTOMERS }, (_, i) => seedInput(i)).map((c) => [c.externalRef, c]));
    appPage.forEach((node, i) => {
      const seeded = expected.get(node.externalRef);
      if (!seeded || node.fullName !== seeded.fullName || node.email !== seeded.email || node.phone !== seeded.phone) {
        throw new Error(`app row ${i} is not the seeded plaintext: ${JSON.stringify(node)}`);
      }
      const b = basePage[i];
      if (b.id !== node.id || b.fullName !== node.fullName || b.email !== node.email || b.phone !== node.phone) {
        throw new Error(`baseline row ${i} differs from the app's: ${JSON.stringify(b)} vs ${JSON.stringify(node)}`);
      }
    });
    console.log(`  check: app and baseline return the same ${PAGE_SIZE} rows, PII in full`);

    // SQL statements per request, sequentially, for several page sizes.
    const xactCommits = async () => {
      const { rows } = await admin.query('SELECT xact_commit::bigint AS n FROM pg_stat_database WHERE datname = $1', [dbName]);
      return Number(rows[0].n);
    };
    const statements = [];
    await sleep(11_000); // let idle backends flush their statistics (PostgreSQL: within 10 s) before the phase
    const phaseStart = (await take(child)).totals; // also drops anything flagged before
    const commitsStart = await xactCommits();
    for (const first of COUNT_PAGE_SIZES) {
      await gql.ok(pageQuery(first), undefined, { token: probe }); // warm (caches, prepared paths)
      const before = (await take(child)).totals;
      const latencies = [];
      for (let i = 0; i < COUNT_REQUESTS; i++) {
        const t0 = performance.now();
        const data = await gql.ok(pageQuery(first), undefined, { token: probe, count: true });
        latencies.push(performance.now() - t0);
        if (data.customers.nodes.length !== first) throw new Error(`first: ${first} returned ${data.customers.nodes.length} nodes`);
      }
      await sleep(200); // anything the request left running after its response
      const { flagged, totals } = await take(child);
      const counts = flagged.map((s) => s.n).sort((a, b) => a - b);
      const labels = {};
      for (const s of flagged) for (const [l, n] of Object.entries(s.labels)) labels[l] = (labels[l] || 0) + n;
      const perRequest = Object.fromEntries(
        Object.entries(labels)
          .sort((a, b) => b[1] - a[1])
          .map(([l, n]) => [l, round2(n / flagged.length)]),
      );
      statements.push({
        first,
        requests: flagged.length,
        perRequest: round2(mean(counts)),
        min: counts[0],
        max: counts[counts.length - 1],
        backgroundDuring: totals.background - before.background,
        transactionsPerRequest: round2(mean(flagged.map((s) => s.tx))),
        sequentialLatencyMs: round2(mean(latencies)),
        breakdown: perRequest,
      });
    }
    // Server-side cross-check of the counting: committed transactions in the bench database over the phase vs
    // those the app sent (requests and background). Backends flush their statistics when idle for 10 s.
    await sleep(11_000);
    const phaseEnd = (await take(child)).totals;
    const serverCheck = {
      serverXactCommit: (await xactCommits()) - commitsStart,
      appTransactions: phaseEnd.inRequestTx + phaseEnd.backgroundTx - phaseStart.inRequestTx - phaseStart.backgroundTx,
    };
    const stmtValues = statements.map((s) => s.perRequest);
    const stmtIndependent = Math.max(...stmtValues) - Math.min(...stmtValues) < 1;

    // Baseline, app, baseline: the baseline brackets the app run so drift on a noisy machine shows.
    process.stdout.write('  baseline run 1 ... ');
    await baseline.run(WARMUP_SECONDS);
    const base1 = await baseline.run(SECONDS);
    console.log(`${base1.opsPerSec.toFixed(1)} ops/s`);

    process.stdout.write('  app warm-up ... ');
    const warmTokens = await createOfficers(gql, adminToken, 3);
    const warm = await cannon(url, warmTokens, WARMUP_SECONDS);
    await settle(child);
    const warmRate = warm.r.requests.total / Math.max(warm.r.duration, 0.1);
    if (warm.r.non2xx || warm.r.errors || warm.graphqlErrors) {
      throw new Error(`warm-up had ${warm.r.non2xx} non-2xx, ${warm.r.errors} errors, ${warm.graphqlErrors} GraphQL errors: ${warm.errorSamples.join(' | ')}`);
    }
    // Enough fresh accounts that none passes 600 operations a minute during the measured run.
    const needed = Math.min(500, Math.ceil(((warmRate * SECONDS + CONNECTIONS) * 1.5) / OPS_PER_ACCOUNT) + 1);
    console.log(`${warmRate.toFixed(1)} req/s; signing in ${needed} COMPLIANCE_OFFICER account(s) for the run`);
    const runTokens = await createOfficers(gql, adminToken, needed);

    process.stdout.write('  app run ... ');
    const beforeRun = (await take(child)).totals;
    const app = await cannon(url, runTokens, SECONDS);
    // autocannon hangs up on requests still in flight at the end; the app finishes them regardless. Wait for
    // that before the second baseline run, and count their statements too (their requests were counted).
    const afterRun = await settle(child);
    const appResult = {
      reqPerSec: app.r.requests.mean,
      reqPerSecStddev: app.r.requests.stddev,
      latencyP50Ms: app.r.latency.p50,
      latencyP99Ms: app.r.latency.p99,
      requests: app.r.requests.total,
      seconds: app.r.duration,
      non2xx: app.r.non2xx,
      errors: app.r.errors + app.r.timeouts,
      graphqlErrors: app.graphqlErrors,
      errorSamples: app.errorSamples,
      accounts: runTokens.length,
      cappedByAccountBudget: app.capped,
      requestsServed: afterRun.requests - beforeRun.requests,
      statementsPerRequestUnderLoad: round2((afterRun.inRequest - beforeRun.inRequest) / Math.max(1, afterRun.requests - beforeRun.requests)),
    };
    console.log(`${appResult.reqPerSec.toFixed(1)} req/s`);

    process.stdout.write('  baseline run 2 ... ');
    const base2 = await baseline.run(SECONDS);
    console.log(`${base2.opsPerSec.toFixed(1)} ops/s`);
    console.log();

    const baseAvg = {
      opsPerSec: mean([base1.opsPerSec, base2.opsPerSec]),
      latencyP50Ms: mean([base1.latencyP50Ms, base2.latencyP50Ms]),
      latencyP99Ms: mean([base1.latencyP99Ms, base2.latencyP99Ms]),
    };
    const ratio = appResult.reqPerSec / baseAvg.opsPerSec;
    const appOk = appResult.non2xx === 0 && appResult.errors === 0 && appResult.graphqlErrors === 0;

    printTable(
      ['run', 'req|ops/s', 'p50 ms', 'p99 ms', 'requests', 'non2xx', 'errors', 'gql err'],
      [
        ['baseline 1 (pg + PiiVault)', base1.opsPerSec.toFixed(1), base1.latencyP50Ms.toFixed(2), base1.latencyP99Ms.toFixed(2), base1.operations, '-', '0', '-'],
        ['app (GraphQL)', appResult.reqPerSec.toFixed(1), String(appResult.latencyP50Ms), String(appResult.latencyP99Ms), appResult.requests, appResult.non2xx, appResult.errors, appResult.graphqlErrors],
        ['baseline 2 (pg + PiiVault)', base2.opsPerSec.toFixed(1), base2.latencyP50Ms.toFixed(2), base2.latencyP99Ms.toFixed(2), base2.operations, '-', '0', '-'],
        ['baseline avg', baseAvg.opsPerSec.toFixed(1), baseAvg.latencyP50Ms.toFixed(2), baseAvg.latencyP99Ms.toFixed(2), '', '', '', ''],
      ],
    );
    console.log();
    printTable(
      ['SQL statements/request', 'mean', 'min', 'max', 'transactions', 'alone ms', 'background'],
      statements.map((s) => [`customers(first: ${s.first})`, s.perRequest.toFixed(1), s.min, s.max, s.transactionsPerRequest.toFixed(1), s.sequentialLatencyMs.toFixed(1), s.backgroundDuring]),
    );
    const last = statements[statements.length - 1];
    console.log(`  breakdown at first: ${last.first}: ${Object.entries(last.breakdown).map(([l, n]) => `${n} × ${l}`).join(', ')}`);
    console.log(`  server check: pg_stat_database.xact_commit +${serverCheck.serverXactCommit} over the counting phase, app sent ${serverCheck.appTransactions} transactions`);
    console.log(`  under load: ${appResult.statementsPerRequestUnderLoad} statements/request (${appResult.accounts} officer accounts rotated${appResult.cappedByAccountBudget ? ', run CAPPED by the account budget' : ''})`);
    if (!appOk) console.log(`  error samples: ${appResult.errorSamples.join(' | ')}`);
    console.log();

    const throughputOk = ratio >= TARGET_RATIO;
    fs.mkdirSync(path.dirname(RESULTS_FILE), { recursive: true });
    const report = {
      date: new Date().toISOString(),
      config: {
        seconds: SECONDS, warmupSeconds: WARMUP_SECONDS, connections: CONNECTIONS, customers: CUSTOMERS, pageSize: PAGE_SIZE,
        query: pageQuery(PAGE_SIZE), role: 'COMPLIANCE_OFFICER', targetRatio: TARGET_RATIO,
        baseline: 'pg Pool SELECT … ORDER BY created_at, id LIMIT 101 + PiiVault.openDataKey/decrypt of fullName, email, phone',
        statementCounting: 'pg.Client#query calls inside each HTTP request (AsyncLocalStorage), in the app process',
      },
      environment: {
        node: process.version, platform: `${os.platform()} ${os.arch()}`, cpus: os.cpus().length, cpuModel: os.cpus()[0] && os.cpus()[0].model,
        loadAverageAtEnd: os.loadavg().map(round2),
        postgres: (await admin.query('SHOW server_version')).rows[0].server_version,
        packages: Object.fromEntries(['@nestjs/core', '@apollo/server', 'typeorm', 'pg', 'graphql', 'autocannon'].map((n) => [n, pkgVersion(n)])),
      },
      baseline: { runs: [base1, base2], average: baseAvg },
      app: appResult,
      statements: { byPageSize: statements, independentOfPageSize: stmtIndependent, serverCheck },
      verdict: { ratio: round2(ratio), throughputOk, statementsOk: stmtIndependent, errorsOk: appOk },
    };
    fs.writeFileSync(RESULTS_FILE, JSON.stringify(report, null, 2) + '\n');

    console.log(`JSON: ${path.relative(process.cwd(), RESULTS_FILE)}`);
    console.log(`Throughput: app ${appResult.reqPerSec.toFixed(1)} req/s = ${(ratio * 100).toFixed(1)} % of baseline ${baseAvg.opsPerSec.toFixed(1)} ops/s (target ≥ ${TARGET_RATIO * 100} %): ${throughputOk ? 'PASS' : 'FAIL'}`);
    console.log(`Statements: ${stmtValues.join(' / ')} per request for first: ${COUNT_PAGE_SIZES.join(' / ')} (target: independent of page size): ${stmtIndependent ? 'PASS' : 'FAIL'}`);
    if (!appOk) console.log('ERRORS: the app run had non-2xx responses, socket errors or GraphQL errors');
    exitCode = !appOk ? 1 : throughputOk && stmtIndependent ? 0 : 2;
  } finally {
    await cleanup();
  }
  process.exitCode = exitCode;
}

if (process.argv[2] === '--serve') {
  serve().catch((err) => {
    console.error(err);
    process.exit(1);
  });
} else {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
