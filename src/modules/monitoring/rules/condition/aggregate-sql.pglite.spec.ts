import Big from 'big.js';
import { computeAggregateInMemory } from './aggregate-memory';
import { combineAggregateQueries } from './aggregate-batch-sql';
import { buildAggregateQuery, readAggregateRow } from './aggregate-sql';
import { compileCondition } from './compile-condition';
import type { AggregateSpec } from './condition.types';
import { DEFAULT_RULE_CONDITIONS } from './default-rules';

/**
 * Differential test: the generated SQL, run by a real PostgreSQL (embedded PGlite), must give exactly what
 * the in-memory reference (the evaluator's own semantics) gives, over varied, messy events.
 */
const cmp = (left: unknown, op: string, right: unknown) => ({ compare: { left, op, right } });
const f = (field: string) => ({ field });
const v = (value: unknown) => ({ value });
const cur = (current: string) => ({ current });
const ALL = ['TRANSACTION', 'LOGIN', 'PROFILE_CHANGE', 'COMMUNICATION', 'VERIFICATION', 'PAYMENT', 'COMPLAINT'];

function prng(seed: number) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const NOW = Date.parse('2025-03-01T12:00:00.000Z');
const rnd = prng(42);
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)];
const maybe = <T>(x: T): T | null => (rnd() < 0.15 ? null : x);
const attrValues = ['FAILURE', 'SUCCESS', 'failure', 7, 30, '31', '12.5', 'abc', true, false, null, ['email', 'phone'], ['phone'], [7], 'Email changed'];

function randomEvent(customerId: string): Record<string, unknown> {
  const attributes: Record<string, unknown> = {};
  for (const k of ['outcome', 'daysLate', 'fields', 'vip']) if (rnd() < 0.7) attributes[k] = pick(attrValues);
  if (rnd() < 0.8) attributes.tier = pick(['LOW', 'MEDIUM', 'HIGH', 'CRITICAL', 'high', 3, null, 'BASIC', 'VERIFIED']);
  return {
    customerId,
    type: pick(ALL),
    // Quarter-hour steps so that window edges are hit exactly; a few events lie in the future.
    occurredAt: new Date(NOW - Math.floor(rnd() * 900 - 4) * 900_000).toISOString(),
    amount: maybe(pick(['10.00', '250.5', '999.99', '5000', '12000.01', '0'])),
    currency: maybe(pick(['EUR', 'USD'])),
    channel: maybe(pick(['WEB', 'APP', 'web-mobile'])),
    country: maybe(pick(['NL', 'BE', 'DE'])),
    deviceId: maybe(pick(['d1', 'd2', 'd3'])),
    ipAddress: maybe(pick(['10.0.0.1', '10.0.0.2'])),
    counterpartyRef: maybe(pick(['ACME', 'EVIL', 'NL-ACME-01'])),
    flags: pick([[], ['THREAT'], ['FRAUD', 'SPAM'], ['SPAM']]),
    attributes,
  };
}

const wheres: unknown[] = [
  cmp(f('attributes.outcome'), 'eq', v('FAILURE')),
  cmp(f('attributes.outcome'), 'ne', v('FAILURE')),
  { not: cmp(f('attributes.outcome'), 'eq', v('FAILURE')) },
  cmp(f('deviceId'), 'eq', cur('deviceId')),
  cmp(f('deviceId'), 'ne', cur('deviceId')),
  cmp(f('amount'), 'gt', v(500)),
  cmp(f('amount'), 'lte', { mul: [cur('amount'), v(0.5)] }),
  cmp(f('attributes.daysLate'), 'gte', v(30)),
  cmp(f('attributes.daysLate'), 'lt', f('amount')),
  cmp(f('attributes.daysLate'), 'eq', v('7')),
  cmp(f('attributes.vip'), 'eq', v(true)),
  cmp(f('attributes.vip'), 'ne', v(false)),
  cmp(f('attributes.outcome'), 'eq', v(null)),
  cmp(f('deviceId'), 'ne', v(null)),
  cmp({ mul: [f('amount'), f('attributes.daysLate')] }, 'eq', v(null)),
  cmp(f('country'), 'in', v(['NL', 'BE'])),
  cmp(f('country'), 'notIn', v(['NL'])),
  cmp(f('amount'), 'in', v([10, 5000])),
  cmp(f('attributes.daysLate'), 'in', v([7, 31])),
  cmp(f('attributes.outcome'), 'in', v(['FAILURE', 'abc'])),
  cmp(f('counterpartyRef'), 'in', { list: 'SANCTIONED' }),
  cmp(f('counterpartyRef'), 'notIn', { list: 'SANCTIONED' }),
  cmp(f('flags'), 'in', v(['THREAT', 'FRAUD'])),
  cmp(f('flags'), 'notIn', v(['THREAT'])),
  cmp(f('flags'), 'contains', v('SPAM')),
  cmp(f('flags'), 'contains', cur('channel')),
  cmp(cur('flags'), 'contains', f('channel')),
  cmp(f('channel'), 'contains', v('WEB')),
  cmp(f('counterpartyRef'), 'contains', cur('counterpartyRef')),
  cmp(cur('counterpartyRef'), 'contains', f('counterpartyRef')),
  cmp(f('attributes.fields'), 'contains', v('email')),
  cmp(f('attributes.outcome'), 'contains', v('fail')),
  cmp(cur('attributes.fields'), 'contains', f('attributes.outcome')),
  cmp(f('attributes.outcome'), 'eq', f('attributes.fields')),
  cmp(f('currency'), 'eq', f('country')),
  cmp(cur('country'), 'eq', v('NL')),
  { any: [cmp(f('channel'), 'eq', v('APP')), { all: [cmp(f('country'), 'eq', cur('country')), { not: cmp(f('amount'), 'gt', v(100)) }] }] },
];

