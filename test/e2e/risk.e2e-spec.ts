import { Client } from 'pg';
import { EarlyWarningsService } from '../../src/modules/monitoring/risk/early-warnings.service';
import { REFRESH_BATCH, RiskJobs } from '../../src/modules/monitoring/risk/risk-jobs.service';
import { startTestApp, type TestApp } from '../helpers/app';
import { createStaff, gqlOk, signInAdmin, type SignedIn } from '../helpers/auth';
import { ingest, partnerWithToken } from '../helpers/monitoring';

type Factor = { factor: string; points: number; detail: string | null };
type Warning = { id: string; type: string; customerId: string; status: string; occurrences: number; updatedAt: string; detail: Record<string, unknown>; customer: { id: string } | null };

const codeOf = (res: { errors?: Array<{ extensions?: Record<string, unknown> }> }) => res.errors?.[0]?.extensions?.code;
const sum = (factors: Factor[]) => factors.reduce((n, f) => n + f.points, 0);
const daysAgo = (days: number) => new Date(Date.now() - days * 86_400_000).toISOString();

const RISK = `query($id: ID!) { customer(id: $id) { id riskScore riskLevel riskFactors { factor points detail }
  riskHistory(first: 10) { totalCount nodes { score level previousScore previousLevel reason factors { factor points } computedAt } } } }`;
const CREDIT = `mutation($i: RecordCreditAssessmentInput!) { recordCreditAssessment(input: $i) { id creditScore creditLevel creditLimit riskScore riskLevel
  creditHistory { totalCount nodes { score level limit previousScore previousLevel source } } } }`;
const WARNINGS = `query($f: EarlyWarningsFilter, $first: Int, $after: String) { earlyWarnings(filter: $f, first: $first, after: $after) {
  totalCount pageInfo { hasNextPage endCursor } nodes { id type customerId status occurrences updatedAt detail customer { id } } } }`;

