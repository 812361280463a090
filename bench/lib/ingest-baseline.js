'use strict';
/*
 * The baseline of bench/ingest.js: a bare node:http server with plain `pg`, in a child process like the app,
 * receiving the very same request bodies as the app's `ingestEvents` (`{ query, variables: { events } }`).
 *
 * - POST /single: for the one event, in one transaction (BEGIN … COMMIT): the app's own `INSERT INTO event`
 *   statement, then the SQL the active rules need for the event, built by the app's own `prepareEvaluation`
 *   (dist/…/rule-engine.service.js): the aggregates of the rules the event and its customer leave open (a
 *   rule an amount below its threshold settles needs none), with the `max(occurred_at)` look-up as one more
 *   column when an open rule reads `daysSinceLastActivity`. The customers' limits are read once at start.
 *   Nothing else: no authentication, customer look-up, idempotency key, rule evaluation, decision update or
 *   audit entry.
 * - POST /batch: the events as one `INSERT INTO event … SELECT … FROM unnest($1::uuid[], …) RETURNING id`
 *   (one statement, its own transaction), no screening at all.
 *
 * Parent side: startBaseline(env, { poolSize }) forks this file and resolves to { child, port };
 * stopBaseline(child). The rules are read from the database once at start (the app re-checks a stamp
 * every second). `aggregateStatements(rules, event, customer)` is exported so the parent can compare the SQL with the
 * statements the app sent and EXPLAIN it.
 */

const http = require('node:http');
const { fork } = require('node:child_process');
const { randomUUID } = require('node:crypto');
const { requireDist } = require('./util');

/** The app's event insert (INSERT_EVENT in dist/src/modules/monitoring/events/decision-pipeline.service.js; partner events claim their idempotency key in the same statement). */
const INSERT_EVENT = `INSERT INTO event AS e (id, customer_id, type, source, occurred_at, amount, currency, channel, country, device_id, ip_address, counterparty_ref, content, flags, attributes)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) RETURNING ${requireDist('modules/monitoring/events/event-row').EVENT_COLUMNS}`;
const INSERT_BATCH = `INSERT INTO event (id, customer_id, type, source, occurred_at, amount, currency, channel, country, device_id, ip_address, counterparty_ref)
  SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::timestamptz[], $6::numeric[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[])
  RETURNING id`;
const BASELINE_SOURCE = 'bench-baseline';

/** The active rules as RuleEngine compiles them: { rules: [{ code, eventTypes, compiled }], list(code) }. */
async function loadRules(db) {
  const { compileCondition } = requireDist('modules/monitoring/rules/condition/compile-condition');
  const rows = (await db.query(`SELECT * FROM rule WHERE status = 'ACTIVE' ORDER BY code`)).rows;
  const rules = rows.map((r) => ({ code: r.code, eventTypes: new Set(r.event_types), compiled: compileCondition(r.condition) }));
  const codes = [...new Set(rules.flatMap((r) => r.compiled.lists))];
  const lists = new Map(codes.map((c) => [c, new Set()]));
  if (codes.length) {
    const { rows: entries } = await db.query(`SELECT w.code, e.value FROM watchlist w JOIN watchlist_entry e ON e.watchlist_id = w.id WHERE w.code = ANY($1)`, [codes]);
    for (const e of entries) lists.get(e.code).add(e.value);
  }
  return { rules, list: (code) => lists.get(code) || new Set() };
}

/**
 * The aggregate query ({ sql, params }) the active rules need for one event `e` (an EventInput with
 * `customerId`, `occurredAt` as a Date and `id`) of `customer` (as CustomersService.snapshots gives it), built
 * by the app's own `prepareEvaluation`: the rules the event and customer settle alone are skipped, and the
 * last activity is looked up when an open rule reads daysSinceLastActivity. Null when no rule is open.
 */
function aggregateQuery({ rules, list }, e, customer) {
  const { prepareEvaluation } = requireDist('modules/monitoring/rules/rule-engine.service');
  const event = { ...e, flags: [], attributes: e.attributes ?? {} };
  return prepareEvaluation(rules, event, customer, list).query;
}

/** The customers as the app's rules read them (CustomersService.snapshots), by id. */
async function loadCustomers(db) {
  const { rows } = await db.query(
    `SELECT id, status, risk_level, risk_score, verification_level, credit_level, transaction_limit, daily_limit, created_at FROM customer`,
  );
  const num = (v) => (v === null ? null : Number(v));
  return new Map(rows.map((r) => [r.id, {
    id: r.id, status: r.status, riskLevel: r.risk_level, riskScore: r.risk_score, verificationLevel: r.verification_level, creditLevel: r.credit_level,
    transactionLimit: num(r.transaction_limit), dailyLimit: num(r.daily_limit), createdAt: r.created_at,
  }]));
}

/** The statements the active rules need for one event (as RuleEngine.evaluateBatch): [{ sql, params, kind }]. */
function aggregateStatements(ruleSet, e, customer) {
  const query = aggregateQuery(ruleSet, e, customer);
  return query ? [{ kind: 'aggregate', sql: query.sql, params: query.params }] : [];
}