/** Wheres reading the evaluated customer's attributes, bound per event like `current`. */
const customerWheres: unknown[] = [
  cmp(f('amount'), 'gt', { customer: 'transactionLimit' }),
  cmp(f('amount'), 'lte', { mul: [{ customer: 'dailyLimit' }, v(0.1)] }),
  cmp({ customer: 'riskScore' }, 'lt', f('amount')),
  cmp(f('attributes.daysLate'), 'lt', { customer: 'accountAgeDays' }),
  cmp(f('attributes.tier'), 'gte', { customer: 'riskLevel' }),
  cmp(f('attributes.tier'), 'eq', { customer: 'creditLevel' }),
  cmp({ customer: 'verificationLevel' }, 'lt', f('attributes.tier')),
  cmp(f('attributes.outcome'), 'ne', { customer: 'status' }),
  { all: [cmp({ customer: 'status' }, 'eq', v('RESTRICTED')), cmp(f('amount'), 'gt', v(100))] },
  cmp({ customer: 'transactionLimit' }, 'eq', v(null)),
];

function specs(): AggregateSpec[] {
  const out: AggregateSpec[] = [];
  // Compared with a customer attribute: exact values.
  const add = (aggregate: Record<string, unknown>) =>
    out.push(...compileCondition(cmp({ aggregate }, 'gt', { customer: 'riskScore' })).aggregates);
  // Compared with a literal: a count stops at its cap.
  const capped = (aggregate: Record<string, unknown>, k: number) =>
    out.push(...compileCondition(cmp({ aggregate }, 'gte', v(k))).aggregates);
  const windows = [{ window: 'PT1H' }, { window: 'P1D' }, { window: 'P7D', offset: 'P1D' }, { window: 'P90D' }];
  for (const w of windows) {
    add({ fn: 'count', eventTypes: ALL, ...w });
    add({ fn: 'sum', field: 'amount', eventTypes: ['TRANSACTION', 'PAYMENT'], ...w });
    add({ fn: 'avg', field: 'amount', eventTypes: ['TRANSACTION'], ...w });
    add({ fn: 'max', field: 'attributes.daysLate', eventTypes: ALL, ...w });
    add({ fn: 'distinctCount', field: 'deviceId', eventTypes: ALL, ...w });
    add({ fn: 'count', field: 'deviceId', eventTypes: ALL, ...w });
  }
  // count of a field: the events where it holds a value (a column, an amount, an attribute that is sometimes
  // JSON null), alone, with a where, and capped.
  add({ fn: 'count', field: 'amount', eventTypes: ALL, window: 'P90D' });
  add({ fn: 'count', field: 'attributes.outcome', eventTypes: ALL, window: 'P90D' });
  add({ fn: 'count', field: 'counterpartyRef', eventTypes: ['TRANSACTION', 'PAYMENT'], window: 'P30D', where: wheres[0] });
  add({ fn: 'sum', field: 'attributes.daysLate', eventTypes: ALL, window: 'P90D' });
  add({ fn: 'avg', field: 'attributes.daysLate', eventTypes: ALL, window: 'P90D' });
  add({ fn: 'distinctCount', field: 'amount', eventTypes: ALL, window: 'P90D' });
  add({ fn: 'distinctCount', field: 'attributes.outcome', eventTypes: ALL, window: 'P90D' });
  for (const where of [...wheres, ...customerWheres]) add({ fn: 'count', eventTypes: ALL, window: 'P90D', where });
  for (const where of customerWheres.slice(0, 3)) add({ fn: 'sum', field: 'amount', eventTypes: ALL, window: 'P30D', where });
  capped({ fn: 'count', eventTypes: ALL, window: 'P60D', where: customerWheres[0] }, 2);
  for (const k of [0, 1, 3, 10, 1000]) {
    capped({ fn: 'count', eventTypes: ['LOGIN', 'PAYMENT'], window: 'P30D' }, k);
    capped({ fn: 'count', eventTypes: ALL, window: 'P2D', offset: 'PT12H' }, k);
  }
  for (const where of wheres.slice(0, 12)) capped({ fn: 'count', eventTypes: ALL, window: 'P60D', where }, 2);
  for (const k of [0, 2, 40]) capped({ fn: 'count', field: 'attributes.daysLate', eventTypes: ALL, window: 'P60D' }, k);
  for (const r of DEFAULT_RULE_CONDITIONS) out.push(...compileCondition(r.condition).aggregates);
  return out;
}

