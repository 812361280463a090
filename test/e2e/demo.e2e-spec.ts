import { Client } from 'pg';
import { DEMO_RULES } from '../../src/demo/demo-data';
import { DemoRefusal, runDemo, type DemoRunOptions } from '../../src/demo/demo-runner';
import { formatReport, type DemoReport } from '../../src/demo/demo-report';
import { testSecrets } from '../helpers/app';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres';

/**
 * `npm run demo` end to end on a fresh database: the demo's own GraphQL load (customers, back-dated events,
 * verification results, complaints) and its report. Every injected anomaly must be caught by the rule it
 * targets, and every figure of the report must be what the database holds.
 */
describe('npm run demo', () => {
  let db: TestDatabase;
  let report: DemoReport;
  let options: DemoRunOptions;

  const sql = async <T extends Record<string, unknown>>(text: string, params: unknown[] = []): Promise<T[]> => {
    const client = new Client({ connectionString: db.url });
    await client.connect();
    try {
      return (await client.query<T>(text, params)).rows;
    } finally {
      await client.end();
    }
  };

  beforeAll(async () => {
    db = await createTestDatabase();
    const dir = `/tmp/${db.name}`;
    options = {
      customers: 20,
      days: 30,
      seed: 7,
      force: false,
      reset: false,
      batchSize: 400,
      dataDir: dir,
      env: { NODE_ENV: 'test', LOG_LEVEL: 'silent', DATABASE_URL: db.url, ...testSecrets(), AUDIT_CHECKPOINT_PATH: `${dir}/audit-checkpoints.jsonl` },
      say: () => undefined,
      progress: { write: () => true },
    };
    report = await runDemo(options);
  }, 120_000);
  afterAll(() => db.drop());

  it('loads everything through the API without a refused event', () => {
    expect(report.failures).toEqual([]);
    expect(report.loaded.customers).toBe(20);
    expect(report.loaded.events).toBeGreaterThan(500);
  });

  it('catches every injected anomaly with the rule it targets (recall 1.0 for each rule)', () => {
    for (const rule of DEMO_RULES) {
      const row = report.rules.find((r) => r.rule === rule)!;
      expect({ rule, injected: row.injected > 0, recall: row.recall, missed: row.falseNegatives }).toEqual({ rule, injected: true, recall: 1, missed: 0 });
    }
    expect(report.missed).toEqual([]);
    // Each anomaly is shaped to trip one rule only, and ordinary activity none.
    expect(report.unexpected).toEqual([]);
  });

  it('reports what the database holds', async () => {
    const [counts] = await sql<{ customers: number; events: number; partnerEvents: number }>(
      `SELECT (SELECT count(*) FROM customer)::int AS customers, (SELECT count(*) FROM event)::int AS events,
              (SELECT count(*) FROM event WHERE source <> 'SYSTEM')::int AS "partnerEvents"`,
    );
    expect(counts.customers).toBe(report.loaded.customers);
    expect(counts.partnerEvents).toBe(report.loaded.events);

    const byRule = await sql<{ code: string; alerts: number; customers: number }>(
      `SELECT r.code, count(*)::int AS alerts, count(DISTINCT a.customer_id)::int AS customers
         FROM alert a JOIN rule r ON r.id = a.rule_id WHERE a.kind = 'RULE' GROUP BY r.code`,
    );
    const fromDb = Object.fromEntries(byRule.map((r) => [r.code, r.alerts]));
    const fromReport = Object.fromEntries(report.rules.filter((r) => r.alerts > 0).map((r) => [r.rule, r.alerts]));
    expect(fromReport).toEqual(fromDb);
    for (const r of report.rules) expect(r.truePositives + r.falsePositives).toBe(byRule.find((b) => b.code === r.rule)?.customers ?? 0);

    const other = await sql<{ kind: string; n: number }>(`SELECT kind, count(*)::int AS n FROM alert WHERE kind <> 'RULE' GROUP BY kind`);
    expect(report.otherAlerts).toEqual(Object.fromEntries(other.map((o) => [o.kind, o.n])));
    expect(report.otherAlerts.SYSTEMIC).toBeGreaterThanOrEqual(1);

    const decisions = await sql<{ decision: string; n: number }>('SELECT decision, count(*)::int AS n FROM event GROUP BY decision');
    for (const d of ['ALLOW', 'REVIEW', 'HOLD', 'BLOCK']) expect(report.decisions[d]).toBe(decisions.find((x) => x.decision === d)?.n ?? 0);
    expect(Object.values(report.decisions).reduce((a, b) => a + b, 0)).toBe(counts.events);
    const partnerDecisions = await sql<{ decision: string; n: number }>(`SELECT decision, count(*)::int AS n FROM event WHERE source <> 'SYSTEM' GROUP BY decision`);
    for (const d of ['ALLOW', 'REVIEW', 'HOLD', 'BLOCK']) expect(report.ingestDecisions[d]).toBe(partnerDecisions.find((x) => x.decision === d)?.n ?? 0);

    const [holds] = await sql<{ placed: number; pending: number }>(
      `SELECT count(*) FILTER (WHERE decision = 'HOLD')::int AS placed, count(*) FILTER (WHERE hold_status = 'PENDING')::int AS pending FROM event`,
    );
    expect(report.holds).toEqual(holds);
    expect(holds.placed).toBeGreaterThanOrEqual(1);

    const complaints = await sql<{ category: string; n: number }>('SELECT category, count(*)::int AS n FROM complaint GROUP BY category');
    expect(report.complaintsByCategory).toEqual(Object.fromEntries(complaints.map((c) => [c.category, c.n])));
    expect(formatReport(report)).toContain('LARGE_TRANSACTION');
  });

  it('refuses to load into a database that already has customers unless forced', async () => {
    await expect(runDemo(options)).rejects.toThrow(DemoRefusal);
    await expect(runDemo({ ...options, reset: true })).rejects.toThrow(/--reset wipes only the embedded demo database/);
  });

  it('with --force, loads a second run next to the first and scores only its own customers', async () => {
    const second = await runDemo({ ...options, force: true, seed: 8 });
    expect(second.failures).toEqual([]);
    expect(second.runId).not.toBe(report.runId);
    for (const rule of DEMO_RULES) expect(second.rules.find((r) => r.rule === rule)).toMatchObject({ recall: 1, falsePositives: 0 });
    const [{ customers }] = await sql<{ customers: number }>('SELECT count(*)::int AS customers FROM customer');
    expect(customers).toBe(40);
    // Decisions and holds are the second run's alone: the events of its own customers, not the first run's too.
    const own = await sql<{ decision: string; n: number; pending: number }>(
      `SELECT e.decision, count(*)::int AS n, count(*) FILTER (WHERE e.hold_status = 'PENDING')::int AS pending
         FROM event e JOIN customer c ON c.id = e.customer_id WHERE c.external_ref LIKE $1 GROUP BY e.decision`,
      [`${second.runId}%`],
    );
    for (const d of ['ALLOW', 'REVIEW', 'HOLD', 'BLOCK']) expect({ d, n: second.decisions[d] }).toEqual({ d, n: own.find((x) => x.decision === d)?.n ?? 0 });
    expect(second.holds).toEqual({ placed: own.find((x) => x.decision === 'HOLD')?.n ?? 0, pending: own.reduce((a, x) => a + x.pending, 0) });
    expect(second.holds.placed).toBeGreaterThanOrEqual(1);
  }, 120_000);
});