// ---------------------------------------------------------------------------
// Child
// ---------------------------------------------------------------------------

async function serve() {
  if (!process.send) throw new Error('--serve is internal (needs an IPC parent)');
  const { Pool } = require('pg');
  // BENCH_BASELINE_PREPARED=1 (a diagnostic, not the baseline): name the statements as the app does.
  const Client = process.env.BENCH_BASELINE_PREPARED === '1' ? requireDist('database/prepared-statements').PreparingClient : undefined;
  const db = new Pool({ connectionString: process.env.DATABASE_URL, max: Number(process.env.BENCH_BASELINE_POOL) || 20, ...(Client ? { Client } : {}) });
  db.on('error', () => {}); // an idle client cut off by DROP DATABASE … WITH (FORCE) at the end
  const rules = await loadRules(db);
  // Read once at start, not per request as the app does: the baseline pays for no customer look-up.
  const customers = await loadCustomers(db);

  async function single(e) {
    const event = { ...e, id: randomUUID(), occurredAt: new Date(e.occurredAt) };
    const client = await db.connect();
    try {
      await client.query('BEGIN');
      await client.query(INSERT_EVENT, [
        event.id, event.customerId, event.type, BASELINE_SOURCE, event.occurredAt.toISOString(), event.amount ?? null, event.currency ?? null,
        event.channel ?? null, event.country ?? null, event.deviceId ?? null, event.ipAddress ?? null, event.counterpartyRef ?? null, null, [],
        JSON.stringify(event.attributes ?? {}),
      ]);
      for (const s of aggregateStatements(rules, event, customers.get(event.customerId))) await client.query(s.sql, s.params);
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK').catch(() => {});
      throw error;
    } finally {
      client.release();
    }
    return [{ decision: 'ALLOW', duplicate: false, event: { id: event.id } }];
  }

  async function batch(events) {
    const cols = Array.from({ length: 12 }, () => []);
    for (const e of events) {
      const row = [randomUUID(), e.customerId, e.type, BASELINE_SOURCE, new Date(e.occurredAt).toISOString(), e.amount ?? null, e.currency ?? null,
        e.channel ?? null, e.country ?? null, e.deviceId ?? null, e.ipAddress ?? null, e.counterpartyRef ?? null];
      row.forEach((v, i) => cols[i].push(v));
    }
    const { rows } = await db.query(INSERT_BATCH, cols);
    return rows.map((r) => ({ decision: 'ALLOW', duplicate: false, event: { id: r.id } }));
  }

  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', async () => {
      try {
        const events = JSON.parse(Buffer.concat(chunks).toString('utf8')).variables.events;
        const results = req.url === '/batch' ? await batch(events) : await single(events[0]);
        const body = JSON.stringify({ data: { ingestEvents: results } });
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
        res.end(body);
      } catch (error) {
        const body = JSON.stringify({ errors: [{ message: String(error && error.message) }] });
        res.writeHead(500, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
        res.end(body);
      }
    });
  });
  server.keepAliveTimeout = 60_000;
  server.listen(0, '127.0.0.1', () => process.send({ port: server.address().port }));
  process.on('message', (msg) => {
    if (msg === 'close') server.close(() => db.end().finally(() => process.exit(0)));
    if (msg === 'cpu') {
      const cpu = process.cpuUsage();
      process.send({ cpuMicros: cpu.user + cpu.system });
    }
  });
}

// ---------------------------------------------------------------------------
// Parent
// ---------------------------------------------------------------------------

function startBaseline(env, { poolSize = 20 } = {}) {
  return new Promise((resolve, reject) => {
    const child = fork(__filename, ['--serve'], { stdio: 'inherit', env: { ...env, BENCH_BASELINE_POOL: String(poolSize) } });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error('baseline did not start within 30 s'));
    }, 30_000);
    child.once('message', (msg) => {
      clearTimeout(timer);
      resolve({ child, port: msg.port });
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`baseline exited early (code ${code})`));
    });
  });
}

function stopBaseline(child) {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      resolve();
    }, 10_000);
    child.removeAllListeners('exit');
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    // server.close waits for keep-alive connections; the parent has closed its clients by then.
    child.send('close');
  });
}

/** CPU time (user + system, µs) the baseline process has used so far. */
function baselineCpu(child) {
  return new Promise((resolve) => {
    const onMessage = (msg) => {
      if (!msg || msg.cpuMicros === undefined) return;
      child.off('message', onMessage);
      resolve(msg.cpuMicros);
    };
    child.on('message', onMessage);
    child.send('cpu');
  });
}

if (require.main === module && process.argv[2] === '--serve') {
  serve().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}

module.exports = { INSERT_EVENT, BASELINE_SOURCE, loadRules, loadCustomers, aggregateQuery, aggregateStatements, startBaseline, stopBaseline, baselineCpu };
