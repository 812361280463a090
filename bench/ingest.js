#!/usr/bin/env node
'use strict';
/*
 * Event ingest benchmark: `ingestEvents` through the real app (compiled dist/, child process, partner token of an
 * INTERNAL partner), against a bare node:http + `pg` baseline in the same run (bench/lib/ingest-baseline.js).
 *
 *   npm run bench:ingest              (builds dist/ if needed; both modes)
 *   npm run bench:ingest-single       (one TRANSACTION per request)
 *   npm run bench:ingest-batch        (1000 events per request)
 *   BENCH_CUSTOMERS=10000 BENCH_EVENTS=1000000 BENCH_SECONDS=30 node bench/ingest.js single
 *
 * Modes: `single` — one event per request, random customer, 16 connections (autocannon); app vs baseline
 * (the same INSERT plus the same aggregate SQL of the default pack, in one transaction), then all traffic on
 * ONE customer. `batch` — BENCH_BATCH_SIZE (default 1000) events per request, BENCH_BATCH_CONNECTIONS
 * (default 4) concurrent workers; app vs one `INSERT … SELECT FROM unnest(…)` of the same rows. Both modes:
 * SQL statements per request for 1, 10 and 1000 events, counted in the app process (bench/lib/app-process.js),
 * and an EXPLAIN of the aggregate query on the seeded data. The app names its statements on PostgreSQL
 * (DATABASE_PREPARED_STATEMENTS); the baseline sends plain unnamed ones unless BENCH_BASELINE_PREPARED=1.
 */

const path = require('node:path');
const fs = require('node:fs');
const os = require('node:os');
const { randomBytes } = require('node:crypto');
const { Client } = require('pg');
const { positiveInt, requireDist, sleep, pool, percentile, round2, mean, printTable, pkgVersion } = require('./lib/util');
const { OPS_PER_ACCOUNT, gqlClient, signIn, createOfficers } = require('./lib/graphql');
const { appNodeFlags, startServer, stopServer, take, settle } = require('./lib/app-process');
const { cannon } = require('./lib/load');
const { benchDatabase, appEnv } = require('./lib/database');
const { INSERT_EVENT, BASELINE_SOURCE, loadRules, loadCustomers, aggregateQuery, startBaseline, stopBaseline, baselineCpu } = require('./lib/ingest-baseline');

const MODE = process.argv[2] || process.env.BENCH_INGEST_MODE || 'all';
if (!['single', 'batch', 'all'].includes(MODE)) {
  console.error('usage: node bench/ingest.js [single|batch|all]');
  process.exit(64);
}
const SECONDS = positiveInt(process.env.BENCH_SECONDS, 10);
const CUSTOMERS = positiveInt(process.env.BENCH_CUSTOMERS, 1000);
/** Stored events seeded with SQL before the runs (the issue's ratio: 100 per customer). */
const EVENTS = positiveInt(process.env.BENCH_EVENTS, 100 * CUSTOMERS);
const CONNECTIONS = positiveInt(process.env.BENCH_CONNECTIONS, 16);
const BATCH_SIZE = Math.min(1000, positiveInt(process.env.BENCH_BATCH_SIZE, 1000));
const BATCH_CONNECTIONS = positiveInt(process.env.BENCH_BATCH_CONNECTIONS, 4);
const WARMUP_SECONDS = 2;
/** Also measure (single mode, random customers) the app with a no-op audit sink: a diagnostic, no target. */
const NO_AUDIT = process.env.BENCH_INGEST_NO_AUDIT === '1';
const TWO_INSTANCES = process.env.BENCH_INGEST_TWO_INSTANCES === '1';
/** How the baseline sends its SQL (lib/ingest-baseline.js reads the same variable). */
const BASELINE_STATEMENTS = process.env.BENCH_BASELINE_PREPARED === '1' ? 'named (BENCH_BASELINE_PREPARED=1, a diagnostic)' : 'unnamed (plain pg)';
const COUNT_SIZES = [...new Set([1, 10, BATCH_SIZE])];
const SEED_CONCURRENCY = 8;
/**
 * Requests per token and minute. ingestEvents is now held to the partner's events limit only, so one token would
 * do; the load stays spread over tokens as when the operation count (6,000 a minute) applied, so that figures
 * compare with earlier runs.
 */
const OPS_PER_TOKEN = 5500;
const CATCH_UP_TIMEOUT_MS = 180_000;
const TARGETS = { singleRatio: 0.4, p99Factor: 3, oneCustomerRatio: 0.5, batchRatio: 0.5 };
const RESULTS = { single: path.join(__dirname, 'results', 'ingest-single.json'), batch: path.join(__dirname, 'results', 'ingest-batch.json') };

/** Customers' limits and amounts: the bench's amounts (up to MAX_AMOUNT) stay below half the transaction limit,
 * the seeded ones lie between MAX_AMOUNT / 4 and MAX_AMOUNT (so no amount passes 5 × a seeded average) and no
 * hour reaches the daily limit, so no default rule fires (LARGE_TRANSACTION, NEW_DEVICE_LARGE_AMOUNT,
 * SPENDING_SPIKE, HOURLY_VELOCITY, DORMANT_REACTIVATION…): every event takes the same ALLOW path, in the app
 * as in the one-customer run. */
const TRANSACTION_LIMIT = '10000.00';
const DAILY_LIMIT = '1000000000.00';
const MAX_AMOUNT = 4000;
/** The EXPLAIN's amount: below the transaction limit, above its half and above 5000. */
const EXPLAIN_AMOUNT = '9000.00';
const DEVICES_PER_CUSTOMER = 3;

const INGEST = 'mutation($events: [EventInput!]!) { ingestEvents(events: $events) { decision duplicate event { id } } }';

// ---------------------------------------------------------------------------
// Request bodies
// ---------------------------------------------------------------------------

const runTag = randomBytes(4).toString('hex');
let keySeq = 0;

/** One TRANSACTION of customer index k (device and amount as the seeded history), a fresh idempotency key. */
function transaction(ids, k) {
  return {
    idempotencyKey: `bench-${runTag}-${++keySeq}`,
    customerId: ids[k],
    type: 'TRANSACTION',
    occurredAt: new Date().toISOString(),
    amount: (1 + Math.random() * (MAX_AMOUNT - 1)).toFixed(2),
    currency: 'EUR',
    channel: 'WEB',
    country: 'DE',
    deviceId: `dev-${k}-${Math.floor(Math.random() * DEVICES_PER_CUSTOMER)}`,
    counterpartyRef: `cp-${Math.floor(Math.random() * 1000)}`,
  };
}
const randomCustomer = (ids) => Math.floor(Math.random() * ids.length);
const bodyOf = (events) => JSON.stringify({ query: INGEST, variables: { events } });
const singleBody = (ids, pick) => () => bodyOf([transaction(ids, pick())]);
const batchBody = (ids, size) => () => bodyOf(Array.from({ length: size }, () => transaction(ids, randomCustomer(ids))));

