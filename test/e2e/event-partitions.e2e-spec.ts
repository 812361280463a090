import { Client } from 'pg';
import { EventPartitions, monthsAhead } from '../../src/modules/monitoring/events/event-partitions.service';
import { startTestApp, type TestApp } from '../helpers/app';
import { createStaff, gqlOk, signInAdmin, type SignedIn } from '../helpers/auth';
import { ingest, partnerWithToken } from '../helpers/monitoring';

const AHEAD = 4;

describe('event partitions kept ahead', () => {
  let t: TestApp;
  let sql: Client;
  let jobs: EventPartitions;
  let co: SignedIn;
  let analyst: SignedIn;
  let partner: { id: string; token: string };
  let customerId: string;

  const q = async <T = Record<string, unknown>>(text: string, params: unknown[] = []) => (await sql.query(text, params)).rows as T[];
  const partitionsOfEvent = async () =>
    (await q<{ name: string }>(`SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'event'::regclass ORDER BY 1`)).map((r) => r.name);
  /** Rows per partition holding them, for one month, read through the parent. */
  const placement = async (from: string, to: string) =>
    q<{ part: string; n: number }>(`SELECT tableoid::regclass::text AS part, count(*)::int AS n FROM event WHERE occurred_at >= $1 AND occurred_at < $2 GROUP BY 1 ORDER BY 1`, [from, to]);
  const insertRaw = (occurredAt: string) =>
    q(`INSERT INTO event (customer_id, type, source, occurred_at, amount, currency) VALUES ($1, 'TRANSACTION', 'SYSTEM', $2, 10, 'EUR')`, [customerId, occurredAt]);

  beforeAll(async () => {
    t = await startTestApp({ EVENT_PARTITIONS_AHEAD_MONTHS: String(AHEAD) });
    sql = new Client({ connectionString: t.db.url });
    await sql.connect();
    jobs = t.app.get(EventPartitions);
    const admin = await signInAdmin(t);
    [co, analyst] = [await createStaff(t, admin, 'COMPLIANCE_OFFICER'), await createStaff(t, admin, 'ANALYST')];
    partner = await partnerWithToken(t, admin, 'INTERNAL');
    customerId = (await gqlOk<{ createCustomer: { id: string } }>(t.gql, 'mutation($i: CreateCustomerInput!) { createCustomer(input: $i) { id } }', { i: { externalRef: 'partitions-1', transactionLimit: '100000.00', dailyLimit: '1000000.00' } }, co.accessToken)).createCustomer.id;
  }, 180_000);
  afterAll(async () => {
    await sql?.end();
    await t?.close();
  });

  it('names months in UTC, from the current one through N ahead', () => {
    const months = monthsAhead(new Date('2027-11-30T23:30:00-05:00'), 2); // 2027-12-01T04:30Z
    expect(months.map((m) => [m.name, m.from.toISOString(), m.to.toISOString()])).toEqual([
      ['event_2027_12', '2027-12-01T00:00:00.000Z', '2028-01-01T00:00:00.000Z'],
      ['event_2028_01', '2028-01-01T00:00:00.000Z', '2028-02-01T00:00:00.000Z'],
      ['event_2028_02', '2028-02-01T00:00:00.000Z', '2028-03-01T00:00:00.000Z'],
    ]);
  });

  it('the start-up run found the current window already partitioned by the migration', async () => {
    const names = await partitionsOfEvent();
    for (const m of monthsAhead(new Date(), 12)) expect(names).toContain(m.name);
  });

  it('creates the month of `now` through N months ahead, moves default rows into them, and a second run creates nothing', async () => {
    const now = new Date(Date.UTC(new Date().getUTCFullYear() + 2, 5, 10)); // June, two years on
    const y = now.getUTCFullYear();
    const expected = monthsAhead(now, AHEAD);
    expect(expected).toHaveLength(AHEAD + 1);
    const before = await partitionsOfEvent();
    for (const m of expected) expect(before).not.toContain(m.name);

    // No partition covers these months yet: the rows land in event_default.
    await insertRaw(`${y}-06-01T00:00:00Z`);
    await insertRaw(`${y}-06-30T23:59:59.999Z`);
    await insertRaw(`${y}-08-15T12:00:00Z`);
    await insertRaw(`${y}-12-01T00:00:00Z`); // beyond +4 months: stays in the default partition
    expect(await placement(`${y}-06-01Z`, `${y}-07-01Z`)).toEqual([{ part: 'event_default', n: 2 }]);
    // Why the job moves rows: PostgreSQL refuses a plain PARTITION OF over rows the default partition holds.
    await expect(q(`CREATE TABLE event_${y}_06 PARTITION OF event FOR VALUES FROM ('${y}-06-01Z') TO ('${y}-07-01Z')`)).rejects.toThrow(/default partition .* would be violated/);

    const run = await jobs.ensureAhead(now);
    expect(run!.skipped).toEqual([]);
    expect(run!.created.map((p) => [p.name, p.rowsMoved])).toEqual(expected.map((m) => [m.name, m.name.endsWith('_06') ? 2 : m.name.endsWith('_08') ? 1 : 0]));
    expect(run!.created[0]).toMatchObject({ from: `${y}-06-01T00:00:00.000Z`, to: `${y}-07-01T00:00:00.000Z` });

    const after = await partitionsOfEvent();
    for (const m of expected) expect(after).toContain(m.name);
    expect(after).not.toContain(`event_${y}_11`);
    // Bounds as attached: [first of month, first of next month) in UTC.
    const [bound] = await q<{ lo: Date; hi: Date }>(
      `SELECT (regexp_match(pg_get_expr(relpartbound, oid), 'FROM \\(''([^'']+)''\\)'))[1]::timestamptz AS lo,
              (regexp_match(pg_get_expr(relpartbound, oid), 'TO \\(''([^'']+)''\\)'))[1]::timestamptz AS hi
         FROM pg_class WHERE relname = $1`,
      [`event_${y}_06`],
    );
    expect([bound.lo.toISOString(), bound.hi.toISOString()]).toEqual([`${y}-06-01T00:00:00.000Z`, `${y}-07-01T00:00:00.000Z`]);

    // Nothing lost, nothing left behind in the default partition for the created months.
    expect(await placement(`${y}-06-01Z`, `${y}-07-01Z`)).toEqual([{ part: `event_${y}_06`, n: 2 }]);
    expect(await placement(`${y}-08-01Z`, `${y}-09-01Z`)).toEqual([{ part: `event_${y}_08`, n: 1 }]);
    expect(await placement(`${y}-12-01Z`, `${y + 1}-01-01Z`)).toEqual([{ part: 'event_default', n: 1 }]);
    const [{ n }] = await q<{ n: number }>(`SELECT count(*)::int AS n FROM ONLY event_default WHERE occurred_at >= $1 AND occurred_at < $2`, [expected[0].from, expected[AHEAD].to]);
    expect(n).toBe(0);

    // The new partition takes new rows and enforces the table's checks.
    await insertRaw(`${y}-07-04T10:00:00Z`);
    expect(await placement(`${y}-07-01Z`, `${y}-08-01Z`)).toEqual([{ part: `event_${y}_07`, n: 1 }]);
    await expect(q(`INSERT INTO event (customer_id, type, source, occurred_at) VALUES ($1, 'NOPE', 'SYSTEM', $2)`, [customerId, `${y}-07-05Z`])).rejects.toThrow(/check constraint/);

    expect(await jobs.ensureAhead(now)).toEqual({ created: [], skipped: [] });
    expect(await partitionsOfEvent()).toEqual(after);
  });

  it('gives a created partition every index of `event`, attached to the partitioned ones', async () => {
    const y = new Date().getUTCFullYear() + 2;
    const part = `event_${y}_06`;
    const parentIndexes = await q<{ indexname: string }>(`SELECT indexname FROM pg_indexes WHERE tablename = 'event'`);
    expect(parentIndexes.length).toBeGreaterThanOrEqual(5);
    const attached = await q<{ parent: string; def: string }>(
      `SELECT pc.relname AS parent, pg_get_indexdef(x.indexrelid) AS def
         FROM pg_index x JOIN pg_inherits i ON i.inhrelid = x.indexrelid JOIN pg_class pc ON pc.oid = i.inhparent
        WHERE x.indrelid = $1::regclass ORDER BY 1`,
      [part],
    );
    expect(attached.map((a) => a.parent).sort()).toEqual(parentIndexes.map((p) => p.indexname).sort());
    const defs = (await q<{ indexdef: string }>(`SELECT indexdef FROM pg_indexes WHERE tablename = $1`, [part])).map((r) => r.indexdef);
    expect(defs).toHaveLength(parentIndexes.length);
    expect(defs.some((d) => /\(customer_id, type, occurred_at\) INCLUDE \(amount, device_id\)/.test(d))).toBe(true);
    expect(defs.some((d) => /UNIQUE .*\(id, occurred_at\)/.test(d))).toBe(true);
    expect(defs.some((d) => /WHERE \(hold_status = 'PENDING'::text\)/.test(d))).toBe(true);
  });

  it('moves back-filled events of an old month out of event_default; they stay readable through GraphQL', async () => {
    const res = await ingest(t, partner.token, [
      { customerId, type: 'TRANSACTION', amount: '12.00', currency: 'EUR', occurredAt: '2024-03-02T08:00:00Z' },
      { customerId, type: 'LOGIN', attributes: { outcome: 'SUCCESS' }, occurredAt: '2024-03-20T09:30:00Z' },
      { customerId, type: 'TRANSACTION', amount: '7.50', currency: 'EUR', occurredAt: '2024-03-31T23:59:00Z' },
      { customerId, type: 'TRANSACTION', amount: '1.00', currency: 'EUR', occurredAt: '2024-04-01T00:00:00Z' },
    ]);
    expect(res.errors).toBeUndefined();
    const ids = res.data!.ingestEvents.map((r) => r!.event!.id);
    expect(await placement('2024-03-01Z', '2024-04-01Z')).toEqual([{ part: 'event_default', n: 3 }]);

    const run = await jobs.ensureAhead(new Date('2024-03-15T12:00:00Z'));
    expect(run!.created.map((p) => [p.name, p.rowsMoved])).toEqual([['event_2024_03', 3], ['event_2024_04', 1], ['event_2024_05', 0], ['event_2024_06', 0], ['event_2024_07', 0]]);
    expect(await placement('2024-03-01Z', '2024-05-01Z')).toEqual([{ part: 'event_2024_03', n: 3 }, { part: 'event_2024_04', n: 1 }]);

    const listed = await gqlOk<{ events: { totalCount: number; nodes: Array<{ id: string; occurredAt: string }> } }>(
      t.gql,
      'query($f: EventsFilter) { events(filter: $f, first: 50) { totalCount nodes { id occurredAt } } }',
      { f: { customerId, from: '2024-01-01T00:00:00Z', to: '2024-12-31T00:00:00Z' } },
      analyst.accessToken,
    );
    expect(listed.events.nodes.map((e) => e.id).sort()).toEqual([...ids].sort());
  });

  it('lets one of two concurrent runs do the work; the other returns null or finds nothing to do', async () => {
    const now = new Date(Date.UTC(new Date().getUTCFullYear() + 5, 1, 1));
    await insertRaw(now.toISOString());
    const runs = await Promise.all([jobs.ensureAhead(now), jobs.ensureAhead(now)]);
    const worked = runs.filter((r) => r && r.created.length > 0);
    expect(worked).toHaveLength(1);
    expect(worked[0]!.created).toHaveLength(AHEAD + 1);
    expect(worked[0]!.created[0].rowsMoved).toBe(1);
    const other = runs.find((r) => r !== worked[0]);
    expect(other === null || (other!.created.length === 0 && other!.skipped.length === 0)).toBe(true);
  });
});