/**
 * PGlite loads its WASM through a dynamic import, which Jest's VM cannot run: statements go to a child
 * Node process in one batch, and their result rows come back as JSON.
 */
function runInPglite(statements: { sql: string; params: unknown[] }[]): Record<string, unknown>[][] {
  const script = `
    const { PGlite } = require('@electric-sql/pglite');
    let input = '';
    process.stdin.on('data', (d) => (input += d));
    process.stdin.on('end', async () => {
      const db = await PGlite.create();
      const out = [];
      for (const s of JSON.parse(input)) out.push((await db.query(s.sql, s.params)).rows);
      await db.close();
      process.stdout.write(JSON.stringify(out, (k, v) => (typeof v === 'bigint' ? v.toString() : v)));
    });`;
  const { execFileSync } = require('node:child_process') as typeof import('node:child_process');
  const stdout = execFileSync(process.execPath, ['-e', script], {
    input: JSON.stringify(statements),
    cwd: process.cwd(),
    maxBuffer: 64 * 1024 * 1024,
    timeout: 170_000,
  });
  return JSON.parse(stdout.toString()) as Record<string, unknown>[][];
}

describe('aggregate SQL on PostgreSQL (PGlite) agrees with the in-memory reference', () => {
  const rows = Array.from({ length: 400 }, (_, i) => randomEvent(i % 5 === 0 ? 'b0000000-0000-4000-8000-000000000000' : 'a0000000-0000-4000-8000-000000000000'));
  const mine = rows.filter((r) => r.customerId === 'a0000000-0000-4000-8000-000000000000');
  const list = (code: string) => new Set(code === 'SANCTIONED' ? ['EVIL', 'NL-ACME-01'] : []);
  const all = specs();
  const currents: Record<string, unknown>[] = [0, 1, 2, 3, 4, 5].map((i) => ({ ...mine[i], occurredAt: new Date(NOW - i * 3_600_000).toISOString() }));
  currents.push({ ...mine[6], deviceId: null, amount: null, flags: [], attributes: {}, occurredAt: new Date(NOW).toISOString() });
  // The customer as each event saw it (its snapshot may change between events): some values missing.
  const customers: Record<string, unknown>[] = currents.map((_, i) => ({
    riskLevel: ['LOW', 'MEDIUM', 'HIGH', 'CRITICAL', null][i % 5],
    riskScore: [0, 35, 72.5, 100][i % 4],
    status: ['ACTIVE', 'RESTRICTED', 'SUSPENDED'][i % 3],
    transactionLimit: ['250.50', '1000', null, '0.01'][i % 4],
    dailyLimit: ['5000', null, '100000.00'][i % 3],
    verificationLevel: ['NONE', 'BASIC', 'VERIFIED', 'ENHANCED'][i % 4],
    creditLevel: ['HIGH', 'LOW', 'MEDIUM'][i % 3],
    accountAgeDays: [12.75, 400, 0.5][i % 3],
  }));
  const queries = currents.map((current, i) =>
    buildAggregateQuery(all, {
      customerId: current.customerId as string, occurredAt: current.occurredAt as string, event: current, customer: customers[i], list,
    })!,
  );
  // The same queries as one statement, as a batch of events runs them (the last current twice: two ordinals).
  const batch = combineAggregateQueries([...queries, queries[queries.length - 1]].map((query, ord) => ({ ord, query })))!;
  // A customer of exact decimals: 18 integer digits, and an average that doubles cannot multiply exactly.
  const EXACT = 'c0000000-0000-4000-8000-000000000000';
  const exactRows = [
    { type: 'TRANSACTION', occurredAt: new Date(NOW - 3_600_000).toISOString(), amount: '999999999999999999.98' },
    { type: 'TRANSACTION', occurredAt: new Date(NOW - 7_200_000).toISOString(), amount: '0.01' },
    { type: 'TRANSACTION', occurredAt: new Date(NOW - 2 * 86_400_000).toISOString(), amount: '1000.05' },
    { type: 'TRANSACTION', occurredAt: new Date(NOW - 3 * 86_400_000).toISOString(), amount: '1000.07' },
  ];
  const spike = compileCondition(DEFAULT_RULE_CONDITIONS.find((r) => r.code === 'SPENDING_SPIKE')!.condition);
  const exactSpecs = [
    ...spike.aggregates,
    ...compileCondition(cmp({ aggregate: { fn: 'sum', field: 'amount', eventTypes: ['TRANSACTION'], window: 'PT3H' } }, 'gt', { customer: 'riskScore' })).aggregates,
    ...compileCondition(cmp({ aggregate: { fn: 'max', field: 'amount', eventTypes: ['TRANSACTION'], window: 'PT3H' } }, 'gt', { customer: 'riskScore' })).aggregates,
  ];
  const exactCurrent = { type: 'TRANSACTION', occurredAt: new Date(NOW).toISOString(), amount: '5000.30' };
  const exactQuery = buildAggregateQuery(exactSpecs, { customerId: EXACT, occurredAt: exactCurrent.occurredAt, event: exactCurrent, list })!;
  const exactBatch = combineAggregateQueries([{ ord: 0, query: exactQuery }])!;
  let results: Record<string, unknown>[][] = [];
  let combined: Array<{ ord: number; r: Record<string, unknown> }> = [];
  let exactSingle: Record<string, unknown>[] = [];
  let exactCombined: Array<{ ord: number; r: Record<string, unknown> }> = [];

  beforeAll(() => {
    const setup = [
      {
        sql: `CREATE TABLE event (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), customer_id uuid NOT NULL, type text NOT NULL,
          occurred_at timestamptz NOT NULL, amount numeric, currency text, channel text, country text, device_id text,
          ip_address text, counterparty_ref text, flags text[] NOT NULL DEFAULT '{}', attributes jsonb NOT NULL DEFAULT '{}')`,
        params: [],
      },
      ...rows.map((r) => ({
        sql: `INSERT INTO event (customer_id, type, occurred_at, amount, currency, channel, country, device_id, ip_address,
          counterparty_ref, flags, attributes) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
        params: [r.customerId, r.type, r.occurredAt, r.amount, r.currency, r.channel, r.country, r.deviceId, r.ipAddress, r.counterpartyRef, r.flags, JSON.stringify(r.attributes)],
      })),
      ...exactRows.map((r) => ({
        sql: `INSERT INTO event (customer_id, type, occurred_at, amount) VALUES ($1, $2, $3, $4)`,
        params: [EXACT, r.type, r.occurredAt, r.amount],
      })),
    ];
    results = runInPglite([...setup, ...queries, batch, exactQuery, exactBatch]).slice(setup.length);
    exactCombined = results.pop() as typeof exactCombined;
    exactSingle = results.pop()!;
    combined = results.pop() as typeof combined;
  }, 180_000);

  it('for every aggregate function, window, offset and where, around several current events', () => {
    let compared = 0;
    currents.forEach((current, i) => {
      const got = readAggregateRow(queries[i], results[i][0]);
      for (const spec of new Map(all.map((s) => [s.key, s])).values()) {
        const exact = computeAggregateInMemory(spec, mine, current, list, customers[i]);
        // Uses of one key merge to the largest cap, or to an exact count when one use has none.
        const caps = all.filter((s) => s.key === spec.key).map((s) => s.countCap);
        const cap = caps.includes(undefined) ? undefined : Math.max(...(caps as number[]));
        const expected = cap === undefined || exact === null ? exact : Math.min(Number(exact), cap);
        const actual = got.get(spec.key) ?? null;
        // Exact decimals; an average to 10 places (PostgreSQL and the reference round it at different scales).
        const round = (n: number | string | null) => (n === null ? null : new Big(n).round(10).toFixed());
        expect({ current: i, key: spec.key, value: round(actual) }).toEqual({ current: i, key: spec.key, value: round(expected) });
        compared++;
      }
    });
    expect(compared).toBeGreaterThan(300);
  });

  it('gives every event the same values when all the queries run as one combined statement', () => {
    expect(combined).toHaveLength(queries.length + 1);
    for (const { ord, r } of combined) {
      const i = Math.min(ord, queries.length - 1);
      // Identical, digit for digit: jsonb carries sums and averages as text.
      expect({ ord, values: [...readAggregateRow(queries[i], r)] }).toEqual({ ord, values: [...readAggregateRow(queries[i], results[i][0])] });
    }
    // Queries that differ only in the current event's values share one branch.
    expect(batch.sql.split(' UNION ALL ').length).toBeLessThan(queries.length);
  });

  it('caps counts compared with a constant, some of them below and some above the cap', () => {
    const cappedKeys = new Set(all.filter((s) => s.countCap !== undefined).map((s) => s.key));
    expect(cappedKeys.size).toBeGreaterThan(10);
    const sqlCapped = queries[0].sql.match(/ LIMIT \$\d+::bigint\) AS capped\)/g) ?? [];
    expect(sqlCapped.length).toBe([...cappedKeys].filter((k) => !all.some((s) => s.key === k && s.countCap === undefined)).length);
    let below = 0;
    let stopped = 0;
    currents.forEach((current, i) => {
      for (const spec of all.filter((s) => s.countCap !== undefined)) {
        const exact = computeAggregateInMemory(spec, mine, current, list, customers[i]) as number;
        if (exact < spec.countCap!) below++;
        else stopped++;
      }
    });
    expect(below).toBeGreaterThan(0);
    expect(stopped).toBeGreaterThan(0);
  });

  it('sees non-trivial data: most where clauses match some but not all events', () => {
    const at = { ...mine[0], occurredAt: new Date(NOW).toISOString() };
    const count = (where?: unknown) =>
      computeAggregateInMemory(compileCondition(cmp({ aggregate: { fn: 'count', eventTypes: ALL, window: 'P90D', ...(where ? { where } : {}) } }, 'gt', v(0))).aggregates[0], mine, at, list) as number;
    const total = count();
    expect(wheres.filter((w) => count(w) > 0 && count(w) < total).length).toBeGreaterThan(wheres.length * 0.7);
  });

  it("sees non-trivial data in the wheres that read the customer: each matches some events for some customers' values", () => {
    for (const where of customerWheres) {
      const [spec] = compileCondition(cmp({ aggregate: { fn: 'count', eventTypes: ALL, window: 'P90D', where } }, 'gt', v(0))).aggregates;
      const counts = currents.map((current, i) => computeAggregateInMemory(spec, mine, current, list, customers[i]) as number);
      expect({ where, matched: counts.some((n) => n > 0) }).toEqual({ where, matched: true });
      expect({ where, unmatched: counts.some((n) => n < mine.length) }).toEqual({ where, unmatched: true });
    }
  });

  it('returns sums, averages and maxima with every digit, alone and in a combined statement', () => {
    const [avgKey, sumKey, maxKey] = exactQuery.keys;
    for (const values of [readAggregateRow(exactQuery, exactSingle[0]), readAggregateRow(exactQuery, exactCombined[0].r)]) {
      expect(values.get(sumKey)).toBe('999999999999999999.99');
      expect(values.get(maxKey)).toBe('999999999999999999.98');
      expect(new Big(values.get(avgKey)!).eq('1000.06')).toBe(true);
      // SPENDING_SPIKE on PostgreSQL's own average: 5000.30 is not above 5 × 1000.06, 5000.31 is.
      const fires = (amount: string) =>
        spike.evaluate({ event: { ...exactCurrent, amount }, customer: {}, aggregate: (k) => values.get(k) ?? null, list });
      expect(fires('5000.30')).toBe(false);
      expect(fires('5000.31')).toBe(true);
    }
  });
});