/**
 * The aggregate statement the app sends for `events` (EventInputs with `customerId`, `occurredAt` as a Date
 * and `id`), as RuleEngine.evaluateBatch builds it: each event's query from `prepareEvaluation`, as the
 * baseline's per-event statement (`aggregateQuery`), combined into one statement.
 */
function batchAggregateStatement(ruleSet, customers, events) {
  const { combineAggregateQueries } = requireDist('modules/monitoring/rules/condition/aggregate-batch-sql');
  const queries = events.flatMap((e, ord) => {
    const query = aggregateQuery(ruleSet, e, customers.get(e.customerId));
    return query ? [{ ord, query }] : [];
  });
  const batch = combineAggregateQueries(queries);
  return batch ? { kind: 'aggregate', sql: batch.sql, params: batch.params } : undefined;
}

// ---------------------------------------------------------------------------
// Load generators
// ---------------------------------------------------------------------------

/** autocannon (one event per request): { reqPerSec, p50, p99, … } in one shape for app and baseline. */
async function cannonRun(url, tokens, seconds, body, pathName) {
  const { r, graphqlErrors, errorSamples, capped } = await cannon(url, tokens, seconds, {
    connections: CONNECTIONS, body, perToken: OPS_PER_TOKEN, path: pathName,
  });
  return {
    reqPerSec: r.requests.mean, reqPerSecStddev: r.requests.stddev, latencyP50Ms: r.latency.p50, latencyP99Ms: r.latency.p99,
    requests: r.requests.total, seconds: r.duration, non2xx: r.non2xx, errors: r.errors + r.timeouts, graphqlErrors, errorSamples,
    cappedByTokenBudget: capped, tokens: tokens.length,
  };
}

/**
 * `workers` sequential fetch loops for `seconds` (long requests: the run waits for the requests in flight at
 * the end instead of abandoning them, and the rate divides by the time including that tail).
 */
async function loopRun(url, tokens, seconds, body, workers, eventsPerRequest) {
  const latencies = [];
  const errorSamples = [];
  let non2xx = 0;
  let graphqlErrors = 0;
  let errors = 0;
  let next = 0;
  const start = performance.now();
  const until = start + seconds * 1000;
  await Promise.all(
    Array.from({ length: workers }, async () => {
      while (performance.now() < until) {
        const headers = { 'content-type': 'application/json' };
        if (tokens.length) headers.authorization = `Bearer ${tokens[next++ % tokens.length]}`;
        const payload = body();
        const t0 = performance.now();
        try {
          const res = await fetch(url, { method: 'POST', headers, body: payload });
          const text = await res.text();
          latencies.push(performance.now() - t0);
          if (res.status !== 200) non2xx += 1;
          else if (text.includes('"errors"')) graphqlErrors += 1;
          else continue;
          if (errorSamples.length < 3) errorSamples.push(`${res.status}: ${text.slice(0, 300)}`);
        } catch (error) {
          errors += 1;
          if (errorSamples.length < 3) errorSamples.push(String(error.message));
        }
      }
    }),
  );
  const elapsed = (performance.now() - start) / 1000;
  latencies.sort((a, b) => a - b);
  const ok = latencies.length - non2xx - graphqlErrors;
  return {
    reqPerSec: latencies.length / elapsed, rowsPerSec: (ok * eventsPerRequest) / elapsed, latencyP50Ms: round2(percentile(latencies, 50)),
    latencyP99Ms: round2(percentile(latencies, 99)), requests: latencies.length, seconds: round2(elapsed), non2xx, errors, graphqlErrors, errorSamples,
  };
}

// ---------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------

const LOAD_AT_START = os.loadavg().map(round2);