describe('risk score, credit assessments and early warnings', () => {
  let t: TestApp;
  let sql: Client;
  let admin: SignedIn, co: SignedIn, analyst: SignedIn, agent: SignedIn, am: SignedIn, otherAm: SignedIn;
  let core: { id: string; token: string };
  let n = 0;

  const customer = async (extra: Record<string, unknown> = {}) =>
    (await gqlOk<{ createCustomer: { id: string } }>(t.gql, 'mutation($i: CreateCustomerInput!) { createCustomer(input: $i) { id } }', { i: { externalRef: `risk-${++n}`, accountManagerId: am.userId, transactionLimit: '1000.00', dailyLimit: '100000.00', ...extra } }, co.accessToken)).createCustomer.id;
  const risk = async (id: string, token = co.accessToken) =>
    (await gqlOk<{ customer: { riskScore: number; riskLevel: string; riskFactors: Factor[]; riskHistory: { totalCount: number; nodes: Array<{ score: number; level: string; previousScore: number; previousLevel: string; reason: string; factors: Factor[] }> } } }>(t.gql, RISK, { id }, token)).customer;
  const warnings = async (filter: Record<string, unknown>, token = co.accessToken) =>
    (await gqlOk<{ earlyWarnings: { totalCount: number; nodes: Warning[] } }>(t.gql, WARNINGS, { f: filter, first: 100 }, token)).earlyWarnings;
  const assess = (i: Record<string, unknown>, token = co.accessToken) => t.gql<{ recordCreditAssessment: { creditScore: number; creditLevel: string; creditLimit: string; riskScore: number; riskLevel: string; creditHistory: { totalCount: number; nodes: Array<Record<string, unknown>> } } }>(CREDIT, { i: { level: 'LOW', limit: '5000.00', source: 'BUREAU_X', ...i } }, { token });
  const alertsOf = async (c: string) =>
    (await gqlOk<{ alerts: { nodes: Array<{ id: string; severity: string; rule: { code: string } }> } }>(t.gql, 'query($c: ID!) { alerts(filter: {customerId: $c}, first: 50) { nodes { id severity rule { code } } } }', { c }, analyst.accessToken)).alerts.nodes;
  const close = (id: string, disposition = 'TRUE_POSITIVE') => gqlOk(t.gql, `mutation($id: ID!) { transitionAlert(id: $id, input: {to: CLOSED, disposition: ${disposition}}) { status } }`, { id }, analyst.accessToken);

  beforeAll(async () => {
    t = await startTestApp();
    sql = new Client({ connectionString: t.db.url });
    await sql.connect();
    admin = await signInAdmin(t);
    [co, analyst, agent, am, otherAm] = [
      await createStaff(t, admin, 'COMPLIANCE_OFFICER'), await createStaff(t, admin, 'ANALYST'), await createStaff(t, admin, 'AGENT'),
      await createStaff(t, admin, 'ACCOUNT_MANAGER'), await createStaff(t, admin, 'ACCOUNT_MANAGER'),
    ];
    core = await partnerWithToken(t, admin, 'INTERNAL');
  }, 180_000);
  afterAll(async () => {
    await sql?.end();
    await t?.close();
  });

  it('scores raised alerts with factors that add up, keeps history only on change, and warns when the level rises', async () => {
    const c = await customer();
    const first = await ingest(t, core.token, [{ customerId: c, type: 'TRANSACTION', amount: '1500.00', currency: 'EUR' }]);
    expect(first.data!.ingestEvents[0]!.decision).toBe('HOLD');
    let r = await risk(c);
    expect(r.riskFactors.map((f) => [f.factor, f.points])).toEqual([['OPEN_ALERTS', 10], ['VERIFICATION_LEVEL', 10], ['ACCOUNT_AGE', 10]]);
    expect(r.riskFactors[0].detail).toBe('1 HIGH open alert(s)');
    expect(r.riskScore).toBe(30);
    expect(sum(r.riskFactors)).toBe(r.riskScore);
    expect(r.riskLevel).toBe('MEDIUM');
    // Scored when created (verification level and account age), then again when the alert was raised.
    expect(r.riskHistory.totalCount).toBe(2);
    expect(r.riskHistory.nodes[0]).toMatchObject({ score: 30, level: 'MEDIUM', previousScore: 20, previousLevel: 'LOW', reason: 'alert.raised' });
    expect(r.riskHistory.nodes[1]).toMatchObject({ score: 20, level: 'LOW', previousScore: 0, reason: 'customer.created' });
    expect(r.riskHistory.nodes[0].factors).toEqual(r.riskFactors.map(({ factor, points }) => ({ factor, points })));

    // The same rule again inside its dedup window: the alert's occurrences grow, the score does not → no history row.
    await ingest(t, core.token, [{ customerId: c, type: 'TRANSACTION', amount: '2000.00', currency: 'EUR' }]);
    expect((await alertsOf(c)).length).toBe(1);
    expect((await risk(c)).riskHistory.totalCount).toBe(2);

    const escalations = await warnings({ type: 'RISK_ESCALATION', customerId: c });
    expect(escalations.nodes).toHaveLength(1);
    expect(escalations.nodes[0]).toMatchObject({ type: 'RISK_ESCALATION', status: 'OPEN', occurrences: 1, customer: { id: c }, detail: { fromLevel: 'LOW', toLevel: 'MEDIUM', fromScore: 20, toScore: 30 } });

    // Closing it TRUE_POSITIVE moves its points from open alerts to confirmed true positives, in the same transaction.
    await close((await alertsOf(c))[0].id);
    r = await risk(c);
    expect(r.riskFactors.map((f) => [f.factor, f.points])).toEqual([['CONFIRMED_TRUE_POSITIVES', 15], ['VERIFICATION_LEVEL', 10], ['ACCOUNT_AGE', 10]]);
    expect(r).toMatchObject({ riskScore: 35, riskLevel: 'MEDIUM' });
    expect(r.riskHistory.nodes.map((h) => [h.score, h.reason])).toEqual([[35, 'alert.transition'], [30, 'alert.raised'], [20, 'customer.created']]);
    const stored = await sql.query('SELECT risk_score, risk_level FROM customer WHERE id = $1', [c]);
    expect(stored.rows[0]).toEqual({ risk_score: 35, risk_level: 'MEDIUM' });
    // Same level: no second escalation.
    expect((await warnings({ type: 'RISK_ESCALATION', customerId: c })).nodes.map((w) => w.occurrences)).toEqual([1]);
  });

  it('caps the score at 100 (the factor crossing it is cut) and maps it to CRITICAL; riskHistory paginates newest first', async () => {
    for (const code of ['RISK_TEST_A', 'RISK_TEST_B', 'RISK_TEST_C']) {
      const rule = await gqlOk<{ createRule: { id: string } }>(t.gql, 'mutation($i: CreateRuleInput!) { createRule(input: $i) { id } }', {
        i: { code, name: code, eventTypes: ['TRANSACTION'], severity: 'CRITICAL', actions: ['RAISE_ALERT'], condition: { compare: { left: { field: 'channel' }, op: 'eq', right: { value: code } } } },
      }, analyst.accessToken);
      await gqlOk(t.gql, 'mutation($id: ID!) { activateRule(id: $id) { status } }', { id: rule.createRule.id }, co.accessToken);
    }
    const c = await customer();
    await ingest(t, core.token, [
      { customerId: c, type: 'TRANSACTION', amount: '10.00', channel: 'RISK_TEST_A' },
      { customerId: c, type: 'TRANSACTION', amount: '10.00', channel: 'RISK_TEST_B' },
      { customerId: c, type: 'TRANSACTION', amount: '10.00', channel: 'RISK_TEST_C' },
      { customerId: c, type: 'TRANSACTION', amount: '1500.00' },
    ]);
    let r = await risk(c);
    expect(r.riskFactors[0]).toEqual({ factor: 'OPEN_ALERTS', points: 40, detail: '3 CRITICAL, 1 HIGH open alert(s) (70 points, factor capped at 40)' });
    expect(r).toMatchObject({ riskScore: 60, riskLevel: 'HIGH' });
    const alerts = await alertsOf(c);
    await close(alerts.find((a) => a.rule.code === 'RISK_TEST_C')!.id);
    await close(alerts.find((a) => a.rule.code === 'LARGE_TRANSACTION')!.id);
    const credit = await assess({ customerId: c, score: 420, level: 'CRITICAL' });
    expect(credit.errors).toBeUndefined();
    expect(credit.data!.recordCreditAssessment).toMatchObject({ riskScore: 100, riskLevel: 'CRITICAL' });
    r = await risk(c);
    expect(r.riskFactors.map((f) => [f.factor, f.points])).toEqual([['OPEN_ALERTS', 40], ['CONFIRMED_TRUE_POSITIVES', 30], ['CREDIT_LEVEL', 20], ['VERIFICATION_LEVEL', 10], ['ACCOUNT_AGE', 0]]);
    expect(r.riskFactors[4].detail).toMatch(/capped at 100: 0 of 10 points/);
    expect(sum(r.riskFactors)).toBe(100);

    const page = async (after?: string) => (await gqlOk<{ customer: { riskHistory: { totalCount: number; pageInfo: { hasNextPage: boolean; endCursor: string }; nodes: Array<{ score: number; reason: string }> } } }>(t.gql,
      'query($id: ID!, $after: String) { customer(id: $id) { riskHistory(first: 2, after: $after) { totalCount pageInfo { hasNextPage endCursor } nodes { score reason } } } }', { id: c, after }, co.accessToken)).customer.riskHistory;
    const p1 = await page();
    expect(p1.nodes[0]).toEqual({ score: 100, reason: 'credit.assessment' });
    expect(p1.pageInfo.hasNextPage).toBe(true);
    const p2 = await page(p1.pageInfo.endCursor);
    const all = [...p1.nodes, ...p2.nodes];
    expect(all.length).toBe(Math.min(4, p1.totalCount));
    expect(new Set(all.map((h) => `${h.score}:${h.reason}`)).size).toBe(all.length);
    // LOW → HIGH → CRITICAL while the warning is open: one warning, the starting level kept.
    const esc = (await warnings({ type: 'RISK_ESCALATION', customerId: c })).nodes;
    expect(esc).toHaveLength(1);
    expect(esc[0].detail).toMatchObject({ fromLevel: 'LOW', toLevel: 'CRITICAL' });
    expect(esc[0].occurrences).toBeGreaterThanOrEqual(2);
    for (const code of ['RISK_TEST_A', 'RISK_TEST_B', 'RISK_TEST_C']) await sql.query(`UPDATE rule SET status = 'RETIRED', retired_at = now() WHERE code = $1`, [code]);
  });

  it('riskHistory follows riskScore and creditHistory follows creditScore in the field policy', async () => {
    const c = await customer();
    await ingest(t, core.token, [{ customerId: c, type: 'TRANSACTION', amount: '1500.00' }]);
    expect((await assess({ customerId: c, score: 700 })).errors).toBeUndefined();
    const query = 'query($id: ID!) { customer(id: $id) { id riskLevel riskScore riskHistory { totalCount } creditScore creditHistory { totalCount } } }';
    for (const reader of [co, analyst, am]) {
      const res = await t.gql<{ customer: { riskHistory: { totalCount: number }; creditHistory: { totalCount: number } } }>(query, { id: c }, { token: reader.accessToken });
      expect(res.errors).toBeUndefined();
      expect(res.data!.customer.riskHistory.totalCount).toBeGreaterThanOrEqual(1);
      expect(res.data!.customer.creditHistory.totalCount).toBe(1);
    }
    const asAgent = await t.gql<{ customer: Record<string, unknown> }>(query, { id: c }, { token: agent.accessToken });
    expect(asAgent.data!.customer).toMatchObject({ id: c, riskLevel: 'MEDIUM', riskScore: null, riskHistory: null, creditScore: null, creditHistory: null });
    expect(asAgent.errors!.map((e) => `${e.path!.join('.')}:${e.extensions!.code}`).sort()).toEqual([
      'customer.creditHistory:FORBIDDEN', 'customer.creditScore:FORBIDDEN', 'customer.riskHistory:FORBIDDEN', 'customer.riskScore:FORBIDDEN',
    ]);
    expect(codeOf(await t.gql(query, { id: c }, { token: otherAm.accessToken }))).toBe('NOT_FOUND');
  });

  it('recordCreditAssessment: COMPLIANCE_OFFICER only, validated, NOT_FOUND / CONFLICT, history and audit', async () => {
    const c = await customer();
    for (const other of [analyst, agent, am, admin]) expect(codeOf(await assess({ customerId: c, score: 700 }, other.accessToken))).toBe('FORBIDDEN');
    expect(codeOf(await t.gql(CREDIT, { i: { customerId: c, score: 700, level: 'LOW', limit: '1.00', source: 'X' } }, { token: core.token }))).toBe('FORBIDDEN');

    const bad = await assess({ customerId: c, score: 299, limit: '-5', source: '   ' });
    expect(codeOf(bad)).toBe('BAD_USER_INPUT');
    expect((bad.errors![0].extensions!.fieldErrors as Array<{ path: string }>).map((e) => e.path).sort()).toEqual(['limit', 'score', 'source']);
    expect(codeOf(await assess({ customerId: c, score: 851 }))).toBe('BAD_USER_INPUT');
    expect(codeOf(await assess({ customerId: '00000000-0000-4000-8000-000000000000', score: 700 }))).toBe('NOT_FOUND');

    const one = await assess({ customerId: c, score: 720, level: 'LOW', limit: '2500.50', source: 'BUREAU_A' });
    expect(one.errors).toBeUndefined();
    const two = await assess({ customerId: c, score: 690, level: 'MEDIUM', limit: '2000', source: 'INTERNAL_MODEL' });
    expect(two.data!.recordCreditAssessment).toMatchObject({ creditScore: 690, creditLevel: 'MEDIUM', creditLimit: '2000.00' });
    expect(two.data!.recordCreditAssessment.creditHistory).toEqual({
      totalCount: 2,
      nodes: [
        { score: 690, level: 'MEDIUM', limit: '2000.00', previousScore: 720, previousLevel: 'LOW', source: 'INTERNAL_MODEL' },
        { score: 720, level: 'LOW', limit: '2500.50', previousScore: null, previousLevel: null, source: 'BUREAU_A' },
      ],
    });
    // MEDIUM credit adds 5 points.
    expect((await risk(c)).riskFactors).toEqual(expect.arrayContaining([{ factor: 'CREDIT_LEVEL', points: 5, detail: 'credit level MEDIUM' }]));
    const audit = await sql.query(`SELECT actor_id, fields, outcome, details FROM audit_entry WHERE action = 'customer.credit_assessment' AND customer_id = $1 ORDER BY id`, [c]);
    expect(audit.rows).toHaveLength(2);
    expect(audit.rows[0]).toMatchObject({ actor_id: co.userId, outcome: 'SUCCESS', fields: ['creditLevel', 'creditLimit', 'creditScore'] });
    expect(JSON.stringify(audit.rows.map((r) => r.details))).not.toMatch(/690|720|2000/);

    await sql.query(`UPDATE customer SET status = 'TERMINATED' WHERE id = $1`, [c]);
    expect(codeOf(await assess({ customerId: c, score: 700 }))).toBe('CONFLICT');
    expect((await sql.query('SELECT count(*)::int AS n FROM customer_credit_history WHERE customer_id = $1', [c])).rows[0].n).toBe(2);
  });

  it('CREDIT_DETERIORATION: a score drop of 50 or more, a worse level, or 2 late payments in 90 days — not less', async () => {
    const fired = async (c: string) => (await warnings({ type: 'CREDIT_DETERIORATION', customerId: c })).nodes;

    const drop = await customer();
    await assess({ customerId: drop, score: 700 });
    await assess({ customerId: drop, score: 660 });
    expect(await fired(drop)).toEqual([]);
    await assess({ customerId: drop, score: 610 });
    expect((await fired(drop)).map((w) => w.detail)).toEqual([expect.objectContaining({ reasons: ['SCORE_DROP'], previousScore: 660, score: 610, scoreDrop: 50 })]);

    const worse = await customer();
    await assess({ customerId: worse, score: 700, level: 'LOW' });
    await assess({ customerId: worse, score: 720, level: 'LOW' });
    expect(await fired(worse)).toEqual([]);
    await assess({ customerId: worse, score: 730, level: 'HIGH' });
    expect((await fired(worse)).map((w) => w.detail.reasons)).toEqual([['LEVEL_WORSENED']]);

    const late = await customer();
    const pay = (daysLate: number | string, occurredAt = new Date().toISOString()) => ingest(t, core.token, [{ customerId: late, type: 'PAYMENT', amount: '50.00', occurredAt, attributes: { daysLate } }]);
    await pay(12, daysAgo(101)); // outside the 90-day window
    await pay(5, daysAgo(10));
    await pay(0);
    await pay('soon');
    expect(await fired(late)).toEqual([]);
    await pay('3');
    const w = await fired(late);
    expect(w).toHaveLength(1);
    expect(w[0].detail).toMatchObject({ reasons: ['LATE_PAYMENTS'], latePayments: 2, windowDays: 90 });
    // One OPEN warning per customer and type: a third late payment repeats it.
    await pay(7);
    expect((await fired(late)).map((x) => [x.id, x.occurrences, x.detail.latePayments])).toEqual([[w[0].id, 2, 3]]);

    // Two late payments in one call, at the same time: judged as two calls would judge them — the first
    // sees one late payment (no warning), the second two (one warning, raised by the second).
    const batched = await customer();
    const at = new Date().toISOString();
    const both = await ingest(t, core.token, [
      { customerId: batched, type: 'PAYMENT', amount: '50.00', occurredAt: at, attributes: { daysLate: 4 } },
      { customerId: batched, type: 'PAYMENT', amount: '60.00', occurredAt: at, attributes: { daysLate: 9 } },
    ]);
    const warned = await fired(batched);
    expect(warned.map((x) => [x.occurrences, x.detail.latePayments])).toEqual([[1, 2]]);
    expect(warned[0].detail.eventId).toBe(both.data!.ingestEvents[1]!.event!.id);
  });

  it('late payments read daysLate as rules read numbers: a string PostgreSQL would not cast neither counts nor fails a call', async () => {
    const c = await customer();
    const fired = async () => (await warnings({ type: 'CREDIT_DETERIORATION', customerId: c })).nodes;
    const pay = (daysLate: number | string) => ingest(t, core.token, [{ customerId: c, type: 'PAYMENT', amount: '50.00', attributes: { daysLate } }]);
    // U+3000 is whitespace to PostgreSQL's regular expressions, not to its numeric cast; stored, such a value
    // used to fail every later late-payment count of the customer (and the call that made it).
    for (const odd of ['\u3000-1', '\u30005', ' 4', '4 ']) {
      const res = await pay(odd);
      expect(res.errors).toBeUndefined();
      expect(res.data!.ingestEvents[0]).toMatchObject({ decision: 'ALLOW' });
    }
    expect(await fired()).toEqual([]);
    for (const days of [5, '6']) {
      const res = await pay(days);
      expect(res.errors).toBeUndefined();
    }
    expect((await fired()).map((w) => w.detail.latePayments)).toEqual([2]);
  });

  it('CHURN_RISK: last 30 days below 30 % of the prior monthly average, refreshed periodically; resolved when activity recovers', async () => {
    const quiet = await customer();
    const steady = await customer();
    const thin = await customer();
    const tx = (c: string, at: string) => ({ customerId: c, type: 'TRANSACTION', amount: '10.00', occurredAt: at });
    const prior = (c: string, k: number) => Array.from({ length: k }, (_, i) => tx(c, daysAgo(35 + i * 9)));
    const res = await ingest(t, core.token, [...prior(quiet, 9), ...prior(steady, 9), tx(steady, daysAgo(3)), ...prior(thin, 2)]);
    expect(res.errors).toBeUndefined();

    const service = t.app.get(EarlyWarningsService);
    const first = await service.refreshChurnWarnings();
    expect(first.raised).toBeGreaterThanOrEqual(1);
    const churn = async (c: string) => (await warnings({ type: 'CHURN_RISK', customerId: c })).nodes;
    expect((await churn(quiet)).map((w) => [w.status, w.detail])).toEqual([['OPEN', expect.objectContaining({ recentEvents: 0, priorEvents: 9, priorMonthlyAverage: 3 })]]);
    // 1 event against a monthly average of 3 is 33 % (not below 30 %); 2 prior events are no baseline.
    expect(await churn(steady)).toEqual([]);
    expect(await churn(thin)).toEqual([]);
    // Idempotent: refreshing again keeps one warning, and writes nothing while its figures hold.
    const before = (await churn(quiet))[0];
    await service.refreshChurnWarnings();
    expect((await churn(quiet)).map((w) => [w.occurrences, w.updatedAt])).toEqual([[1, before.updatedAt]]);
    // Still flagged with other figures (one more prior event): the open warning follows them, as one warning.
    await ingest(t, core.token, [tx(quiet, daysAgo(60))]);
    await service.refreshChurnWarnings();
    expect((await churn(quiet)).map((w) => [w.status, w.occurrences, w.detail.priorEvents, w.detail.priorMonthlyAverage])).toEqual([['OPEN', 1, 10, 3.33]]);

    await ingest(t, core.token, [tx(quiet, daysAgo(1))]);
    await t.app.get(RiskJobs).runOnce();
    expect((await warnings({ type: 'CHURN_RISK', customerId: quiet })).nodes.map((w) => [w.status, w.detail.resolution])).toEqual([['RESOLVED', 'activity recovered']]);
  });

  it('CHURN_RISK stays open for a customer still silent once the baseline ages out, and resolves as closed for a terminated one', async () => {
    const gone = await customer();
    const closed = await customer();
    const tx = (c: string, at: string) => ({ customerId: c, type: 'TRANSACTION', amount: '10.00', occurredAt: at });
    const prior = (c: string) => Array.from({ length: 9 }, (_, i) => tx(c, daysAgo(35 + i * 9)));
    expect((await ingest(t, core.token, [...prior(gone), ...prior(closed)])).errors).toBeUndefined();
    const service = t.app.get(EarlyWarningsService);
    await service.refreshChurnWarnings();
    const churn = async (c: string) => (await warnings({ type: 'CHURN_RISK', customerId: c })).nodes.map((w) => [w.status, w.detail.resolution ?? null]);
    expect(await churn(gone)).toEqual([['OPEN', null]]);
    expect(await churn(closed)).toEqual([['OPEN', null]]);

    // A hundred days later nothing of `gone` is left in the 90-day baseline either: no longer flagged, not recovered.
    await sql.query(`UPDATE event SET occurred_at = occurred_at - interval '100 days' WHERE customer_id = $1`, [gone]);
    await sql.query(`UPDATE customer SET status = 'TERMINATED' WHERE id = $1`, [closed]);
    await service.refreshChurnWarnings();
    expect(await churn(gone)).toEqual([['OPEN', null]]);
    expect(await churn(closed)).toEqual([['RESOLVED', 'customer closed']]);
  });

  it('scores a customer when it is created; the periodic refresh scores customers loaded without a score', async () => {
    const created = await customer();
    expect(await risk(created)).toMatchObject({ riskScore: 20, riskLevel: 'LOW', riskFactors: [{ factor: 'VERIFICATION_LEVEL', points: 10 }, { factor: 'ACCOUNT_AGE', points: 10 }] });
    expect((await risk(created)).riskHistory.nodes.map((h) => [h.score, h.reason])).toEqual([[20, 'customer.created']]);

    // A customer that reached the table without that (loaded by SQL, or created before it was scored at
    // creation): the refresh scores it.
    const c = await customer();
    await sql.query(`UPDATE customer SET risk_score = 0, risk_level = 'LOW', risk_factors = '[]' WHERE id = $1`, [c]);
    await sql.query(`DELETE FROM customer_risk_history WHERE customer_id = $1`, [c]);
    expect((await risk(c)).riskScore).toBe(0);
    const result = await t.app.get(RiskJobs).runOnce();
    expect(result!.rescored).toBeGreaterThanOrEqual(1);
    const r = await risk(c);
    expect(r).toMatchObject({ riskScore: 20, riskLevel: 'LOW' });
    expect(r.riskHistory.nodes.map((h) => h.reason)).toEqual(['refresh']);
    // Nothing changed since: a second run writes no history.
    await t.app.get(RiskJobs).runOnce();
    expect((await risk(c)).riskHistory.totalCount).toBe(1);
  });

  it('the periodic refresh takes out a true positive or repeat complaints once they leave their 90-day window', async () => {
    const factorsOf = async (c: string) => Object.fromEntries((await risk(c)).riskFactors.map((f) => [f.factor, f]));
    /** Moves the customer's windowed inputs, and the review time they gave, `days` into the past: time passing. */
    const age = async (c: string, days: number, inputs: string) => {
      await sql.query(inputs, [c, days]);
      await sql.query(`UPDATE customer SET risk_review_at = risk_review_at - make_interval(days => $2) WHERE id = $1`, [c, days]);
    };

    // A true positive counts for 90 days after its alert closed.
    const c = await customer();
    await ingest(t, core.token, [{ customerId: c, type: 'TRANSACTION', amount: '1500.00', currency: 'EUR' }]);
    await close((await alertsOf(c))[0].id);
    expect((await factorsOf(c)).CONFIRMED_TRUE_POSITIVES).toMatchObject({ points: 15 });
    const { rows: [due] } = await sql.query(
      `SELECT c.risk_review_at = a.closed_at + interval '90 days' AS at_expiry FROM customer c JOIN alert a ON a.customer_id = c.id WHERE c.id = $1`,
      [c],
    );
    expect(due).toEqual({ at_expiry: true });
    // Not yet due: the refresh leaves the score alone.
    await t.app.get(RiskJobs).runOnce();
    expect((await factorsOf(c)).CONFIRMED_TRUE_POSITIVES).toMatchObject({ points: 15 });
    await age(c, 91, `UPDATE alert SET closed_at = closed_at - make_interval(days => $2) WHERE customer_id = $1`);
    await t.app.get(RiskJobs).runOnce();
    const after = await risk(c);
    expect(after.riskFactors.map((f) => f.factor)).not.toContain('CONFIRMED_TRUE_POSITIVES');
    expect(sum(after.riskFactors)).toBe(after.riskScore);
    expect(after.riskHistory.nodes[0]).toMatchObject({ reason: 'refresh', score: after.riskScore, previousScore: after.riskScore + 15 });
    expect((await sql.query(`SELECT risk_review_at FROM customer WHERE id = $1`, [c])).rows[0].risk_review_at).toBeNull();

    // Three complaints received within 90 days make a repeat complainant (5 points) until the oldest leaves.
    const d = await customer();
    for (let i = 0; i < 3; i++) {
      await gqlOk(t.gql, 'mutation($i: FileComplaintInput!) { fileComplaint(input: $i) { id } }', {
        i: { customerId: d, channel: 'PHONE', category: 'SERVICE', severity: 'LOW', subject: `Complaint ${i}`, description: 'Waited too long.' },
      }, co.accessToken);
    }
    expect((await factorsOf(d)).COMPLAINTS).toMatchObject({ points: 3 + 5, detail: '3 open (3 LOW); 3 received in 90 days' });
    await age(d, 91, `UPDATE complaint SET received_at = received_at - make_interval(days => $2) WHERE id = (SELECT id FROM complaint WHERE customer_id = $1 ORDER BY received_at LIMIT 1)`);
    await t.app.get(RiskJobs).runOnce();
    expect((await factorsOf(d)).COMPLAINTS).toMatchObject({ points: 3, detail: '3 open (3 LOW)' });
    expect((await sql.query(`SELECT risk_review_at FROM customer WHERE id = $1`, [d])).rows[0].risk_review_at).toBeNull();
  });

  it('the periodic refresh scores a bulk onboarding in one run, batch by batch', async () => {
    // Never-scored customers (a bulk load, no event yet): more than two batches, and more than one run used
    // to score (500).
    const bulk = Math.max(2 * REFRESH_BATCH, 500) + 50;
    const { rows } = await sql.query(`INSERT INTO customer (external_ref, data_key) SELECT 'bulk-' || g, 'v1:not-opened-here' FROM generate_series(1, $1::int) g RETURNING id`, [bulk]);
    const result = await t.app.get(RiskJobs).runOnce();
    expect(result!.rescored).toBeGreaterThanOrEqual(bulk);
    const scored = await sql.query(`SELECT count(*)::int AS n FROM customer WHERE id = ANY($1::uuid[]) AND risk_score > 0`, [rows.map((r) => r.id)]);
    expect(scored.rows[0].n).toBe(bulk);
  });

  it('LOW_SATISFACTION: feedback of 2 or less through the hook complaints will call', async () => {
    const c = await customer();
    const service = t.app.get(EarlyWarningsService);
    expect(await service.recordSatisfaction(c, 3)).toBeNull();
    expect((await warnings({ type: 'LOW_SATISFACTION', customerId: c })).nodes).toEqual([]);
    const w = await service.recordSatisfaction(c, 2, { complaintId: '11111111-1111-4111-8111-111111111111' });
    expect(w).toMatchObject({ type: 'LOW_SATISFACTION', status: 'OPEN', detail: { satisfaction: 2, complaintId: '11111111-1111-4111-8111-111111111111' } });
    await service.recordSatisfaction(c, 1);
    expect((await warnings({ type: 'LOW_SATISFACTION', customerId: c })).nodes.map((x) => [x.id, x.occurrences, x.detail.satisfaction])).toEqual([[w!.id, 2, 1]]);
    await expect(service.recordSatisfaction(c, 6)).rejects.toMatchObject({ extensions: { code: 'BAD_USER_INPUT' } });

    // Feedback arriving after the relationship ended warns about nothing.
    for (const status of ['TERMINATED', 'ERASED']) {
      const closed = await customer();
      await sql.query(status === 'ERASED' ? `UPDATE customer SET status = 'ERASED', data_key = NULL WHERE id = $1` : `UPDATE customer SET status = 'TERMINATED' WHERE id = $1`, [closed]);
      expect(await service.recordSatisfaction(closed, 1)).toBeNull();
      expect((await warnings({ type: 'LOW_SATISFACTION', customerId: closed })).nodes).toEqual([]);
    }
  });

  it('earlyWarnings: ACCOUNT_MANAGER sees only own customers\' warnings; AGENT, AUDITOR and partners are refused', async () => {
    const mine = await customer();
    const theirs = await customer({ accountManagerId: otherAm.userId });
    const service = t.app.get(EarlyWarningsService);
    await service.recordSatisfaction(mine, 1);
    await service.recordSatisfaction(theirs, 1);

    const forAm = await warnings({ type: 'LOW_SATISFACTION' }, am.accessToken);
    expect(forAm.nodes.map((w) => w.customerId)).toContain(mine);
    expect(forAm.nodes.map((w) => w.customerId)).not.toContain(theirs);
    expect(forAm.nodes.every((w) => w.customer?.id === w.customerId)).toBe(true);
    expect((await warnings({ customerId: theirs }, am.accessToken)).totalCount).toBe(0);
    const forOther = await warnings({}, otherAm.accessToken);
    expect(forOther.nodes.map((w) => w.customerId)).toEqual([theirs]);
    const forAnalyst = await warnings({ type: 'LOW_SATISFACTION' }, analyst.accessToken);
    expect(forAnalyst.nodes.map((w) => w.customerId)).toEqual(expect.arrayContaining([mine, theirs]));
    // Pagination: newest first, stable cursor.
    const p1 = await gqlOk<{ earlyWarnings: { pageInfo: { hasNextPage: boolean; endCursor: string }; nodes: Warning[] } }>(t.gql, WARNINGS, { f: {}, first: 1 }, co.accessToken);
    const p2 = await gqlOk<{ earlyWarnings: { nodes: Warning[] } }>(t.gql, WARNINGS, { f: {}, first: 1, after: p1.earlyWarnings.pageInfo.endCursor }, co.accessToken);
    expect(p1.earlyWarnings.pageInfo.hasNextPage).toBe(true);
    expect(p2.earlyWarnings.nodes[0].id).not.toBe(p1.earlyWarnings.nodes[0].id);

    const auditor = await createStaff(t, admin, 'AUDITOR');
    for (const token of [agent.accessToken, auditor.accessToken, admin.accessToken, core.token]) {
      expect(codeOf(await t.gql(WARNINGS, { f: {} }, { token }))).toBe('FORBIDDEN');
    }
  });
});
