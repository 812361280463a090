import { Client } from 'pg';
import { buildAggregateQuery, compileCondition, DEFAULT_RULE_CONDITIONS, type EventType } from '../../src/modules/monitoring/rules/condition';
import { startTestApp, type TestApp } from '../helpers/app';
import { createStaff, gqlOk, signInAdmin, type SignedIn } from '../helpers/auth';
import { ingest, partnerWithToken } from '../helpers/monitoring';

const HOT = 100_000;

interface PlanNode {
  'Node Type': string;
  'Actual Rows'?: number;
  'Subplan Name'?: string;
  'Index Name'?: string;
  Plans?: PlanNode[];
}
const nodes = (p: PlanNode): PlanNode[] => [p, ...(p.Plans ?? []).flatMap(nodes)];

/**
 * Counts that rules compare with a constant stop at the cap (docs/MONITORING.md "Aggregates"): on real
 * PostgreSQL, a customer with 100 000 events in the window gets the same verdicts as an exact count would
 * give, and the capped subquery is a Limit over an index scan that reads a handful of index entries.
 */
describe('capped counts on a hot customer', () => {
  let t: TestApp;
  let sql: Client;
  let co: SignedIn;
  let core: { id: string; token: string };
  let hot: string;
  const now = new Date(Date.now() - 1000); // the ingested events are a second old: inside every window
  const q = async <T = Record<string, unknown>>(text: string, params: unknown[] = []) => (await sql.query(text, params)).rows as T[];
  const alerts = async (customerId: string): Promise<string[]> =>
    (await gqlOk<{ alerts: { nodes: Array<{ rule: { code: string } }> } }>(t.gql, 'query($c: ID!) { alerts(filter: {customerId: $c}, first: 100) { nodes { rule { code } } } }', { c: customerId }, co.accessToken)).alerts.nodes.map((a) => a.rule.code).sort();

  /** The statement the rule engine builds for an event of this type (the default pack). */
  const statementFor = (type: EventType, event: Record<string, unknown>) =>
    buildAggregateQuery(
      DEFAULT_RULE_CONDITIONS.filter((r) => r.eventTypes.includes(type)).flatMap((r) => compileCondition(r.condition).aggregates),
      { customerId: hot, occurredAt: now.toISOString(), event, list: () => new Set() },
    )!;

  beforeAll(async () => {
    t = await startTestApp();
    sql = new Client({ connectionString: t.db.url });
    await sql.connect();
    const admin = await signInAdmin(t);
    co = await createStaff(t, admin, 'COMPLIANCE_OFFICER');
    core = await partnerWithToken(t, admin, 'INTERNAL');
    hot = (await gqlOk<{ createCustomer: { id: string } }>(t.gql, 'mutation($i: CreateCustomerInput!) { createCustomer(input: $i) { id } }', { i: { externalRef: 'hot-1', transactionLimit: '2000.00', dailyLimit: '100000000.00' } }, co.accessToken)).createCustomer.id;
    // The population the statistics describe: 2 000 customers with 50 events each over 90 days. Autovacuum
    // is off so that they stay as they are for the test (the database is dropped afterwards).
    await q(`DO $$ DECLARE p regclass; BEGIN
               FOR p IN SELECT inhrelid::regclass FROM pg_inherits WHERE inhparent = 'event'::regclass LOOP
                 EXECUTE format('ALTER TABLE %s SET (autovacuum_enabled = false)', p);
               END LOOP; END $$`);
    await q(
      `INSERT INTO event (customer_id, type, source, occurred_at, amount, device_id, attributes)
       SELECT md5('bg' || (i % 2000))::uuid, (ARRAY['TRANSACTION', 'LOGIN', 'PAYMENT', 'TRANSACTION'])[1 + i % 4], 'SYSTEM',
              $1::timestamptz - (((i * 7919) % 7776000) * interval '1 second'), 100, 'd' || (i % 7), '{"outcome": "SUCCESS"}'
       FROM generate_series(1, 100000) i`,
      [now.toISOString()],
    );
    await q('ANALYZE event');
    // Then a burst the statistics have not seen yet, as between two autoanalyze runs: 100 000 failed logins in
    // the last 15 minutes, and 100 000 transactions of 1000 from one device over 90 days.
    await q(
      `INSERT INTO event (customer_id, type, source, occurred_at, attributes)
       SELECT $1, 'LOGIN', 'SYSTEM', $2::timestamptz - (i * interval '8 milliseconds'), '{"outcome": "FAILURE"}'
       FROM generate_series(1, $3::int) i`,
      [hot, now.toISOString(), HOT],
    );
    await q(
      `INSERT INTO event (customer_id, type, source, occurred_at, amount, currency, device_id)
       SELECT $1, 'TRANSACTION', 'SYSTEM', $2::timestamptz - interval '1 hour' - (i * interval '77 seconds'), 1000, 'EUR', 'dev-hot'
       FROM generate_series(1, $3::int) i`,
      [hot, now.toISOString(), HOT],
    );
    await q('VACUUM event'); // the visibility map that index-only scans rely on
  }, 180_000);
  afterAll(async () => {
    await sql?.end();
    await t?.close();
  });

  it('decides like the exact count: a login failure burst fires, a known device is not new, a new one is', async () => {
    const send = async (e: Record<string, unknown>) => {
      const res = await ingest(t, core.token, [{ customerId: hot, occurredAt: now.toISOString(), ...e }]);
      expect(res.errors).toBeUndefined();
      return res.data!.ingestEvents[0]!.decision;
    };
    expect(await send({ type: 'TRANSACTION', amount: '1500.00', currency: 'EUR', deviceId: 'dev-hot' })).toBe('ALLOW');
    expect(await alerts(hot)).toEqual([]);
    expect(await send({ type: 'TRANSACTION', amount: '1500.00', currency: 'EUR', deviceId: 'dev-new' })).toBe('REVIEW');
    expect(await alerts(hot)).toEqual(['NEW_DEVICE_LARGE_AMOUNT']);
    await send({ type: 'LOGIN', attributes: { outcome: 'FAILURE' } });
    expect(await alerts(hot)).toEqual(['LOGIN_FAILURE_BURST', 'NEW_DEVICE_LARGE_AMOUNT']);
  });

  it('returns min(count, cap) where the exact count is past 100 000', async () => {
    const login = statementFor('LOGIN', { attributes: { outcome: 'FAILURE' } });
    expect(await q(login.sql, login.params)).toEqual([{ a0: '6' }]);
    const tx = statementFor('TRANSACTION', { deviceId: 'dev-hot', amount: '1500.00' });
    const [row] = await q<Record<string, string>>(tx.sql, tx.params);
    expect(Object.values(row)).toContain('2'); // the new-device count, "seen before"
    const [{ n }] = await q<{ n: string }>(`SELECT count(*) AS n FROM event WHERE customer_id = $1 AND type = 'LOGIN' AND occurred_at > $2::timestamptz - interval '15 minutes'`, [hot, now.toISOString()]);
    expect(Number(n)).toBeGreaterThan(HOT);
  });

  it.each([
    ['LOGIN', { attributes: { outcome: 'FAILURE' } }, 6, /^Index (Only )?Scan$/],
    ['TRANSACTION', { deviceId: 'dev-hot', amount: '1500.00' }, 2, /^Index Only Scan$/],
  ] as const)('EXPLAIN ANALYZE of a %s: the capped count is a Limit over an index scan that stops at the cap', async (type, event, cap, scan) => {
    const s = statementFor(type, event);
    const [{ 'QUERY PLAN': [plan] }] = await q<{ 'QUERY PLAN': Array<{ Plan: PlanNode }> }>(`EXPLAIN (ANALYZE, FORMAT JSON) ${s.sql}`, s.params);
    const limits = nodes(plan.Plan).filter((n) => n['Node Type'] === 'Limit');
    expect(limits.length).toBeGreaterThan(0);
    const limit = limits.find((l) => l['Actual Rows'] === cap)!;
    expect(limit).toBeDefined();
    const scans = nodes(limit).filter((n) => /Scan/.test(n['Node Type']));
    expect(scans.length).toBeGreaterThan(0);
    for (const n of scans) {
      expect(n['Node Type']).toMatch(scan);
      // One of the customer's indexes, (customer_id, type, occurred_at) or (customer_id, occurred_at), per partition.
      expect(n['Index Name']).toMatch(/_customer_id_(type_)?occurred_at_/);
    }
    // The scans under the Limit returned only what the cap needed, not 100 000 rows.
    expect(scans.reduce((sum, n) => sum + (n['Actual Rows'] ?? 0), 0)).toBeLessThanOrEqual(cap);
  });
});