async function main() {
  const { loadConfig } = requireDist('config/config');
  const { runMigrations } = requireDist('database/migrate');
  const db = benchDatabase();
  const { dbName, admin } = db;
  console.log(
    `Ingest bench (${MODE}): ${CUSTOMERS} customers, ${EVENTS} seeded events, ${CONNECTIONS} connections (single), ` +
      `${BATCH_CONNECTIONS} workers × ${BATCH_SIZE} events (batch), ${WARMUP_SECONDS}s warm-up + ${SECONDS}s per run, node ${process.version}, ` +
      `${os.cpus().length} CPUs, load ${os.loadavg()[0].toFixed(2)}; app node flags (as npm start): ${appNodeFlags().join(' ') || 'none'}`,
  );

  await db.create();
  let child;
  let baselineChild;
  let extraChild; // the app without audit (BENCH_INGEST_NO_AUDIT=1), or a second instance (BENCH_INGEST_TWO_INSTANCES=1), while it runs
  let sql; // a client of the bench database
  const cleanup = async () => {
    if (child) await stopServer(child).catch(() => child.kill('SIGKILL'));
    child = undefined;
    if (extraChild) await stopServer(extraChild).catch(() => extraChild.kill('SIGKILL'));
    extraChild = undefined;
    if (baselineChild) await stopBaseline(baselineChild).catch(() => baselineChild.kill('SIGKILL'));
    baselineChild = undefined;
    if (sql) await sql.end().catch(() => {});
    sql = undefined;
    await db.drop();
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
    const env = appEnv({ databaseUrl: db.url, tmpDir: db.tmpDir, adminEmail, adminPassword });
    loadConfig(env); // fails early on a bad environment

    process.stdout.write('  setup: migrations ... ');
    const applied = await runMigrations(db.url);
    console.log(`${applied.length} applied`);
    sql = new Client({ connectionString: db.url });
    sql.on('error', () => {});
    await sql.connect();
    const server = await startServer(env);
    child = server.child;
    const url = `http://127.0.0.1:${server.port}/graphql`;
    const gql = gqlClient(url);

    // --- accounts, partner, customers -------------------------------------------------------------------
    process.stdout.write('  setup: accounts and partner ... ');
    const adminToken = await signIn(gql, adminEmail, adminPassword);
    const day = 86_400_000;
    const { createPartner: partner } = await gql.ok(
      'mutation($i: CreatePartnerInput!) { createPartner(input: $i) { id } }',
      { i: { name: `Bench ingest ${runTag}`, contactEmail: 'bench-ingest@partner.test', trustLevel: 'INTERNAL', allowedScopes: ['events:write'],
        agreementSignedAt: new Date(Date.now() - day).toISOString(), agreementExpiresAt: new Date(Date.now() + 365 * day).toISOString() } },
      { token: adminToken },
    );
    let tokenSeq = 0;
    const issueTokens = async (n) => {
      const tokens = [];
      for (let i = 0; i < n; i++) {
        const { issuePartnerToken } = await gql.ok(
          'mutation($i: IssuePartnerTokenInput!) { issuePartnerToken(input: $i) { token } }',
          { i: { partnerId: partner.id, name: `bench-${++tokenSeq}`, scopes: ['events:write'], expiresAt: new Date(Date.now() + 30 * day).toISOString() } },
          { token: adminToken },
        );
        tokens.push(issuePartnerToken.token);
      }
      return tokens;
    };
    /** Tokens enough that none passes OPS_PER_TOKEN at `rate` req/s for a run (50 % margin). */
    const tokensFor = (rate) => Math.min(200, Math.ceil(((rate * (SECONDS + WARMUP_SECONDS) + CONNECTIONS) * 1.5) / OPS_PER_TOKEN) + 1);
    const officers = await createOfficers(gql, adminToken, Math.ceil(CUSTOMERS / OPS_PER_ACCOUNT));
    console.log(`admin, INTERNAL partner ${partner.id}, ${officers.length} COMPLIANCE_OFFICER(s) for seeding`);

    process.stdout.write(`  setup: ${CUSTOMERS} customers via createCustomer (${SEED_CONCURRENCY} at a time) ... `);
    let t0 = performance.now();
    await pool(CUSTOMERS, SEED_CONCURRENCY, async (i) => {
      await gql.ok(
        'mutation($i: CreateCustomerInput!) { createCustomer(input: $i) { id } }',
        { i: { externalRef: `ingest-${String(i).padStart(6, '0')}`, transactionLimit: TRANSACTION_LIMIT, dailyLimit: DAILY_LIMIT } },
        { token: officers[Math.floor(i / OPS_PER_ACCOUNT)] },
      );
    });
    const customerSeconds = (performance.now() - t0) / 1000;
    console.log(`${customerSeconds.toFixed(1)} s`);
    const ids = (await sql.query(`SELECT id FROM customer WHERE external_ref LIKE 'ingest-%' ORDER BY external_ref`)).rows.map((r) => r.id);
    if (ids.length !== CUSTOMERS) throw new Error(`expected ${CUSTOMERS} customers, found ${ids.length}`);

    // --- stored events, straight into the table ---------------------------------------------------------
    process.stdout.write(`  setup: ${EVENTS} stored events over the last 90 days (SQL) ... `);
    t0 = performance.now();
    const CHUNK = 250_000;
    for (let from = 0; from < EVENTS; from += CHUNK) {
      // Customer k = g mod n gets every n-th event: 70 % TRANSACTION, 20 % LOGIN, 10 % PAYMENT, on one of its
      // DEVICES_PER_CUSTOMER devices `dev-<k>-<d>` (the devices the bench's transactions use).
      await sql.query(
        `INSERT INTO event (customer_id, type, source, occurred_at, amount, currency, device_id)
         SELECT s.customer_id, s.type, 'bench-seed', s.occurred_at,
                CASE WHEN s.type = 'LOGIN' THEN NULL ELSE round(($4::int / 4 + random() * ($4::int * 3 / 4))::numeric, 2) END,
                CASE WHEN s.type = 'LOGIN' THEN NULL ELSE 'EUR' END, s.device_id
           FROM (SELECT c.ids[1 + g % c.n] AS customer_id,
                        (ARRAY['TRANSACTION','TRANSACTION','TRANSACTION','TRANSACTION','TRANSACTION','TRANSACTION','TRANSACTION','LOGIN','LOGIN','PAYMENT'])[1 + (g / c.n * 7) % 10] AS type,
                        now() - interval '1 minute' - random() * interval '90 days' AS occurred_at,
                        'dev-' || (g % c.n) || '-' || ((g / c.n) % $3::int) AS device_id
                   FROM (SELECT array_agg(id ORDER BY external_ref) AS ids, count(*)::int AS n FROM customer WHERE external_ref LIKE 'ingest-%') c,
                        generate_series($1::int, $2::int) g) s`,
        [from, Math.min(EVENTS, from + CHUNK) - 1, DEVICES_PER_CUSTOMER, MAX_AMOUNT],
      );
      process.stdout.write('.');
    }
    const insertSeconds = (performance.now() - t0) / 1000;
    t0 = performance.now();
    // VACUUM sets the visibility map too (index-only scans skip the heap only for all-visible pages), as
    // autovacuum would on a table that has been there a while.
    await sql.query('VACUUM (ANALYZE) event');
    const vacuumSeconds = (performance.now() - t0) / 1000;
    console.log(` ${insertSeconds.toFixed(1)} s insert + ${vacuumSeconds.toFixed(1)} s VACUUM (ANALYZE)`);
    const eventTableMb = Number((await sql.query(`SELECT sum(pg_total_relation_size(inhrelid))::bigint AS b FROM pg_inherits WHERE inhparent = 'event'::regclass`)).rows[0].b) / 1048576;

    // --- the baseline --------------------------------------------------------------------------------------
    const baselineServer = await startBaseline(env, { poolSize: 20 });
    baselineChild = baselineServer.child;
    const baseUrl = `http://127.0.0.1:${baselineServer.port}`;
    const rules = await loadRules(sql);
    const customers = await loadCustomers(sql);

    // --- checks: one event through each; the app's SQL is the baseline's ------------------------------------
    const [probeToken] = await issueTokens(1);
    const probeEvent = transaction(ids, 1);
    await sleep(1100); // the app's rule cache re-checks its stamp each second: the probe pays for it as a cold request would
    const probe = await gql.call(INGEST, { events: [probeEvent] }, { token: probeToken, count: 'sql' });
    if (probe.status !== 200 || probe.body.errors || !probe.body.data) throw new Error(`probe ingest failed: ${JSON.stringify(probe.body).slice(0, 500)}`);
    const probeResult = probe.body.data.ingestEvents[0];
    if (probeResult.decision !== 'ALLOW' || probeResult.duplicate !== false) throw new Error(`probe: expected ALLOW, got ${JSON.stringify(probeResult)}`);
    const repeat = await gql.call(INGEST, { events: [probeEvent] }, { token: probeToken });
    if (!repeat.body.data || repeat.body.data.ingestEvents[0].duplicate !== true || repeat.body.data.ingestEvents[0].event.id !== probeResult.event.id) {
      throw new Error(`idempotent repeat: ${JSON.stringify(repeat.body).slice(0, 300)}`);
    }
    await sleep(200);
    const [probeStore] = (await take(child)).flagged;
    const stored = (await sql.query('SELECT customer_id, amount::text AS amount, device_id, decision FROM event WHERE id = $1', [probeResult.event.id])).rows[0];
    if (!stored || stored.customer_id !== probeEvent.customerId || stored.amount !== probeEvent.amount || stored.device_id !== probeEvent.deviceId) {
      throw new Error(`probe event not stored as sent: ${JSON.stringify(stored)}`);
    }
    const norm = (s) => String(s).replace(/\s+/g, ' ').trim();
    const expected = [batchAggregateStatement(rules, customers, [{ ...probeEvent, id: probeResult.event.id, occurredAt: new Date(probeEvent.occurredAt) }])].filter(Boolean);
    const appSql = probeStore.sql.map(norm);
    const sqlCheck = {
      // The app claims the idempotency key in the same statement (WITH claim AS (…) INSERT INTO event … SELECT
      // … FROM claim): the same target, columns and RETURNING as the baseline's plain insert.
      insertEvent: appSql.some((s) => s.includes(norm(INSERT_EVENT.slice(0, INSERT_EVENT.indexOf(' VALUES')))) && s.endsWith(norm(INSERT_EVENT.slice(INSERT_EVENT.indexOf('RETURNING'))))),
      ...Object.fromEntries(expected.map((s) => [s.kind, appSql.includes(norm(s.sql))])),
    };
    const baseProbe = await fetch(`${baseUrl}/single`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: bodyOf([transaction(ids, 1)]) });
    if (baseProbe.status !== 200) throw new Error(`baseline probe: ${baseProbe.status} ${await baseProbe.text()}`);
    console.log(
      `  check: app ALLOW + idempotent repeat; the app sent the baseline's statements: ` +
        Object.entries(sqlCheck).map(([k, v]) => `${k} ${v ? 'same' : 'DIFFERENT'}`).join(', '),
    );
    if (!Object.values(sqlCheck).every(Boolean)) throw new Error(`the app's SQL differs from the baseline's:\n${probeStore.sql.join('\n---\n')}`);

    // --- EXPLAIN of the aggregate on the seeded data ----------------------------------------------------------
    const explainFor = async (k, label) => {
      // An amount above half the transaction limit and above 5000 leaves every aggregate-reading TRANSACTION
      // rule of the pack open (the bench's own amounts settle all but two without SQL): all of them are planned.
      const e = { ...transaction(ids, k), amount: EXPLAIN_AMOUNT, id: '00000000-0000-4000-8000-000000000000', occurredAt: new Date() };
      // As in a batch: a second event (another customer) makes customer and time per-row values of the join.
      const other = { ...transaction(ids, (k + 1) % ids.length), amount: EXPLAIN_AMOUNT, id: '00000000-0000-4000-8000-000000000001', occurredAt: new Date() };
      const agg = batchAggregateStatement(rules, customers, [e, other]);
      // The app looks the last activity up as a column of the aggregate statement; timed alone here too.
      const last = /AS last_activity/.test(agg.sql)
        ? { sql: `SELECT max(occurred_at) AS last FROM event WHERE customer_id = $1 AND occurred_at <= $2 AND id <> $3`, params: [e.customerId, e.occurredAt.toISOString(), e.id] }
        : undefined;
      const plan = (await sql.query(`EXPLAIN (FORMAT TEXT) ${agg.sql}`, agg.params)).rows.map((r) => r['QUERY PLAN']);
      const analyzed = (await sql.query(`EXPLAIN (ANALYZE, BUFFERS, FORMAT TEXT) ${agg.sql}`, agg.params)).rows.map((r) => r['QUERY PLAN']);
      const lastPlan = last ? (await sql.query(`EXPLAIN (ANALYZE, BUFFERS, FORMAT TEXT) ${last.sql}`, last.params)).rows.map((r) => r['QUERY PLAN']) : [];
      // The last-activity column walks (customer_id, occurred_at) backwards: not part of the aggregates' verdict.
      const text = plan.filter((l) => !/_customer_id_occurred_at_idx/.test(l)).join('\n');
      const heapFetches = analyzed.reduce((n, l) => n + Number((/Heap Fetches: (\d+)/.exec(l) || [0, 0])[1]), 0);
      const rowsScanned = analyzed.filter((l) => /Index Only Scan|Index Scan|Seq Scan|Bitmap Heap Scan/.test(l)).reduce((n, l) => n + Number((/actual time=\S+ rows=(\d+)/.exec(l) || [0, 0])[1]), 0);
      const execMs = Number((/Execution Time: ([\d.]+)/.exec(analyzed.join('\n')) || [0, NaN])[1]);
      const lastMs = Number((/Execution Time: ([\d.]+)/.exec(lastPlan.join('\n')) || [0, NaN])[1]);
      const planMs = Number((/Planning Time: ([\d.]+)/.exec(analyzed.join('\n')) || [0, NaN])[1]);
      const lastPlanMs = Number((/Planning Time: ([\d.]+)/.exec(lastPlan.join('\n')) || [0, NaN])[1]);
      const events90d = Number((await sql.query(`SELECT count(*)::int AS n FROM event WHERE customer_id = $1 AND occurred_at > now() - interval '90 days'`, [ids[k]])).rows[0].n);
      return {
        label, customerIndex: k, customerEvents90d: events90d, plan, analyzed, lastActivityPlan: lastPlan,
        indexOnly: /Index Only Scan using \S*customer_id_type_occurred_at\S*/.test(text) && !/Seq Scan|Bitmap Heap Scan|Index Scan using/.test(text),
        heapFetches, rowsScanned, executionMs: execMs, planningMs: planMs, lastActivityExecutionMs: lastMs, lastActivityPlanningMs: lastPlanMs,
        lastActivityUsesIndex: /Index (Only )?Scan/.test(lastPlan.join('\n')) && !/Seq Scan/.test(lastPlan.join('\n')),
      };
    };
    const explain = await explainFor(Math.floor(CUSTOMERS / 2), 'seeded customer');
    console.log(`  EXPLAIN (FORMAT TEXT) of the aggregate query, customer ${explain.customerIndex} (${explain.customerEvents90d} events in 90 days):`);
    for (const line of explain.plan) console.log(`    ${line}`);
    console.log(
      `  → ${explain.indexOnly ? 'Index Only Scan on (customer_id, type, occurred_at) INCLUDE (amount, device_id), no heap scan' : 'NOT an index-only scan'}; ` +
        `EXPLAIN ANALYZE: ${explain.rowsScanned} index rows, ${explain.heapFetches} heap fetches, ${explain.executionMs} ms (planning ${explain.planningMs} ms); ` +
        `last-activity look-up ${explain.lastActivityUsesIndex ? 'uses an index' : 'does NOT use an index'}, ${explain.lastActivityExecutionMs} ms (planning ${explain.lastActivityPlanningMs} ms)`,
    );

    // --- helpers for the runs ---------------------------------------------------------------------------------
    const quiesce = async () => {
      const started = performance.now();
      await settle(child);
      if (extraChild) await settle(extraChild);
      for (;;) {
        const { rows } = await sql.query(
          `SELECT (SELECT last_id FROM audit_detector_cursor WHERE name = 'security_alerts') >= COALESCE((SELECT max(id) FROM audit_entry), 0) AS done`,
        );
        if (rows[0].done) break;
        if (performance.now() - started > CATCH_UP_TIMEOUT_MS) throw new Error(`the security-alert detector did not catch up within ${CATCH_UP_TIMEOUT_MS / 1000} s`);
        await sleep(250);
      }
      return round2((performance.now() - started) / 1000);
    };
    /** pg_stat_activity of the bench database every 100 ms: what its backends do during a run (mean count). */
    const sampleBackends = () => {
      const samples = [];
      let pending = Promise.resolve();
      const timer = setInterval(() => {
        pending = pending.then(() =>
          admin
            .query(
              `SELECT state, CASE WHEN state = 'active' THEN coalesce(wait_event_type || ':' || wait_event, 'CPU') ELSE wait_event_type || ':' || wait_event END AS w
                 FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid() AND state IN ('active', 'idle in transaction')`,
              [dbName],
            )
            .then(({ rows }) => samples.push(rows), () => {}),
        );
      }, 100);
      return {
        async stop() {
          clearInterval(timer);
          await pending;
          const n = Math.max(1, samples.length);
          const waits = {};
          let active = 0;
          let idleInTx = 0;
          for (const rows of samples) {
            for (const r of rows) {
              if (r.state === 'active') (active += 1), (waits[r.w] = (waits[r.w] || 0) + 1);
              else idleInTx += 1;
            }
          }
          return {
            samples: samples.length, activeAvg: round2(active / n), idleInTransactionAvg: round2(idleInTx / n),
            activeByWait: Object.fromEntries(Object.entries(waits).sort((a, b) => b[1] - a[1]).map(([w, c]) => [w, round2(c / n)])),
          };
        },
      };
    };
    const backendsText = (b) => `active ${b.activeAvg} (${Object.entries(b.activeByWait).slice(0, 4).map(([w, c]) => `${w} ${c}`).join(', ')}), idle in tx ${b.idleInTransactionAvg}`;
    const countPartnerEvents = async () => Number((await sql.query('SELECT count(*)::int AS n FROM event WHERE source = $1', [partner.id])).rows[0].n);

    /** One measured run of the app; statements per request under load from the child's totals. */
    const appRun = async (label, run, target = child) => {
      const catchUp = await quiesce();
      const before = (await take(target)).totals;
      const eventsBefore = await countPartnerEvents();
      const sampler = sampleBackends();
      const result = await run();
      const backends = await sampler.stop();
      const after = await settle(target);
      const served = after.requests - before.requests;
      return {
        label, ...result, backends, catchUpSecondsBefore: catchUp, requestsServed: served, eventsStored: (await countPartnerEvents()) - eventsBefore,
        statementsPerRequestUnderLoad: round2((after.inRequest - before.inRequest) / Math.max(1, served)),
        roundTripsPerRequestUnderLoad: round2((after.inRequestTrips - before.inRequestTrips) / Math.max(1, served)),
        // CPU of the app process over the run and until it settled (background work such as the detector included).
        processCpuMsPerRequest: round2((after.cpuMicros - before.cpuMicros) / 1000 / Math.max(1, served)),
      };
    };
    const dropBaselineRows = async () => {
      await sql.query('DELETE FROM event WHERE source = $1', [BASELINE_SOURCE]);
      await sql.query('VACUUM (ANALYZE) event');
    };
    const baseRun = async (label, run) => {
      const catchUp = await quiesce();
      const cpuBefore = await baselineCpu(baselineChild);
      const sampler = sampleBackends();
      const result = await run();
      const backends = await sampler.stop();
      await sleep(300); // requests autocannon abandoned at the end finish
      const cpu = (await baselineCpu(baselineChild)) - cpuBefore;
      // The baseline's rows go again, so every run screens against the seeded history: a batch baseline stores
      // ~50 000 rows a second, and left in place they would fill each customer's last hour with hundreds of
      // events that the app's next run must then aggregate (its windows would measure the baseline's speed).
      await dropBaselineRows();
      return { label, ...result, backends, catchUpSecondsBefore: catchUp, processCpuMsPerRequest: round2(cpu / 1000 / Math.max(1, result.requests)) };
    };
    const failed = (r) => r.non2xx || r.errors || r.graphqlErrors;

    // --- SQL statements per request, sequentially ------------------------------------------------------------
    const countTokens = await issueTokens(1);
    const statements = [];
    for (const size of COUNT_SIZES) {
      const requests = size >= 100 ? 2 : 5;
      await gql.ok(INGEST, { events: Array.from({ length: size }, () => transaction(ids, randomCustomer(ids))) }, { token: countTokens[0] }); // warm
      await take(child);
      const latencies = [];
      for (let i = 0; i < requests; i++) {
        const events = Array.from({ length: size }, () => transaction(ids, randomCustomer(ids)));
        const started = performance.now();
        const data = await gql.ok(INGEST, { events }, { token: countTokens[0], count: true });
        latencies.push(performance.now() - started);
        const odd = data.ingestEvents.filter((r) => !r || r.decision !== 'ALLOW');
        if (data.ingestEvents.length !== size || odd.length) throw new Error(`batch of ${size}: ${data.ingestEvents.length} results, ${odd.length} not ALLOW, e.g. ${JSON.stringify(odd[0])}`);
      }
      await sleep(200);
      const { flagged } = await take(child);
      const counts = flagged.map((s) => s.n).sort((a, b) => a - b);
      const labels = {};
      const ms = {};
      for (const s of flagged) {
        for (const [l, n] of Object.entries(s.labels)) labels[l] = (labels[l] || 0) + n;
        for (const [l, t] of Object.entries(s.ms)) ms[l] = (ms[l] || 0) + t;
      }
      const perRequest = round2(mean(counts));
      statements.push({
        events: size, requests: flagged.length, perRequest, perEvent: round2(perRequest / size), min: counts[0], max: counts[counts.length - 1],
        transactionsPerRequest: round2(mean(flagged.map((s) => s.tx))), roundTripsPerRequest: round2(mean(flagged.map((s) => s.trips))), aloneMs: round2(mean(latencies)), aloneMsPerEvent: round2(mean(latencies) / size),
        breakdown: Object.fromEntries(Object.entries(labels).sort((a, b) => b[1] - a[1]).map(([l, n]) => [l, { perRequest: round2(n / flagged.length), msPerRequest: round2((ms[l] || 0) / flagged.length) }])),
      });
    }
    console.log();
    printTable(
      ['SQL statements/request', 'mean', 'per event', 'min', 'max', 'round trips', 'transactions', 'alone ms', 'ms/event'],
      statements.map((s) => [`ingestEvents(${s.events} event${s.events > 1 ? 's' : ''})`, s.perRequest.toFixed(1), s.perEvent.toFixed(2), s.min, s.max, s.roundTripsPerRequest.toFixed(1), s.transactionsPerRequest.toFixed(1), s.aloneMs.toFixed(1), s.aloneMsPerEvent.toFixed(2)]),
    );
    for (const s of [statements[0], statements[statements.length - 1]]) {
      console.log(`  breakdown at ${s.events} event(s) (count × kind, ms incl. round trip): ${Object.entries(s.breakdown).map(([l, b]) => `${b.perRequest} × ${l} (${b.msPerRequest} ms)`).join(', ')}`);
    }
    console.log();

    const setup = {
      customers: CUSTOMERS, customerSeedSeconds: round2(customerSeconds), storedEventsSeeded: EVENTS, eventInsertSeconds: round2(insertSeconds),
      vacuumAnalyzeSeconds: round2(vacuumSeconds), eventTableMb: round2(eventTableMb), partnerTrustLevel: 'INTERNAL', transactionLimit: TRANSACTION_LIMIT,
      dailyLimit: DAILY_LIMIT, maxAmount: MAX_AMOUNT, activeRules: rules.rules.map((r) => r.code), sqlCheck,
    };
    const environment = {
      node: process.version, platform: `${os.platform()} ${os.arch()}`, cpus: os.cpus().length, cpuModel: os.cpus()[0] && os.cpus()[0].model,
      loadAverageAtStart: LOAD_AT_START, postgres: (await admin.query('SHOW server_version')).rows[0].server_version,
      postgresSettings: (await admin.query(`SELECT name, setting, unit FROM pg_settings WHERE name IN ('shared_buffers', 'synchronous_commit', 'fsync', 'max_connections', 'work_mem')`)).rows,
      packages: Object.fromEntries(['@nestjs/core', '@apollo/server', 'typeorm', 'pg', 'graphql', 'autocannon'].map((n) => [n, pkgVersion(n)])),
    };
    const verdicts = [];
    let anyFailure = false;

    // --- ingest-single ---------------------------------------------------------------------------------------
    if (MODE !== 'batch') {
      const random = singleBody(ids, () => randomCustomer(ids));
      const hotIndex = 0;
      const hot = singleBody(ids, () => hotIndex);
      console.log('ingest-single: one TRANSACTION per request');
      process.stdout.write('  baseline warm-up ... ');
      const bw = await cannonRun(baseUrl, [], WARMUP_SECONDS, random, '/single');
      console.log(`${bw.reqPerSec.toFixed(1)} req/s`);
      process.stdout.write('  baseline, random customers (1) ... ');
      const base1 = await baseRun('baseline (pg), random customers, 1', () => cannonRun(baseUrl, [], SECONDS, random, '/single'));
      console.log(`${base1.reqPerSec.toFixed(1)} req/s`);
      process.stdout.write('  app warm-up ... ');
      const warm = await cannonRun(url, await issueTokens(2), WARMUP_SECONDS, random, '/graphql');
      if (failed(warm)) throw new Error(`app warm-up failed: ${warm.errorSamples.join(' | ')}`);
      const nTokens = tokensFor(Math.max(warm.reqPerSec, base1.reqPerSec)); // the baseline's rate bounds the app's
      console.log(`${warm.reqPerSec.toFixed(1)} req/s; ${nTokens} partner token(s) per run`);
      process.stdout.write('  app, random customers ... ');
      const randomTokens = await issueTokens(nTokens);
      const appRandom = await appRun('app (GraphQL), random customers', () => cannonRun(url, randomTokens, SECONDS, random, '/graphql'));
      console.log(`${appRandom.reqPerSec.toFixed(1)} req/s`);
      /** A diagnostic run beside the app: another server on the same database, warmed up, stopped after `run`. */
      const withExtraServer = async (options, run) => {
        const extra = await startServer(env, options);
        extraChild = extra.child;
        try {
          const extraUrl = `http://127.0.0.1:${extra.port}/graphql`;
          await cannonRun(extraUrl, await issueTokens(1), WARMUP_SECONDS, random, '/graphql');
          await run(extraUrl, extra.child);
        } finally {
          await stopServer(extra.child).catch(() => extra.child.kill('SIGKILL'));
          extraChild = undefined;
        }
      };
      let appNoAudit = null;
      if (NO_AUDIT) {
        // Diagnostic, no target: the same app with its audit sink replaced by a no-op (bench/lib/app-without-audit.js),
        // i.e. without the audit append lock each ingest takes, on the same database.
        await withExtraServer({ withoutAudit: true }, async (naUrl, naChild) => {
          process.stdout.write('  app WITHOUT AUDIT (diagnostic), random customers ... ');
          const naTokens = await issueTokens(nTokens);
          appNoAudit = await appRun('app without audit (diagnostic), random', () => cannonRun(naUrl, naTokens, SECONDS, random, '/graphql'), naChild);
          console.log(`${appNoAudit.reqPerSec.toFixed(1)} req/s`);
        });
      }
      let appTwo = null;
      let twoChain = null;
      if (TWO_INSTANCES) {
        // Diagnostic, no target: a second instance of the app on the same database, each taking half the
        // connections, so both chain into the one audit log through its cross-instance lock. Statements and
        // CPU per request are the first instance's.
        await withExtraServer(undefined, async (secondUrl, secondChild) => {
          process.stdout.write('  app, TWO instances (diagnostic), random customers ... ');
          const twoTokens = await issueTokens(nTokens);
          const half = Math.max(1, Math.floor(CONNECTIONS / 2));
          appTwo = await appRun('app, two instances (diagnostic), random', async () => {
            const both = await Promise.all([url, secondUrl].map((u, k) =>
              cannon(u, twoTokens.filter((_, i) => i % 2 === k), SECONDS, { connections: k ? CONNECTIONS - half : half, body: random, perToken: OPS_PER_TOKEN, path: '/graphql' })));
            const rs = both.map((b) => b.r);
            return {
              reqPerSec: rs[0].requests.mean + rs[1].requests.mean, reqPerSecStddev: null,
              latencyP50Ms: Math.max(rs[0].latency.p50, rs[1].latency.p50), latencyP99Ms: Math.max(rs[0].latency.p99, rs[1].latency.p99),
              requests: rs[0].requests.total + rs[1].requests.total, seconds: rs[0].duration, non2xx: rs[0].non2xx + rs[1].non2xx,
              errors: rs.reduce((n, r) => n + r.errors + r.timeouts, 0), graphqlErrors: both[0].graphqlErrors + both[1].graphqlErrors,
              errorSamples: [...both[0].errorSamples, ...both[1].errorSamples], cappedByTokenBudget: both.some((b) => b.capped), tokens: twoTokens.length,
              perInstanceReqPerSec: rs.map((r) => round2(r.requests.mean)),
            };
          });
          console.log(`${appTwo.reqPerSec.toFixed(1)} req/s (${appTwo.perInstanceReqPerSec.join(' + ')})`);
          // The one chain both instances appended to: consecutive ids, each entry linked to a distinct predecessor.
          await settle(secondChild);
          twoChain = (await sql.query(`SELECT min(id)::int AS lo, max(id)::int AS hi, count(*)::int AS n, count(DISTINCT prev_hash)::int AS prevs,
            (SELECT count(*)::int FROM audit_entry_pending) AS pending FROM audit_entry`)).rows[0];
        });
      }
      const hotBefore = await explainFor(hotIndex, 'hot customer before the one-customer run');
      process.stdout.write('  app, ONE customer ... ');
      const hotTokens = await issueTokens(nTokens);
      const appHot = await appRun('app (GraphQL), one customer', () => cannonRun(url, hotTokens, SECONDS, hot, '/graphql'));
      console.log(`${appHot.reqPerSec.toFixed(1)} req/s`);
      const hotAfter = await explainFor(hotIndex, 'hot customer after the one-customer run');
      process.stdout.write('  baseline, one customer ... ');
      const baseHot = await baseRun('baseline (pg), one customer', () => cannonRun(baseUrl, [], SECONDS, hot, '/single'));
      console.log(`${baseHot.reqPerSec.toFixed(1)} req/s`);
      process.stdout.write('  baseline, random customers (2) ... ');
      const base2 = await baseRun('baseline (pg), random customers, 2', () => cannonRun(baseUrl, [], SECONDS, random, '/single'));
      console.log(`${base2.reqPerSec.toFixed(1)} req/s`);
      const decisions = Object.fromEntries((await sql.query('SELECT decision, count(*)::int AS n FROM event WHERE source = $1 GROUP BY 1 ORDER BY 1', [partner.id])).rows.map((r) => [r.decision, r.n]));
      console.log();

      const baseAvg = { reqPerSec: mean([base1.reqPerSec, base2.reqPerSec]), latencyP50Ms: mean([base1.latencyP50Ms, base2.latencyP50Ms]), latencyP99Ms: mean([base1.latencyP99Ms, base2.latencyP99Ms]) };
      const runs = [base1, appRandom, ...(appNoAudit ? [appNoAudit] : []), ...(appTwo ? [appTwo] : []), appHot, baseHot, base2];
      printTable(
        ['run', 'req/s', 'p50 ms', 'p99 ms', 'requests', 'non2xx', 'errors', 'gql err', 'stmts/req', 'trips/req', 'stored', 'cpu ms/req'],
        [
          ...runs.map((r) => [r.label, r.reqPerSec.toFixed(1), String(r.latencyP50Ms), String(r.latencyP99Ms), r.requests, r.non2xx, r.errors, r.graphqlErrors,
            r.statementsPerRequestUnderLoad !== undefined ? r.statementsPerRequestUnderLoad.toFixed(1) : '-',
            r.roundTripsPerRequestUnderLoad !== undefined ? r.roundTripsPerRequestUnderLoad.toFixed(1) : '-', r.eventsStored !== undefined ? r.eventsStored : '-', r.processCpuMsPerRequest.toFixed(2)]),
          ['baseline avg (random)', baseAvg.reqPerSec.toFixed(1), baseAvg.latencyP50Ms.toFixed(1), baseAvg.latencyP99Ms.toFixed(1), '', '', '', '', '', '', '', ''],
        ],
      );
      console.log('  cpu ms/req: CPU time of the serving process per request (the app\'s with its background work, until it settled); PostgreSQL\'s not included');
      console.log('  backends of the bench database during each run (mean count; CPU = active, not waiting):');
      for (const r of runs) console.log(`    ${r.label}: ${backendsText(r.backends)}`);
      for (const r of runs) if (r.cappedByTokenBudget) console.log(`  ${r.label}: CAPPED — stopped at the token budget (${r.tokens} × ${OPS_PER_TOKEN} requests) before the end of the run`);
      console.log(
        `  hot customer ${hotIndex}: ${hotBefore.customerEvents90d} → ${hotAfter.customerEvents90d} events in 90 days; aggregate ${hotBefore.executionMs} → ${hotAfter.executionMs} ms ` +
          `(${hotBefore.rowsScanned} → ${hotAfter.rowsScanned} index rows), last-activity ${hotBefore.lastActivityExecutionMs} → ${hotAfter.lastActivityExecutionMs} ms`,
      );
      console.log(`  decisions of the partner's stored events: ${JSON.stringify(decisions)}`);
      if (appTwo) {
        const chainOk = twoChain.lo === 1 && twoChain.hi === twoChain.n && twoChain.prevs === twoChain.n && twoChain.pending === 0;
        console.log(
          `  two instances: ${appTwo.reqPerSec.toFixed(1)} req/s = ${((appTwo.reqPerSec / appRandom.reqPerSec) * 100).toFixed(1)} % of one instance; ` +
            `audit chain after them: ids ${twoChain.lo}–${twoChain.hi}, ${twoChain.n} entries, ${twoChain.prevs} distinct links, ${twoChain.pending} pending: ${chainOk ? 'intact' : 'BROKEN'}`,
        );
        anyFailure ||= !chainOk;
      }
      const errorsOk = !runs.some(failed);
      if (!errorsOk) for (const r of runs) if (failed(r)) console.log(`  errors in ${r.label}: ${r.errorSamples.join(' | ')}`);
      console.log();

      const ratio = appRandom.reqPerSec / baseAvg.reqPerSec;
      const p99Factor = appRandom.latencyP99Ms / baseAvg.latencyP99Ms;
      const hotRatio = appHot.reqPerSec / appRandom.reqPerSec;
      const v = {
        ratio: round2(ratio), throughputOk: ratio >= TARGETS.singleRatio, p99Factor: round2(p99Factor), p99Ok: p99Factor <= TARGETS.p99Factor,
        oneCustomerRatio: round2(hotRatio), oneCustomerOk: hotRatio >= TARGETS.oneCustomerRatio, errorsOk,
      };
      verdicts.push(
        `single throughput: app ${appRandom.reqPerSec.toFixed(1)} req/s = ${(ratio * 100).toFixed(1)} % of baseline ${baseAvg.reqPerSec.toFixed(1)} req/s (target ≥ ${TARGETS.singleRatio * 100} %): ${v.throughputOk ? 'PASS' : 'FAIL'}`,
        `single p99: app ${appRandom.latencyP99Ms} ms = ${p99Factor.toFixed(2)} × baseline ${baseAvg.latencyP99Ms.toFixed(1)} ms (target ≤ ${TARGETS.p99Factor} ×): ${v.p99Ok ? 'PASS' : 'FAIL'}`,
        `single one customer: ${appHot.reqPerSec.toFixed(1)} req/s = ${(hotRatio * 100).toFixed(1)} % of random customers (target ≥ ${TARGETS.oneCustomerRatio * 100} %): ${v.oneCustomerOk ? 'PASS' : 'FAIL'}`,
      );
      anyFailure ||= !errorsOk;
      if (!(v.throughputOk && v.p99Ok && v.oneCustomerOk) && exitCode === 0) exitCode = 2;
      fs.mkdirSync(path.dirname(RESULTS.single), { recursive: true });
      fs.writeFileSync(
        RESULTS.single,
        JSON.stringify({
          date: new Date().toISOString(),
          config: {
            mode: 'single', seconds: SECONDS, warmupSeconds: WARMUP_SECONDS, connections: CONNECTIONS, targets: TARGETS, query: INGEST,
            baseline: 'node:http + pg: BEGIN; the app\'s INSERT INTO event … RETURNING; the aggregate SQL of the active rules (buildAggregateQuery, with the last-activity look-up as a column); COMMIT',
            statementCounting: 'pg.Client#query calls inside each HTTP request (AsyncLocalStorage), in the app process',
            baselineStatements: BASELINE_STATEMENTS,
          },
          environment: { ...environment, loadAverageAtEnd: os.loadavg().map(round2) }, setup, explain, statements,
          runs: { baseline: [base1, base2], baselineAverage: baseAvg, appRandomCustomers: appRandom, appOneCustomer: appHot, baselineOneCustomer: baseHot, appWithoutAuditDiagnostic: appNoAudit,
            appTwoInstancesDiagnostic: appTwo, twoInstancesAuditChain: twoChain },
          hotCustomer: { before: hotBefore, after: hotAfter }, decisions, verdict: v,
        }, null, 2) + '\n',
      );
      console.log(`JSON: ${path.relative(process.cwd(), RESULTS.single)}`);
      console.log();
    }

    // --- ingest-batch ----------------------------------------------------------------------------------------
    if (MODE !== 'single') {
      const body = batchBody(ids, BATCH_SIZE);
      console.log(`ingest-batch: ${BATCH_SIZE} events per request, ${BATCH_CONNECTIONS} concurrent workers`);
      process.stdout.write('  baseline warm-up ... ');
      const bw = await loopRun(`${baseUrl}/batch`, [], WARMUP_SECONDS, body, BATCH_CONNECTIONS, BATCH_SIZE);
      console.log(`${Math.round(bw.rowsPerSec)} rows/s`);
      process.stdout.write('  baseline (1) ... ');
      const base1 = await baseRun('baseline (pg unnest), 1', () => loopRun(`${baseUrl}/batch`, [], SECONDS, body, BATCH_CONNECTIONS, BATCH_SIZE));
      console.log(`${Math.round(base1.rowsPerSec)} rows/s`);
      const tokens = await issueTokens(2); // a few requests a second at most: far under 6,000 operations a minute
      process.stdout.write('  app warm-up ... ');
      const warm = await loopRun(url, tokens, WARMUP_SECONDS, body, BATCH_CONNECTIONS, BATCH_SIZE);
      if (failed(warm)) throw new Error(`app warm-up failed: ${warm.errorSamples.join(' | ')}`);
      console.log(`${Math.round(warm.rowsPerSec)} rows/s`);
      process.stdout.write('  app ... ');
      const app = await appRun('app (GraphQL ingestEvents)', () => loopRun(url, tokens, SECONDS, body, BATCH_CONNECTIONS, BATCH_SIZE));
      console.log(`${Math.round(app.rowsPerSec)} rows/s`);
      process.stdout.write('  baseline (2) ... ');
      const base2 = await baseRun('baseline (pg unnest), 2', () => loopRun(`${baseUrl}/batch`, [], SECONDS, body, BATCH_CONNECTIONS, BATCH_SIZE));
      console.log(`${Math.round(base2.rowsPerSec)} rows/s`);
      console.log();
      const baseAvg = { rowsPerSec: mean([base1.rowsPerSec, base2.rowsPerSec]), latencyP50Ms: mean([base1.latencyP50Ms, base2.latencyP50Ms]), latencyP99Ms: mean([base1.latencyP99Ms, base2.latencyP99Ms]) };
      const runs = [base1, app, base2];
      printTable(
        ['run', 'rows/s', 'req/s', 'p50 ms', 'p99 ms', 'requests', 'non2xx', 'errors', 'gql err', 'stmts/req', 'trips/req', 'stored', 'cpu ms/req'],
        [
          ...runs.map((r) => [r.label, Math.round(r.rowsPerSec), r.reqPerSec.toFixed(2), r.latencyP50Ms.toFixed(0), r.latencyP99Ms.toFixed(0), r.requests, r.non2xx, r.errors, r.graphqlErrors,
            r.statementsPerRequestUnderLoad !== undefined ? r.statementsPerRequestUnderLoad.toFixed(0) : '-',
            r.roundTripsPerRequestUnderLoad !== undefined ? r.roundTripsPerRequestUnderLoad.toFixed(0) : '-', r.eventsStored !== undefined ? r.eventsStored : '-', r.processCpuMsPerRequest.toFixed(1)]),
          ['baseline avg', Math.round(baseAvg.rowsPerSec), '', baseAvg.latencyP50Ms.toFixed(0), baseAvg.latencyP99Ms.toFixed(0), '', '', '', '', '', '', '', ''],
        ],
      );
      console.log('  cpu ms/req: CPU time of the serving process per request (the app\'s with its background work, until it settled); PostgreSQL\'s not included');
      console.log('  backends of the bench database during each run (mean count; CPU = active, not waiting):');
      for (const r of runs) console.log(`    ${r.label}: ${backendsText(r.backends)}`);
      const errorsOk = !runs.some(failed);
      if (!errorsOk) for (const r of runs) if (failed(r)) console.log(`  errors in ${r.label}: ${r.errorSamples.join(' | ')}`);
      console.log();
      const ratio = app.rowsPerSec / baseAvg.rowsPerSec;
      const s10 = statements.find((s) => s.events === 10);
      const sBig = statements.find((s) => s.events === BATCH_SIZE);
      // A set-based ingest would send about as many statements for 1000 events as for 10.
      const statementsOk = sBig.perRequest < 2 * s10.perRequest;
      const v = { ratio: round2(ratio), throughputOk: ratio >= TARGETS.batchRatio, statements10: s10.perRequest, statementsBatch: sBig.perRequest, statementsOk, errorsOk };
      verdicts.push(
        `batch throughput: app ${Math.round(app.rowsPerSec)} rows/s = ${(ratio * 100).toFixed(1)} % of baseline ${Math.round(baseAvg.rowsPerSec)} rows/s (target ≥ ${TARGETS.batchRatio * 100} %): ${v.throughputOk ? 'PASS' : 'FAIL'}`,
        `batch statements: ${s10.perRequest} per request for 10 events, ${sBig.perRequest} for ${BATCH_SIZE} (${sBig.perEvent} per event; target: not growing with the batch, < 2 × the 10-event count): ${statementsOk ? 'PASS' : 'FAIL'}`,
      );
      anyFailure ||= !errorsOk;
      if (!(v.throughputOk && v.statementsOk) && exitCode === 0) exitCode = 2;
      fs.mkdirSync(path.dirname(RESULTS.batch), { recursive: true });
      fs.writeFileSync(
        RESULTS.batch,
        JSON.stringify({
          date: new Date().toISOString(),
          config: {
            mode: 'batch', seconds: SECONDS, warmupSeconds: WARMUP_SECONDS, workers: BATCH_CONNECTIONS, batchSize: BATCH_SIZE, targets: TARGETS, query: INGEST,
            baseline: 'node:http + pg: INSERT INTO event … SELECT * FROM unnest($1::uuid[], …) RETURNING id of the same rows (one statement)',
            statementCounting: 'pg.Client#query calls inside each HTTP request (AsyncLocalStorage), in the app process',
            baselineStatements: BASELINE_STATEMENTS,
          },
          environment: { ...environment, loadAverageAtEnd: os.loadavg().map(round2) }, setup, explain, statements,
          runs: { baseline: [base1, base2], baselineAverage: baseAvg, app }, verdict: v,
        }, null, 2) + '\n',
      );
      console.log(`JSON: ${path.relative(process.cwd(), RESULTS.batch)}`);
    }

    console.log(`Aggregate plan on the seeded data: ${explain.indexOnly ? 'Index Only Scan (PASS)' : 'not index-only (FAIL)'}`);
    for (const line of verdicts) console.log(line);
    if (!explain.indexOnly && exitCode === 0) exitCode = 2;
    if (anyFailure) {
      console.log('ERRORS: a run had non-2xx responses, socket errors or GraphQL errors');
      exitCode = 1;
    }
    console.log(`(2 shared CPU cores run the app, PostgreSQL, the baseline and the load generator together: figures are noisy; load now ${os.loadavg()[0].toFixed(2)})`);
  } finally {
    await cleanup();
  }
  process.exitCode = exitCode;
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
