#!/usr/bin/env node
'use strict';
/*
 * Audit overhead benchmark: the same PII read as a COMPLIANCE_OFFICER against the real app with auditing on
 * (createApp, as `npm start`) and off (bench/lib/app-without-audit.js: the same app with the AUDIT_SINK
 * provider overridden by a no-op — bench only, production has no such switch), in one run, on one database.
 *
 *   npm run bench:audit              (builds dist/ if needed, then runs this file)
 *   BENCH_SECONDS=30 BENCH_ROUNDS=3 node bench/audit-overhead.js
 *
 * Each app runs in its own child process on its own port (bench/lib/app-process.js, which also counts the
 * SQL statements of each request); autocannon runs in the parent. Runs alternate on, off, on, off.
 * Target: auditing costs at most 30 % of the req/s (overhead = 1 − on/off).
 */

const path = require('node:path');
const fs = require('node:fs');
const os = require('node:os');
const { randomBytes } = require('node:crypto');
const { Client } = require('pg');
const { positiveInt, requireDist, sleep, round2, mean, printTable, pkgVersion } = require('./lib/util');
const { OPS_PER_ACCOUNT, gqlClient, signIn, createOfficers, accountsFor, seedInput, seed } = require('./lib/graphql');
const { startServer, stopServer, take, settle } = require('./lib/app-process');
const { cannon } = require('./lib/load');
const { benchDatabase, appEnv } = require('./lib/database');

const SECONDS = positiveInt(process.env.BENCH_SECONDS, 10);
const CUSTOMERS = positiveInt(process.env.BENCH_CUSTOMERS, 200);
const ROUNDS = positiveInt(process.env.BENCH_ROUNDS, 2); // on, off per round
const WARMUP_SECONDS = 2;
const CONNECTIONS = 10;
const COUNT_REQUESTS = 5; // sequential requests per app and query for the statement count (after one warm-up)
const TARGET_OVERHEAD = 0.3;
/** How long to wait, before a run, for the security-alert detector to reach the audit head. */
const CATCH_UP_TIMEOUT_MS = 180_000;
const RESULTS_FILE = path.join(__dirname, 'results', 'audit-overhead.json');

const PII = 'id fullName email phone';
/** The PII reads measured; each full-value read of a customer appends one `customer.read_pii` entry. */
const SCENARIOS = {
  customer: {
    label: 'customer(id)',
    query: `query($id: ID!) { customer(id: $id) { ${PII} } }`,
    /** Request i reads customer ids[i % n]. */
    body: (ids) => {
      const bodies = ids.map((id) => JSON.stringify({ query: SCENARIOS.customer.query, variables: { id } }));
      return (i) => bodies[i % bodies.length];
    },
    rowsPerRequest: 1,
  },
  customers: {
    label: 'customers(first: 20)',
    query: `{ customers(first: 20) { nodes { ${PII} } } }`,
    body: () => JSON.stringify({ query: SCENARIOS.customers.query }),
    rowsPerRequest: 20,
  },
};
const SELECTED = (process.env.BENCH_AUDIT_QUERIES || 'customer,customers')
  .split(',')
  .map((s) => s.trim())
  .filter(Boolean);
for (const name of SELECTED) {
  if (!SCENARIOS[name]) throw new Error(`BENCH_AUDIT_QUERIES: unknown query "${name}" (known: ${Object.keys(SCENARIOS).join(', ')})`);
}

/** The nodes a scenario's response holds. */
const nodesOf = (name, data) => (name === 'customer' ? [data.customer] : data.customers.nodes);

