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
 * The app runs in a child process (bench/lib/app-process.js) so autocannon, in the parent, does not share
 * its event loop. The child counts the SQL statements each HTTP request sends (pg.Client#query wrapped
 * under an AsyncLocalStorage scope opened per request), because pg_stat_statements is usually not loaded.
 */

const path = require('node:path');
const fs = require('node:fs');
const os = require('node:os');
const { randomBytes } = require('node:crypto');
const { postgresCpuMicros, positiveInt, requireDist, sleep, percentile, round2, mean, printTable, pkgVersion } = require('./lib/util');
const { OPS_PER_ACCOUNT, gqlClient, signIn, createOfficers, accountsFor, seedInput, seed } = require('./lib/graphql');
const { appNodeFlags, startServer, stopServer, take, settle } = require('./lib/app-process');
const { cannon } = require('./lib/load');
const { benchDatabase, appEnv } = require('./lib/database');

const SECONDS = positiveInt(process.env.BENCH_SECONDS, 10);
const CUSTOMERS = positiveInt(process.env.BENCH_CUSTOMERS, 500);
const WARMUP_SECONDS = 2;
const CONNECTIONS = 10; // autocannon connections = baseline workers
const PAGE_SIZE = 100;
const COUNT_PAGE_SIZES = [10, 50, 100];
const COUNT_REQUESTS = 5; // sequential requests per page size for the statement count (after one warm-up)
const TARGET_RATIO = 0.3;
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
// Main
// ---------------------------------------------------------------------------

async function main() {
  const { loadConfig } = requireDist('config/config');
  const { runMigrations } = requireDist('database/migrate');

  const db = benchDatabase();
  const { dbName, admin } = db;

  console.log(
    `Customer read bench: customers(first: ${PAGE_SIZE}) as COMPLIANCE_OFFICER, ${CUSTOMERS} customers, ` +
      `${CONNECTIONS} connections/workers, ${WARMUP_SECONDS}s warm-up + ${SECONDS}s, node ${process.version}, ${os.cpus().length} CPUs, ` +
      `load ${os.loadavg()[0].toFixed(2)}; app node flags (as npm start): ${appNodeFlags().join(' ') || 'none'}`,
  );

  await db.create();
  let child;
  let baseline;
  const cleanup = async () => {
    if (child) await stopServer(child).catch(() => child.kill('SIGKILL'));
    child = undefined;
    if (baseline) await baseline.close().catch(() => {});
    baseline = undefined;
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
    const config = loadConfig(env);

    process.stdout.write('  setup: migrations ... ');
    const applied = await runMigrations(db.url);
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
    baseline = makeBaseline(config, db.url);
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
    const warm = await cannon(url, warmTokens, WARMUP_SECONDS, { connections: CONNECTIONS, body: BODY });
    await settle(child);
    const warmRate = warm.r.requests.total / Math.max(warm.r.duration, 0.1);
    if (warm.r.non2xx || warm.r.errors || warm.graphqlErrors) {
      throw new Error(`warm-up had ${warm.r.non2xx} non-2xx, ${warm.r.errors} errors, ${warm.graphqlErrors} GraphQL errors: ${warm.errorSamples.join(' | ')}`);
    }
    // Enough fresh accounts that none passes 600 operations a minute during the measured run.
    const needed = accountsFor(warmRate, SECONDS, CONNECTIONS);
    console.log(`${warmRate.toFixed(1)} req/s; signing in ${needed} COMPLIANCE_OFFICER account(s) for the run`);
    const runTokens = await createOfficers(gql, adminToken, needed);

    process.stdout.write('  app run ... ');
    const beforeRun = (await take(child)).totals;
    const pgCpuBefore = postgresCpuMicros();
    const app = await cannon(url, runTokens, SECONDS, { connections: CONNECTIONS, body: BODY });
    // autocannon hangs up on requests still in flight at the end; the app finishes them regardless. Wait for
    // that before the second baseline run, and count their statements too (their requests were counted).
    const afterRun = await settle(child);
    const pgCpuAfter = postgresCpuMicros();
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
      // CPU of the app process per request served (requests and background work together): steadier than
      // req/s when something else shares the machine.
      processCpuMsPerRequest: round2((afterRun.cpuMicros - beforeRun.cpuMicros) / 1000 / Math.max(1, afterRun.requests - beforeRun.requests)),
      // The database server's share (local server only): it runs on the same cores.
      postgresCpuMsPerRequest: pgCpuBefore === null || pgCpuAfter === null ? null : round2((pgCpuAfter - pgCpuBefore) / 1000 / Math.max(1, afterRun.requests - beforeRun.requests)),
    };
    console.log(`${appResult.reqPerSec.toFixed(1)} req/s, ${appResult.processCpuMsPerRequest} ms app CPU/request${appResult.postgresCpuMsPerRequest === null ? '' : `, ${appResult.postgresCpuMsPerRequest} ms PostgreSQL CPU/request`}`);

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

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