async function main() {
  const { runMigrations } = requireDist('database/migrate');
  const db = benchDatabase();

  console.log(
    `Audit overhead bench: ${SELECTED.map((n) => SCENARIOS[n].label).join(' and ')} { ${PII} } as COMPLIANCE_OFFICER, ` +
      `auditing on vs off, ${CUSTOMERS} customers, ${CONNECTIONS} connections, ${ROUNDS} × (on, off), ${WARMUP_SECONDS}s warm-up + ${SECONDS}s, ` +
      `node ${process.version}, ${os.cpus().length} CPUs, load ${os.loadavg()[0].toFixed(2)}`,
  );

  await db.create();
  const apps = {}; // on / off: { child, url, gql }
  let audit; // a client on the bench database, to count audit rows
  const cleanup = async () => {
    for (const mode of Object.keys(apps)) {
      const { child } = apps[mode];
      delete apps[mode];
      await stopServer(child).catch(() => child.kill('SIGKILL'));
    }
    if (audit) await audit.end().catch(() => {});
    audit = undefined;
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

    process.stdout.write('  setup: migrations ... ');
    const applied = await runMigrations(db.url);
    console.log(`${applied.length} applied`);
    // One after the other (the first creates the bootstrap admin); same keys, so a token works on both.
    for (const mode of ['on', 'off']) {
      const server = await startServer(
        { ...env, AUDIT_CHECKPOINT_PATH: path.join(db.tmpDir, `audit-checkpoints-${mode}.jsonl`), NOTIFY_TRANSPORT: `file:${path.join(db.tmpDir, `notify-${mode}.jsonl`)}` },
        { withoutAudit: mode === 'off' },
      );
      const url = `http://127.0.0.1:${server.port}/graphql`;
      apps[mode] = { child: server.child, url, gql: gqlClient(url) };
    }
    console.log(`  setup: app "on" (createApp) on port ${new URL(apps.on.url).port}, app "off" (AUDIT_SINK → no-op) on port ${new URL(apps.off.url).port}`);
    const gql = apps.on.gql;
    audit = new Client({ connectionString: db.url });
    await audit.connect();
    const countRows = async () => {
      const { rows } = await audit.query(`SELECT count(*) FILTER (WHERE action = 'customer.read_pii')::int AS pii, count(*)::int AS total FROM audit_entry`);
      return rows[0];
    };

    process.stdout.write('  setup: accounts ... ');
    const adminToken = await signIn(gql, adminEmail, adminPassword);
    const seeders = await createOfficers(gql, adminToken, Math.ceil(CUSTOMERS / OPS_PER_ACCOUNT));
    const [probe] = await createOfficers(gql, adminToken, 1);
    console.log(`admin + ${seeders.length} seeding + 1 probing COMPLIANCE_OFFICER`);

    process.stdout.write(`  setup: seeding ${CUSTOMERS} customers via createCustomer ... `);
    const seedStart = performance.now();
    const ids = await seed(gql, seeders, CUSTOMERS);
    console.log(`${((performance.now() - seedStart) / 1000).toFixed(1)} s`);
    const seededById = new Map(ids.map((id, i) => [id, seedInput(i)]));
    /** Request i's body of a scenario (a function of i for every scenario). */
    const bodyOf = (name) => {
      const b = SCENARIOS[name].body(ids);
      return typeof b === 'function' ? b : () => b;
    };

    // Checks: both apps return the seeded plaintext; "on" appends one customer.read_pii entry per customer
    // read, "off" appends none.
    const checks = [];
    for (const name of SELECTED) {
      const sc = SCENARIOS[name];
      const body = JSON.parse(bodyOf(name)(3));
      for (const mode of ['on', 'off']) {
        const before = await countRows();
        const data = await apps[mode].gql.ok(body.query, body.variables, { token: probe });
        const after = await countRows();
        const nodes = nodesOf(name, data);
        if (nodes.length !== sc.rowsPerRequest) throw new Error(`${sc.label} on "${mode}" returned ${nodes.length} nodes, expected ${sc.rowsPerRequest}`);
        for (const node of nodes) {
          const seeded = seededById.get(node.id);
          if (!seeded || node.fullName !== seeded.fullName || node.email !== seeded.email || node.phone !== seeded.phone) {
            throw new Error(`${sc.label} on "${mode}": not the seeded plaintext: ${JSON.stringify(node)}`);
          }
        }
        const rows = after.pii - before.pii;
        const expected = mode === 'on' ? sc.rowsPerRequest : 0;
        checks.push({ query: sc.label, app: mode, readPiiRows: rows, expected });
        if (rows !== expected) throw new Error(`${sc.label} on "${mode}" appended ${rows} customer.read_pii rows, expected ${expected}`);
      }
    }
    console.log(`  check: both apps return the seeded PII in full; one request appends ${checks.map((c) => `${c.readPiiRows} (${c.query}, ${c.app})`).join(', ')} customer.read_pii rows`);

    // SQL statements per request, sequential, per query and app.
    const statements = [];
    for (const name of SELECTED) {
      const sc = SCENARIOS[name];
      const nextBody = bodyOf(name);
      for (const mode of ['on', 'off']) {
        const { gql: appGql, child } = apps[mode];
        const send = (i, count) => {
          const b = JSON.parse(nextBody(i));
          return appGql.ok(b.query, b.variables, { token: probe, count });
        };
        await send(0, false); // warm
        await take(child); // drops anything flagged before
        const latencies = [];
        for (let i = 1; i <= COUNT_REQUESTS; i++) {
          const t0 = performance.now();
          await send(i, true);
          latencies.push(performance.now() - t0);
        }
        await sleep(200);
        const { flagged } = await take(child);
        const labels = {};
        for (const s of flagged) for (const [l, n] of Object.entries(s.labels)) labels[l] = (labels[l] || 0) + n;
        statements.push({
          query: sc.label,
          app: mode,
          requests: flagged.length,
          perRequest: round2(mean(flagged.map((s) => s.n))),
          transactionsPerRequest: round2(mean(flagged.map((s) => s.tx))),
          sequentialLatencyMs: round2(mean(latencies)),
          breakdown: Object.fromEntries(
            Object.entries(labels)
              .sort((a, b) => b[1] - a[1])
              .map(([l, n]) => [l, round2(n / flagged.length)]),
          ),
        });
      }
    }

    // Waits until neither app is still finishing requests and the security-alert detector (it reads the
    // log behind a cursor, in both processes) has caught up with the audit head, so that no run pays for
    // the audit work of the one before. Returns the seconds waited.
    const quiesce = async () => {
      const t0 = performance.now();
      await Promise.all(Object.values(apps).map(({ child }) => settle(child)));
      for (;;) {
        const { rows } = await audit.query(
          `SELECT (SELECT last_id FROM audit_detector_cursor WHERE name = 'security_alerts') >= COALESCE((SELECT max(id) FROM audit_entry), 0) AS done`,
        );
        if (rows[0].done) break;
        if (performance.now() - t0 > CATCH_UP_TIMEOUT_MS) throw new Error(`the security-alert detector did not catch up within ${CATCH_UP_TIMEOUT_MS / 1000} s`);
        await sleep(250);
      }
      return (performance.now() - t0) / 1000;
    };

    // What the bench database's backends wait on during a run, sampled every 100 ms from pg_stat_activity:
    // the audit append lock (advisory), WAL flushes (IO WAL*), how many are active at all, and how many sit
    // idle inside a transaction (waiting for the app to send the next statement — e.g. the lock holder).
    const sampleBackends = () => {
      const samples = [];
      let pending = Promise.resolve();
      const timer = setInterval(() => {
        pending = pending.then(() =>
          audit
            .query(
              `SELECT count(*) FILTER (WHERE state = 'active')::int AS active,
                      count(*) FILTER (WHERE wait_event_type = 'Lock' AND wait_event = 'advisory')::int AS advisory,
                      count(*) FILTER (WHERE wait_event_type = 'IO' AND wait_event LIKE 'WAL%')::int AS wal,
                      count(*) FILTER (WHERE state = 'idle in transaction')::int AS idle_in_tx
                 FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`,
              [db.dbName],
            )
            .then(({ rows }) => samples.push(rows[0]), () => {}),
        );
      }, 100);
      return {
        async stop() {
          clearInterval(timer);
          await pending;
          const avgOf = (k) => (samples.length ? round2(mean(samples.map((x) => x[k]))) : null);
          return {
            samples: samples.length,
            activeAvg: avgOf('active'),
            advisoryLockWaitAvg: avgOf('advisory'),
            walIoWaitAvg: avgOf('wal'),
            idleInTransactionAvg: avgOf('idle_in_tx'),
          };
        },
      };
    };

    const scenarios = [];
    for (const name of SELECTED) {
      const sc = SCENARIOS[name];
      const body = bodyOf(name);
      console.log(`  ${sc.label}:`);

      // Warm both apps, then size the accounts from the faster one.
      const warmRates = {};
      for (const mode of ['on', 'off']) {
        const warmTokens = await createOfficers(gql, adminToken, 3);
        const warm = await cannon(apps[mode].url, warmTokens, WARMUP_SECONDS, { connections: CONNECTIONS, body });
        await settle(apps[mode].child);
        if (warm.r.non2xx || warm.r.errors || warm.graphqlErrors) {
          throw new Error(`warm-up of "${mode}" had ${warm.r.non2xx} non-2xx, ${warm.r.errors} errors, ${warm.graphqlErrors} GraphQL errors: ${warm.errorSamples.join(' | ')}`);
        }
        warmRates[mode] = warm.r.requests.total / Math.max(warm.r.duration, 0.1);
      }
      // Fresh accounts for every run, enough that none passes 600 operations a minute.
      const perRun = accountsFor(Math.max(warmRates.on, warmRates.off), SECONDS, CONNECTIONS);
      process.stdout.write(
        `    warm-up: on ${warmRates.on.toFixed(1)} req/s, off ${warmRates.off.toFixed(1)} req/s; signing in ${perRun} × ${2 * ROUNDS} COMPLIANCE_OFFICER accounts ... `,
      );
      const signStart = performance.now();
      const runTokens = [];
      for (let i = 0; i < 2 * ROUNDS; i++) runTokens.push(await createOfficers(gql, adminToken, perRun));
      console.log(`${((performance.now() - signStart) / 1000).toFixed(1)} s`);

      const runs = [];
      for (let round = 1; round <= ROUNDS; round++) {
        for (const mode of ['on', 'off']) {
          const { url, child } = apps[mode];
          const catchUpSeconds = await quiesce();
          process.stdout.write(`    ${mode} ${round} ... `);
          const rowsBefore = await countRows();
          const before = (await take(child)).totals;
          const sampler = sampleBackends();
          const res = await cannon(url, runTokens[runs.length], SECONDS, { connections: CONNECTIONS, body });
          const backends = await sampler.stop();
          const after = await settle(child); // requests autocannon abandoned at the end still finish
          const rowsAfter = await countRows();
          const served = after.requests - before.requests;
          const run = {
            app: mode,
            round,
            reqPerSec: res.r.requests.mean,
            reqPerSecStddev: res.r.requests.stddev,
            latencyP50Ms: res.r.latency.p50,
            latencyP99Ms: res.r.latency.p99,
            requests: res.r.requests.total,
            seconds: res.r.duration,
            non2xx: res.r.non2xx,
            errors: res.r.errors + res.r.timeouts,
            graphqlErrors: res.graphqlErrors,
            errorSamples: res.errorSamples,
            accounts: runTokens[runs.length].length,
            cappedByAccountBudget: res.capped,
            requestsServed: served,
            statementsPerRequestUnderLoad: round2((after.inRequest - before.inRequest) / Math.max(1, served)),
            readPiiRows: rowsAfter.pii - rowsBefore.pii,
            expectedReadPiiRows: mode === 'on' ? served * sc.rowsPerRequest : 0,
            auditRows: rowsAfter.total - rowsBefore.total,
            catchUpSecondsBefore: round2(catchUpSeconds),
            backends,
          };
          runs.push(run);
          console.log(`${run.reqPerSec.toFixed(1)} req/s, ${run.readPiiRows} customer.read_pii rows${run.cappedByAccountBudget ? ' (CAPPED)' : ''}`);
        }
      }

      const avg = (mode) => {
        const rs = runs.filter((r) => r.app === mode);
        return {
          reqPerSec: mean(rs.map((r) => r.reqPerSec)),
          latencyP50Ms: mean(rs.map((r) => r.latencyP50Ms)),
          latencyP99Ms: mean(rs.map((r) => r.latencyP99Ms)),
          statementsPerRequestUnderLoad: round2(mean(rs.map((r) => r.statementsPerRequestUnderLoad))),
        };
      };
      const averages = { on: avg('on'), off: avg('off') };
      const overhead = 1 - averages.on.reqPerSec / averages.off.reqPerSec;
      const perRound = Array.from({ length: ROUNDS }, (_, k) => {
        const on = runs.find((r) => r.app === 'on' && r.round === k + 1);
        const off = runs.find((r) => r.app === 'off' && r.round === k + 1);
        return round2((1 - on.reqPerSec / off.reqPerSec) * 100);
      });
      const errorsOk = runs.every((r) => r.non2xx === 0 && r.errors === 0 && r.graphqlErrors === 0);
      const auditOk = runs.every((r) => r.readPiiRows === r.expectedReadPiiRows && (r.app === 'off' || r.readPiiRows > 0));
      scenarios.push({
        name,
        label: sc.label,
        query: sc.query,
        readPiiRowsPerRequest: sc.rowsPerRequest,
        warmUpReqPerSec: { on: round2(warmRates.on), off: round2(warmRates.off) },
        runs,
        averages,
        overheadPercent: round2(overhead * 100),
        overheadPercentPerRound: perRound,
        pass: overhead <= TARGET_OVERHEAD,
        errorsOk,
        auditOk,
      });
    }
    console.log();

    const fmt = (n) => (n === null ? '-' : n.toFixed(1));
    for (const s of scenarios) {
      console.log(`${s.label} { ${PII} } — ${s.readPiiRowsPerRequest} customer.read_pii row(s) per request with auditing on`);
      printTable(
        ['run', 'req/s', 'p50 ms', 'p99 ms', 'requests', 'non2xx', 'errors', 'gql err', 'read_pii rows', 'stmts/req', 'active', 'lock wait', 'WAL wait', 'idle in tx', 'catch-up s'],
        [
          ...s.runs.map((r) => [
            `audit ${r.app} ${r.round}`, r.reqPerSec.toFixed(1), String(r.latencyP50Ms), String(r.latencyP99Ms), r.requests, r.non2xx, r.errors, r.graphqlErrors,
            r.readPiiRows, r.statementsPerRequestUnderLoad.toFixed(1), fmt(r.backends.activeAvg), fmt(r.backends.advisoryLockWaitAvg), fmt(r.backends.walIoWaitAvg), fmt(r.backends.idleInTransactionAvg),
            r.catchUpSecondsBefore.toFixed(1),
          ]),
          ...['on', 'off'].map((mode) => {
            const a = s.averages[mode];
            return [`audit ${mode} avg`, a.reqPerSec.toFixed(1), a.latencyP50Ms.toFixed(2), a.latencyP99Ms.toFixed(2), '', '', '', '', '', a.statementsPerRequestUnderLoad.toFixed(1), '', '', '', '', ''];
          }),
        ],
      );
      console.log(`  overhead per round (1 − on/off): ${s.overheadPercentPerRound.map((p) => `${p.toFixed(1)} %`).join(', ')}`);
      console.log(
        '  active / lock wait / WAL wait / idle in tx: mean backends of the bench database that are active, waiting on an advisory lock ' +
          '(the audit append), waiting on a WAL write/flush, idle inside a transaction (pg_stat_activity, every 100 ms)',
      );
      if (!s.errorsOk) console.log(`  error samples: ${s.runs.flatMap((r) => r.errorSamples).slice(0, 3).join(' | ')}`);
      if (!s.auditOk) console.log(`  AUDIT CHECK FAILED: ${s.runs.map((r) => `${r.app} ${r.round}: ${r.readPiiRows} rows, expected ${r.expectedReadPiiRows}`).join('; ')}`);
      console.log();
    }
    printTable(
      ['SQL statements/request (alone)', 'app', 'mean', 'transactions', 'alone ms'],
      statements.map((s) => [s.query, s.app, s.perRequest.toFixed(1), s.transactionsPerRequest.toFixed(1), s.sequentialLatencyMs.toFixed(1)]),
    );
    for (const name of SELECTED) {
      const label = SCENARIOS[name].label;
      const on = statements.find((s) => s.query === label && s.app === 'on');
      const off = statements.find((s) => s.query === label && s.app === 'off');
      const added = Object.entries(on.breakdown)
        .map(([l, n]) => [l, round2(n - (off.breakdown[l] || 0))])
        .filter(([, n]) => n !== 0);
      console.log(`  ${label}: auditing adds ${added.map(([l, n]) => `${n} × ${l}`).join(', ') || 'nothing'}`);
    }
    console.log();

    fs.mkdirSync(path.dirname(RESULTS_FILE), { recursive: true });
    const report = {
      date: new Date().toISOString(),
      config: {
        seconds: SECONDS, warmupSeconds: WARMUP_SECONDS, rounds: ROUNDS, order: 'on, off per round', connections: CONNECTIONS, customers: CUSTOMERS,
        role: 'COMPLIANCE_OFFICER', targetOverhead: TARGET_OVERHEAD,
        on: 'createApp (dist/src/app.factory.js), as npm start',
        off: 'bench/lib/app-without-audit.js: the same module and setup, AUDIT_SINK overridden with a no-op (bench only)',
        statementCounting: 'pg.Client#query calls inside each HTTP request (AsyncLocalStorage), in each app process',
      },
      environment: {
        node: process.version, platform: `${os.platform()} ${os.arch()}`, cpus: os.cpus().length, cpuModel: os.cpus()[0] && os.cpus()[0].model,
        loadAverageAtEnd: os.loadavg().map(round2),
        postgres: (await db.admin.query('SHOW server_version')).rows[0].server_version,
        packages: Object.fromEntries(['@nestjs/core', '@nestjs/testing', '@apollo/server', 'typeorm', 'pg', 'graphql', 'autocannon'].map((n) => [n, pkgVersion(n)])),
      },
      checks,
      statements,
      scenarios,
    };
    fs.writeFileSync(RESULTS_FILE, JSON.stringify(report, null, 2) + '\n');
    console.log(`JSON: ${path.relative(process.cwd(), RESULTS_FILE)}`);
    for (const s of scenarios) {
      console.log(
        `Overhead ${s.label}: on ${s.averages.on.reqPerSec.toFixed(1)} req/s vs off ${s.averages.off.reqPerSec.toFixed(1)} req/s = ` +
          `${s.overheadPercent.toFixed(1)} % (target ≤ ${TARGET_OVERHEAD * 100} %): ${s.pass ? 'PASS' : 'FAIL'}`,
      );
    }
    const errorsOk = scenarios.every((s) => s.errorsOk);
    const auditOk = scenarios.every((s) => s.auditOk);
    if (!errorsOk) console.log('ERRORS: a run had non-2xx responses, socket errors or GraphQL errors');
    if (!auditOk) console.log('CHECK FAILED: "on" did not append one customer.read_pii row per customer read, or "off" appended some');
    exitCode = !errorsOk || !auditOk ? 1 : scenarios.every((s) => s.pass) ? 0 : 2;
  } finally {
    await cleanup();
  }
  process.exitCode = exitCode;
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
