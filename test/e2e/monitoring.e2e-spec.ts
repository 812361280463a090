import { Client } from 'pg';
import { RuleEngine } from '../../src/modules/monitoring/rules/rule-engine.service';
import { startTestApp, type TestApp } from '../helpers/app';
import { createStaff, gqlOk, signInAdmin, type SignedIn } from '../helpers/auth';
import { ingest, INGEST, newKey, partnerWithToken } from '../helpers/monitoring';
import { sentMessages } from '../helpers/notify';
import { ERASE_CUSTOMER_SQL, inSideTransaction, lockWaiters, spyOnQueries } from '../helpers/postgres';

const codeOf = (res: { errors?: Array<{ extensions?: Record<string, unknown> }> }) => res.errors?.[0]?.extensions?.code;

type PlanNode = { 'Relation Name'?: string; 'Actual Rows': number; 'Actual Loops': number; 'Rows Removed by Filter'?: number; 'Rows Removed by Index Recheck'?: number; Plans?: PlanNode[] };

/**
 * Rows the event partitions read in an `EXPLAIN (ANALYZE, FORMAT JSON)` plan, over all loops: those they
 * handed up and those their scans read and filtered out (the per-loop averages times the loops).
 */
const eventRowsRead = (node: PlanNode): number =>
  (node['Relation Name']?.startsWith('event') ? (node['Actual Rows'] + (node['Rows Removed by Filter'] ?? 0) + (node['Rows Removed by Index Recheck'] ?? 0)) * node['Actual Loops'] : 0) +
  (node.Plans ?? []).reduce((sum, child) => sum + eventRowsRead(child), 0);

describe('monitoring: ingest, decisions, alerts, holds, notifications', () => {
  let t: TestApp;
  let sql: Client;
  let admin: SignedIn, co: SignedIn, analyst: SignedIn, am: SignedIn, otherAm: SignedIn;
  let core: { id: string; token: string };
  let shop: { id: string; token: string };
  let n = 0;

  /**
   * An `events` page by receipt, newest first, as the compliance officer: its nodes (checked to come in that
   * order), the rows the event partitions read for the statement the app sent (run again under `EXPLAIN
   * ANALYZE` on fresh statistics), and how many partitions there are.
   */
  const pageByReceipt = async (query: string) => {
    await sql.query('ANALYZE event');
    const spy = spyOnQueries(t.app);
    let nodes: Array<{ receivedAt: string; holdStatus?: string }>;
    let pageSql: [string, unknown[]] | undefined;
    try {
      nodes = (await gqlOk<{ events: { nodes: typeof nodes } }>(t.gql, query, undefined, co.accessToken)).events.nodes;
      pageSql = spy.mock.calls.map(([text, params]) => [String(text), params as unknown[]] as [string, unknown[]]).find(([text]) => /ORDER BY e\.received_at/.test(text));
    } finally {
      spy.mockRestore();
    }
    const times = nodes.map((e) => Date.parse(e.receivedAt));
    expect(times).toEqual([...times].sort((a, b) => b - a));
    expect(pageSql).toBeDefined();
    const partitions = Number((await sql.query(`SELECT count(*) AS n FROM pg_inherits WHERE inhparent = 'event'::regclass`)).rows[0].n);
    const { rows } = await sql.query(`EXPLAIN (ANALYZE, FORMAT JSON) ${pageSql![0]}`, pageSql![1]);
    return { nodes, rowsRead: eventRowsRead(rows[0]['QUERY PLAN'][0].Plan), partitions };
  };

  const customer = async (extra: Record<string, unknown> = {}) =>
    (await gqlOk<{ createCustomer: { id: string } }>(t.gql, 'mutation($i: CreateCustomerInput!) { createCustomer(input: $i) { id } }', { i: { externalRef: `mon-${++n}`, accountManagerId: am.userId, transactionLimit: '1000.00', dailyLimit: '5000.00', ...extra } }, co.accessToken)).createCustomer.id;

  beforeAll(async () => {
    t = await startTestApp();
    sql = new Client({ connectionString: t.db.url });
    await sql.connect();
    admin = await signInAdmin(t);
    [co, analyst, am, otherAm] = [await createStaff(t, admin, 'COMPLIANCE_OFFICER'), await createStaff(t, admin, 'ANALYST'), await createStaff(t, admin, 'ACCOUNT_MANAGER'), await createStaff(t, admin, 'ACCOUNT_MANAGER')];
    core = await partnerWithToken(t, admin, 'INTERNAL');
    shop = await partnerWithToken(t, admin, 'EXTERNAL');
  }, 120_000);
  afterAll(async () => {
    await sql.end();
    await t.close();
  });

  it('holds a transaction over the limit, notifies the account manager, and repeats idempotently', async () => {
    const c = await customer();
    const event = { idempotencyKey: newKey(), customerId: c, type: 'TRANSACTION', occurredAt: new Date().toISOString(), amount: '1500.00', currency: 'EUR' };
    const first = await t.gql<{ ingestEvents: Array<{ decision: string; duplicate: boolean; event: { id: string } }> }>(INGEST, { e: [event] }, { token: core.token });
    expect(first.errors).toBeUndefined();
    expect(first.data!.ingestEvents[0]).toMatchObject({ decision: 'HOLD', duplicate: false });
    const again = await t.gql<{ ingestEvents: Array<{ decision: string; duplicate: boolean; event: { id: string } }> }>(INGEST, { e: [event] }, { token: core.token });
    expect(again.data!.ingestEvents[0]).toEqual({ event: first.data!.ingestEvents[0].event, decision: 'HOLD', duplicate: true });
    const changed = await t.gql(INGEST, { e: [{ ...event, amount: '1.00' }] }, { token: core.token });
    expect(changed.errors?.[0]).toMatchObject({ path: ['ingestEvents', 0], extensions: { code: 'CONFLICT' } });
    const notes = await gqlOk<{ myNotifications: { nodes: Array<{ kind: string; eventId: string }> } }>(t.gql, '{ myNotifications(unreadOnly: true, first: 20) { nodes { kind eventId } } }', undefined, am.accessToken);
    expect(notes.myNotifications.nodes).toEqual(expect.arrayContaining([{ kind: 'HOLD_PLACED', eventId: first.data!.ingestEvents[0].event.id }]));
    const queue = await gqlOk<{ events: { nodes: Array<{ id: string; holdStatus: string }> } }>(t.gql, '{ events(filter: {decision: HOLD, holdStatus: PENDING}) { nodes { id holdStatus } } }', undefined, co.accessToken);
    expect(queue.events.nodes.map((e) => e.id)).toContain(first.data!.ingestEvents[0].event.id);
    // The account manager also hears of it through NOTIFY_TRANSPORT, once (the repeat sent nothing more).
    const eventId = first.data!.ingestEvents[0].event.id;
    const sent = (await sentMessages(t)).filter((m) => m.reference === eventId && m.subject?.includes('hold placed'));
    expect(sent).toHaveLength(1);
    expect(sent[0]).toMatchObject({ channel: 'EMAIL', to: am.email, sensitive: false });
    expect(sent[0].body).toContain('1500.00 EUR held');
  });

  it('marks a notification read once, for its owner only; a malformed id is BAD_USER_INPUT, an absent one NOT_FOUND', async () => {
    const c = await customer();
    await ingest(t, core.token, [{ customerId: c, type: 'TRANSACTION', amount: '1500.00', currency: 'EUR' }]);
    const mine = await gqlOk<{ myNotifications: { nodes: Array<{ id: string; kind: string }> } }>(t.gql, '{ myNotifications(unreadOnly: true, first: 1) { nodes { id kind } } }', undefined, am.accessToken);
    const { id, kind } = mine.myNotifications.nodes[0];
    const MARK = 'mutation($id: ID!) { markNotificationRead(id: $id) { id read } }';
    expect(codeOf(await t.gql(MARK, { id }, { token: otherAm.accessToken }))).toBe('NOT_FOUND');
    for (let i = 0; i < 2; i++) expect((await gqlOk<{ markNotificationRead: unknown }>(t.gql, MARK, { id }, am.accessToken)).markNotificationRead).toEqual({ id, read: true });
    // Every mutation is audited (SPEC §5): each call, saying whether it was the first reading.
    const { rows: entries } = await sql.query(
      `SELECT actor_id, outcome, resource_type, details FROM audit_entry WHERE action = 'notification.read' AND resource_id = $1 ORDER BY id`,
      [id],
    );
    expect(entries).toEqual([
      { actor_id: am.userId, outcome: 'SUCCESS', resource_type: 'Notification', details: { kind, firstRead: true } },
      { actor_id: am.userId, outcome: 'SUCCESS', resource_type: 'Notification', details: { kind, firstRead: false } },
    ]);
    expect(codeOf(await t.gql(MARK, { id: '00000000-0000-4000-8000-000000000000' }, { token: am.accessToken }))).toBe('NOT_FOUND');
    for (const bad of ['-'.repeat(36), 'nope', `${id.slice(0, 35)}g`]) {
      const res = await t.gql(MARK, { id: bad }, { token: am.accessToken });
      expect([bad, res.errors?.[0]?.extensions]).toEqual([bad, expect.objectContaining({ code: 'BAD_USER_INPUT' })]);
    }
  });

  it('holds a RESTRICTED customer\'s money movements above the restricted limit, and blocks a SUSPENDED one', async () => {
    const c = await customer();
    // Sanctions set these; here the state is set directly to test the decision alone.
    await sql.query(`UPDATE customer SET status = 'RESTRICTED', restricted_limit = 100 WHERE id = $1`, [c]);
    const decide = async (event: Record<string, unknown>) => {
      const res = await ingest(t, core.token, [{ customerId: c, ...event }]);
      expect(res.errors).toBeUndefined();
      return res.data!.ingestEvents[0]!;
    };
    expect((await decide({ type: 'TRANSACTION', amount: '100.00' })).decision).toBe('ALLOW');
    const held = await decide({ type: 'PAYMENT', amount: '100.01' });
    expect(held.decision).toBe('HOLD');
    expect((await decide({ type: 'LOGIN', attributes: { outcome: 'SUCCESS' } })).decision).toBe('ALLOW');
    const { rows } = await sql.query(`SELECT hold_status FROM event WHERE id = $1`, [held.event!.id]);
    expect(rows).toEqual([{ hold_status: 'PENDING' }]);
    const notes = await gqlOk<{ myNotifications: { nodes: Array<{ kind: string; eventId: string }> } }>(t.gql, '{ myNotifications(first: 50) { nodes { kind eventId } } }', undefined, am.accessToken);
    expect(notes.myNotifications.nodes).toEqual(expect.arrayContaining([{ kind: 'HOLD_PLACED', eventId: held.event!.id }]));
    // Restricted without a limit: every amount is held.
    await sql.query(`UPDATE customer SET restricted_limit = NULL WHERE id = $1`, [c]);
    expect((await decide({ type: 'TRANSACTION', amount: '0.01' })).decision).toBe('HOLD');
    await sql.query(`UPDATE customer SET status = 'SUSPENDED' WHERE id = $1`, [c]);
    expect((await decide({ type: 'LOGIN', attributes: { outcome: 'SUCCESS' } })).decision).toBe('BLOCK');
    await sql.query(`UPDATE customer SET status = 'ACTIVE' WHERE id = $1`, [c]);
    expect((await decide({ type: 'TRANSACTION', amount: '500.00' })).decision).toBe('ALLOW');
  });

  it('executes 20 concurrent repeats of one key once', async () => {
    const c = await customer();
    const event = { idempotencyKey: newKey(), customerId: c, type: 'TRANSACTION', occurredAt: new Date().toISOString(), amount: '10.00' };
    const results = await Promise.all(Array.from({ length: 20 }, () => t.gql<{ ingestEvents: Array<{ event: { id: string }; duplicate: boolean }> }>(INGEST, { e: [event] }, { token: core.token })));
    expect(results.every((r) => !r.errors)).toBe(true);
    expect(new Set(results.map((r) => r.data!.ingestEvents[0].event.id)).size).toBe(1);
    expect(results.filter((r) => r.data!.ingestEvents[0].duplicate === false)).toHaveLength(1);
    const { rows } = await sql.query('SELECT count(*)::int AS n FROM event WHERE customer_id = $1', [c]);
    expect(rows[0].n).toBe(1);
  });

  it('answers a bad event with null and an error at its index; the others are processed', async () => {
    const c = await customer();
    const res = await ingest(t, core.token, [
      { customerId: c, type: 'TRANSACTION', amount: '5.00' },
      { customerId: c, type: 'TRANSACTION', amount: '5.00', currency: 'euro' },
      { customerId: '00000000-0000-0000-0000-000000000000', type: 'TRANSACTION' },
      { customerId: c, type: 'VERIFICATION' },
      { customerExternalRef: `mon-${n}`, type: 'LOGIN', attributes: { outcome: 'SUCCESS' } },
      // Authorization before validation: a type the partner may not send is FORBIDDEN, bad amount or not.
      { customerId: c, type: 'VERIFICATION', amount: '1.001' },
    ]);
    expect(res.data!.ingestEvents.map((r) => r?.decision ?? null)).toEqual(['ALLOW', null, null, null, 'ALLOW', null]);
    const byIndex = Object.fromEntries(res.errors!.map((e) => [e.path!.join('.'), e.extensions!.code]));
    expect(byIndex).toEqual({ 'ingestEvents.1': 'BAD_USER_INPUT', 'ingestEvents.2': 'NOT_FOUND', 'ingestEvents.3': 'FORBIDDEN', 'ingestEvents.5': 'FORBIDDEN' });
    const audit = await sql.query(`SELECT details FROM audit_entry WHERE action = 'event.ingest' ORDER BY id DESC LIMIT 1`);
    expect(audit.rows[0].details).toMatchObject({ received: 6, processed: 2, rejected: 4 });

    // What the schema's types refuse (docs/MONITORING.md) fails the call before anything runs, naming the index.
    const stored = async () => (await sql.query(`SELECT count(*)::int AS n FROM event WHERE customer_id = $1`, [c])).rows[0].n as number;
    const before = await stored();
    const refused = await ingest(t, core.token, [
      { customerId: c, type: 'TRANSACTION', amount: '5.00' },
      { customerId: c, type: 'TRANSACTION', amount: '1,250.00' },
    ]);
    expect(refused.status).toBe(400);
    expect(refused.data ?? null).toBeNull();
    expect(refused.errors).toHaveLength(1);
    expect(refused.errors![0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', fieldErrors: [{ path: '1.amount' }] });
    expect(await stored()).toBe(before);
  });

  it('takes occurredAt only with its offset: a local time of no stated zone is refused at its index', async () => {
    const c = await customer();
    const res = await ingest(t, core.token, ['2026-03-01T10:00:00+02:00', '2026-03-01T10:00:00', '2026-03-01', '2026-03-01T08:00:00Z'].map((occurredAt) => ({ customerId: c, type: 'LOGIN', attributes: { outcome: 'SUCCESS' }, occurredAt })));
    expect(res.data!.ingestEvents.map((r) => r?.decision ?? null)).toEqual(['ALLOW', null, null, 'ALLOW']);
    expect(res.errors!.map((e) => [e.path!.join('.'), e.extensions!.code, (e.extensions!.fieldErrors as Array<{ path: string }>)[0].path])).toEqual([
      ['ingestEvents.1', 'BAD_USER_INPUT', 'occurredAt'],
      ['ingestEvents.2', 'BAD_USER_INPUT', 'occurredAt'],
    ]);
    const { rows } = await sql.query(`SELECT occurred_at FROM event WHERE customer_id = $1 ORDER BY occurred_at`, [c]);
    expect(rows.map((r) => (r.occurred_at as Date).toISOString())).toEqual(['2026-03-01T08:00:00.000Z', '2026-03-01T08:00:00.000Z']);
  });

  it('refuses a LOGIN whose attributes.outcome is not SUCCESS or FAILURE, at its index, and screens the rest', async () => {
    const c = await customer();
    const login = (attributes?: Record<string, unknown>) => ({ customerId: c, type: 'LOGIN', ...(attributes ? { attributes } : {}) });
    // No outcome, other spellings, a number, then the two the rules read.
    const res = await ingest(t, core.token, [login(), login({ outcome: 'failure' }), login({ outcome: 'FAILED' }), login({ outcome: 1 }), login({ outcome: 'FAILURE' }), login({ outcome: 'SUCCESS', device: 'x' })]);
    expect(res.data!.ingestEvents.map((r) => r?.decision ?? null)).toEqual([null, null, null, null, 'ALLOW', 'ALLOW']);
    expect(res.errors!.map((e) => [e.path!.join('.'), e.extensions!.code, (e.extensions!.fieldErrors as Array<{ path: string; message: string }>)[0]])).toEqual(
      [0, 1, 2, 3].map((i) => [`ingestEvents.${i}`, 'BAD_USER_INPUT', { path: 'attributes.outcome', message: 'must be SUCCESS or FAILURE for a LOGIN event' }]),
    );
    expect((await sql.query(`SELECT count(*)::int AS n FROM event WHERE customer_id = $1`, [c])).rows[0].n).toBe(2);
  });

  it('reads occurredAt strictly as a calendar date-time: ISO-8601 week and ordinal dates are refused, short offsets are honoured', async () => {
    const c = await customer();
    const sent = ['2026-W09-7T10:00:00Z', '2026-060T10:00:00Z', '2026-03-01T10:00:00+02', '2026-03-01T10:00:00+0200', '2026-03-01T10:00:00.123456Z'];
    const res = await ingest(t, core.token, sent.map((occurredAt) => ({ customerId: c, type: 'LOGIN', attributes: { outcome: 'SUCCESS' }, occurredAt })));
    expect(res.data!.ingestEvents.map((r) => r?.decision ?? null)).toEqual([null, null, 'ALLOW', 'ALLOW', 'ALLOW']);
    expect(res.errors!.map((e) => [e.path!.join('.'), e.extensions!.code, (e.extensions!.fieldErrors as Array<{ path: string }>)[0].path])).toEqual([
      ['ingestEvents.0', 'BAD_USER_INPUT', 'occurredAt'],
      ['ingestEvents.1', 'BAD_USER_INPUT', 'occurredAt'],
    ]);
    const { rows } = await sql.query(`SELECT occurred_at FROM event WHERE customer_id = $1 ORDER BY occurred_at`, [c]);
    expect(rows.map((r) => (r.occurred_at as Date).toISOString())).toEqual(['2026-03-01T08:00:00.000Z', '2026-03-01T08:00:00.000Z', '2026-03-01T10:00:00.123Z']);
  });

  it('refuses an amount with more than 2 decimals at its index instead of rounding it; 2 decimals are stored as sent', async () => {
    const c = await customer();
    const res = await ingest(t, core.token, [
      { customerId: c, type: 'TRANSACTION', amount: '10.123' },
      { customerId: c, type: 'TRANSACTION', amount: '10.12' },
      { customerId: c, type: 'TRANSACTION', amount: '10.10' },
      { customerId: c, type: 'PAYMENT', amount: '7.500', attributes: { daysLate: 0 } },
      // Far too precise still fails only its own event, not the call.
      { customerId: c, type: 'TRANSACTION', amount: '1.123456789' },
    ]);
    expect(res.data!.ingestEvents.map((r) => r?.decision ?? null)).toEqual([null, 'ALLOW', 'ALLOW', null, null]);
    expect(res.errors!.map((e) => ({ path: e.path, code: e.extensions!.code, fieldErrors: e.extensions!.fieldErrors }))).toEqual([
      { path: ['ingestEvents', 0], code: 'BAD_USER_INPUT', fieldErrors: [{ path: 'amount', message: 'must have at most 2 decimals' }] },
      { path: ['ingestEvents', 3], code: 'BAD_USER_INPUT', fieldErrors: [{ path: 'amount', message: 'must have at most 2 decimals' }] },
      { path: ['ingestEvents', 4], code: 'BAD_USER_INPUT', fieldErrors: [{ path: 'amount', message: 'must have at most 2 decimals' }] },
    ]);
    const ids = res.data!.ingestEvents.filter((r) => r).map((r) => r!.event!.id);
    const stored = await gqlOk<{ events: { nodes: Array<{ id: string; amount: string }> } }>(t.gql, 'query($c: ID!) { events(filter: {customerId: $c}) { nodes { id amount } } }', { c }, co.accessToken);
    expect(Object.fromEntries(stored.events.nodes.map((e) => [e.id, e.amount]))).toEqual({ [ids[0]]: '10.12', [ids[1]]: '10.10' });

    // An inline literal is checked the same way.
    const inline = await t.gql<{ ingestEvents: unknown[] }>(
      `mutation { ingestEvents(events: [{idempotencyKey: "${newKey()}", customerId: "${c}", type: TRANSACTION, occurredAt: "${new Date().toISOString()}", amount: "0.001"}]) { decision } }`,
      undefined, { token: core.token });
    expect(inline.data!.ingestEvents).toEqual([null]);
    expect(inline.errors![0]).toMatchObject({ path: ['ingestEvents', 0], extensions: { code: 'BAD_USER_INPUT', fieldErrors: [{ path: 'amount' }] } });
  });

  it('refuses an EXTERNAL partner screening a customer it does not own, and hides rules and alerts from partners', async () => {
    const notMine = await customer();
    const res = await ingest(t, shop.token, [{ customerId: notMine, type: 'TRANSACTION', amount: '5.00' }]);
    expect(res.errors?.[0]).toMatchObject({ path: ['ingestEvents', 0], extensions: { code: 'NOT_FOUND' } });
    const mine = (await gqlOk<{ createCustomer: { id: string } }>(t.gql, 'mutation { createCustomer(input: {externalRef: "shop-own-1", transactionLimit: "100.00"}) { id } }', undefined, shop.token)).createCustomer.id;
    const ok = await t.gql<{ ingestEvents: Array<Record<string, unknown>> }>('mutation($e: [EventInput!]!) { ingestEvents(events: $e) { event { id type } decision triggeredRules { code } alerts { id } } }', { e: [{ idempotencyKey: newKey(), customerId: mine, type: 'TRANSACTION', occurredAt: new Date().toISOString(), amount: '500.00' }] }, { token: shop.token });
    expect(ok.data!.ingestEvents[0]).toMatchObject({ decision: 'HOLD', triggeredRules: null, alerts: null, event: { type: null } });
    const codes = ok.errors!.map((e) => `${e.path!.slice(2).join('.')}:${e.extensions!.code}`).sort();
    expect(codes).toEqual(['alerts:FORBIDDEN', 'event.type:FORBIDDEN', 'triggeredRules:FORBIDDEN']);
    expect(codeOf(await t.gql('{ events { totalCount } }', undefined, { token: shop.token }))).toBe('FORBIDDEN');
    const profile = await ingest(t, shop.token, [{ customerId: mine, type: 'PROFILE_CHANGE', attributes: { fields: ['email'] } }]);
    expect(profile.errors?.[0].extensions?.code).toBe('FORBIDDEN');
    expect((await ingest(t, core.token, [{ customerId: mine, type: 'PROFILE_CHANGE', attributes: { fields: ['email'] } }])).errors).toBeUndefined();
  });

  it('deduplicates alerts for one rule and customer inside the window, and walks the alert state machine', async () => {
    const c = await customer();
    await ingest(t, core.token, [{ customerId: c, type: 'TRANSACTION', amount: '2000.00' }, { customerId: c, type: 'TRANSACTION', amount: '3000.00' }]);
    const alerts = await gqlOk<{ alerts: { nodes: Array<{ id: string; occurrences: number; rule: { code: string }; status: string }> } }>(t.gql, 'query($c: ID!) { alerts(filter: {customerId: $c}) { nodes { id occurrences status rule { code name } } } }', { c }, analyst.accessToken);
    const large = alerts.alerts.nodes.find((a) => a.rule.code === 'LARGE_TRANSACTION')!;
    expect(large.occurrences).toBe(2);
    const move = (to: string, extra = '') => t.gql(`mutation($id: ID!) { transitionAlert(id: $id, input: {to: ${to}${extra}}) { status disposition } }`, { id: large.id }, { token: analyst.accessToken });
    expect(codeOf(await move('CLOSED'))).toBe('BAD_USER_INPUT');
    expect((await move('INVESTIGATING')).data).toEqual({ transitionAlert: { status: 'INVESTIGATING', disposition: null } });
    expect((await move('ESCALATED')).errors).toBeUndefined();
    expect((await move('INVESTIGATING')).errors).toBeUndefined();
    expect((await move('CLOSED', ', disposition: TRUE_POSITIVE, note: "confirmed with the customer"')).data).toEqual({ transitionAlert: { status: 'CLOSED', disposition: 'TRUE_POSITIVE' } });
    const invalid = await move('INVESTIGATING');
    expect(invalid.errors?.[0].extensions).toMatchObject({ code: 'INVALID_TRANSITION', from: 'CLOSED', to: 'INVESTIGATING' });
    // Assigning the alert just closed is INVALID_TRANSITION (docs/MONITORING.md "Assignment"), and assigns nothing.
    const assign = await t.gql('mutation($id: ID!, $a: ID!) { assignAlert(id: $id, assigneeId: $a) { assigneeId } }', { id: large.id, a: analyst.userId }, { token: co.accessToken });
    expect(assign.errors).toHaveLength(1);
    expect(codeOf(assign)).toBe('INVALID_TRANSITION');
    expect(assign.data?.assignAlert ?? null).toBeNull();
    expect((await sql.query(`SELECT assignee_id FROM alert WHERE id = $1`, [large.id])).rows).toEqual([{ assignee_id: null }]);
    const { rows } = await sql.query(`SELECT note FROM alert_activity WHERE alert_id = $1 AND note IS NOT NULL`, [large.id]);
    expect(rows[0].note).toMatch(/^e1\./);
    // The alert's customer goes through the customers' field policy: an analyst sees the e-mail masked.
    const nested = await t.gql('query($id: ID!) { alert(id: $id) { customer { externalRef nationalId } } }', { id: large.id }, { token: analyst.accessToken });
    expect(nested.errors?.map((e) => `${e.path!.join('.')}:${e.extensions!.code}`)).toEqual(['alert.customer.nationalId:FORBIDDEN']);
  });

  it('resolves a hold once, within the resolver\'s scope', async () => {
    const c = await customer();
    const res = await ingest(t, core.token, [{ customerId: c, type: 'TRANSACTION', amount: '1200.00' }]);
    const eventId = res.data!.ingestEvents[0]!.event!.id;
    const malformed = await t.gql('mutation { resolveHold(eventId: "nope", input: {release: true}) { holdStatus } }', undefined, { token: co.accessToken });
    expect(malformed.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', fieldErrors: [{ path: 'eventId', message: 'is not a valid id' }] });
    const resolve = (token: string, release: boolean) => t.gql<{ resolveHold: { holdStatus: string; holdHistory: Array<{ outcome: string }> } }>('mutation($id: ID!, $r: Boolean!) { resolveHold(eventId: $id, input: {release: $r, note: "called the customer"}) { holdStatus holdHistory { outcome } } }', { id: eventId, r: release }, { token });
    expect(codeOf(await resolve(otherAm.accessToken, true))).toBe('NOT_FOUND');
    const released = await resolve(am.accessToken, true);
    expect(released.data!.resolveHold).toEqual({ holdStatus: 'RELEASED', holdHistory: [{ outcome: 'PLACED' }, { outcome: 'RELEASED' }] });
    expect(codeOf(await resolve(analyst.accessToken, false))).toBe('INVALID_TRANSITION');
  });

  it("shows the resolver's note in the hold history, stored under the customer's key and gone once the customer is erased", async () => {
    const c = await customer();
    const res = await ingest(t, core.token, [{ customerId: c, type: 'TRANSACTION', amount: '1200.00' }]);
    const eventId = res.data!.ingestEvents[0]!.event!.id;
    const HISTORY = 'query($id: ID!) { event(id: $id) { holdHistory { outcome actorId note } } }';
    const resolved = await gqlOk<{ resolveHold: { holdHistory: Array<{ outcome: string; actorId: string | null; note: string | null }> } }>(
      t.gql, 'mutation($id: ID!) { resolveHold(eventId: $id, input: {release: false, note: "  card reported stolen by phone  "}) { holdHistory { outcome actorId note } } }', { id: eventId }, analyst.accessToken);
    const expected = [{ outcome: 'PLACED', actorId: null, note: null }, { outcome: 'REJECTED', actorId: analyst.userId, note: 'card reported stolen by phone' }];
    expect(resolved.resolveHold.holdHistory).toEqual(expected);
    // Every role that reads the event reads the note: the account manager of the customer too.
    expect((await gqlOk<{ event: { holdHistory: unknown[] } }>(t.gql, HISTORY, { id: eventId }, am.accessToken)).event.holdHistory).toEqual(expected);
    const { rows } = await sql.query(`SELECT note FROM hold_action WHERE event_id = $1 AND outcome = 'REJECTED'`, [eventId]);
    expect(rows[0].note).toMatch(/^e1\./);
    expect(rows[0].note).not.toContain('stolen');
    // Each full read of the note is audited under the customer, naming the field, not its text: the analyst's
    // (the mutation's answer) and the account manager's.
    const readsOf = async () => (await sql.query(`SELECT actor_id, fields, details::text AS details FROM audit_entry WHERE action = 'customer.read_pii' AND customer_id = $1 ORDER BY id`, [c])).rows;
    const reads = await readsOf();
    expect(reads.map((r) => [r.actor_id, r.fields])).toEqual([[analyst.userId, ['HoldAction.note']], [am.userId, ['HoldAction.note']]]);
    for (const r of reads) expect(r.details).not.toMatch(/stolen/);
    // Erasure shreds the customer's key: the history stays, the note cannot be read any more.
    await sql.query(ERASE_CUSTOMER_SQL, [c]);
    const after = await gqlOk<{ event: { holdHistory: Array<{ outcome: string; note: string | null }> } }>(t.gql, HISTORY, { id: eventId }, co.accessToken);
    expect(after.event.holdHistory.map((h) => [h.outcome, h.note])).toEqual([['PLACED', null], ['REJECTED', null]]);
    // Nothing was read in full, so nothing more is audited.
    expect(await readsOf()).toHaveLength(2);
  });

  it('lists the hold queue with every event\'s hold history in one statement, not one per event', async () => {
    const c = await customer();
    const held = await ingest(t, core.token, ['1100.00', '1200.00', '1300.00'].map((amount) => ({ customerId: c, type: 'TRANSACTION', amount })));
    const ids = held.data!.ingestEvents.map((r) => r!.event!.id);
    await gqlOk(t.gql, 'mutation($id: ID!) { resolveHold(eventId: $id, input: {release: false}) { holdStatus } }', { id: ids[1] }, am.accessToken);
    const spy = spyOnQueries(t.app);
    try {
      const page = await gqlOk<{ customer: { events: { nodes: Array<{ id: string; holdHistory: Array<{ outcome: string }> }> } } }>(
        t.gql, 'query($c: ID!) { customer(id: $c) { events(first: 10) { nodes { id holdHistory { outcome } } } } }', { c }, co.accessToken);
      const history = new Map(page.customer.events.nodes.map((n) => [n.id, n.holdHistory.map((h) => h.outcome)]));
      expect(ids.map((id) => history.get(id))).toEqual([['PLACED'], ['PLACED', 'REJECTED'], ['PLACED']]);
      expect(spy.mock.calls.filter(([sql]) => /FROM hold_action/.test(String(sql)))).toHaveLength(1);
    } finally {
      spy.mockRestore();
    }
  });

  it('pages a customer\'s events by reading only the page from the index, and counts them only when asked', async () => {
    const c = await customer();
    const base = Date.now() - 3_600_000;
    await ingest(t, core.token, Array.from({ length: 40 }, (_, i) => ({ customerId: c, type: 'LOGIN', attributes: { outcome: 'SUCCESS' }, occurredAt: new Date(base + i * 1000).toISOString() })));
    const spy = spyOnQueries(t.app);
    let pageSql: [string, unknown[]] | undefined;
    try {
      const PAGE = 'query($c: ID!) { customer(id: $c) { events(first: 5) { nodes { id } pageInfo { hasNextPage } } } }';
      const res = await gqlOk<{ customer: { events: { nodes: unknown[]; pageInfo: { hasNextPage: boolean } } } }>(t.gql, PAGE, { c }, co.accessToken);
      expect(res.customer.events.nodes).toHaveLength(5);
      expect(res.customer.events.pageInfo.hasNextPage).toBe(true);
      const issued = spy.mock.calls.map(([text, params]) => [String(text), params as unknown[]] as [string, unknown[]]);
      pageSql = issued.find(([text]) => /FROM event c/.test(text));
      // totalCount not selected: no COUNT of the customer's events.
      expect(issued.filter(([text]) => /count\(\*\).*FROM event/s.test(text))).toEqual([]);
      const counted = await gqlOk<{ customer: { events: { totalCount: number } } }>(t.gql, 'query($c: ID!) { customer(id: $c) { events(first: 5) { totalCount } } }', { c }, co.accessToken);
      expect(counted.customer.events.totalCount).toBe(40);
    } finally {
      spy.mockRestore();
    }
    expect(pageSql).toBeDefined();
    // The plan of the statement the app sent: the event partitions give up first + 1 rows and the one that
    // shows the last occurredAt has no more ties (the sort on id is incremental), not all 40.
    const { rows } = await sql.query(`EXPLAIN (ANALYZE, FORMAT JSON) ${pageSql![0]}`, pageSql![1]);
    expect(eventRowsRead(rows[0]['QUERY PLAN'][0].Plan)).toBeLessThanOrEqual(7);
  });

  it('pages every event by receipt from the index of (received_at, id), reading only the page', async () => {
    const c = await customer();
    const base = Date.now() - 7_200_000;
    for (let call = 0; call < 2; call++) {
      await ingest(t, core.token, Array.from({ length: 500 }, (_, i) => ({ customerId: c, type: 'LOGIN', attributes: { outcome: 'SUCCESS' }, occurredAt: new Date(base + (call * 500 + i) * 1000).toISOString() })));
    }
    const { nodes, rowsRead, partitions } = await pageByReceipt('{ events(first: 5, orderBy: {field: RECEIVED_AT, direction: DESC}) { nodes { receivedAt } } }');
    expect(nodes).toHaveLength(5);
    // Each partition hands over its newest rows in order (at most one more than it contributes), where a
    // sort would read every one of the 1000+ stored events.
    expect(rowsRead).toBeLessThanOrEqual(6 + partitions);
  });

  it('pages the hold queue by receipt from the pending holds alone, reading only the page', async () => {
    const c = await customer();
    const base = Date.now() - 7_200_000;
    // One held TRANSACTION (over the 1000.00 limit) among every ten events, older ones resolved as staff do.
    for (let call = 0; call < 2; call++) {
      await ingest(
        t,
        core.token,
        Array.from({ length: 500 }, (_, i) => {
          const k = call * 500 + i;
          const occurredAt = new Date(base + k * 1000).toISOString();
          return k % 10 === 0 ? { customerId: c, type: 'TRANSACTION', amount: '1500.00', currency: 'EUR', occurredAt } : { customerId: c, type: 'LOGIN', attributes: { outcome: 'SUCCESS' }, occurredAt };
        }),
      );
    }
    await sql.query(`UPDATE event SET hold_status = 'RELEASED' WHERE customer_id = $1 AND hold_status = 'PENDING' AND occurred_at < $2`, [c, new Date(base + 400_000).toISOString()]);
    const { nodes, rowsRead, partitions } = await pageByReceipt('{ events(first: 5, filter: {decision: HOLD, holdStatus: PENDING}, orderBy: {field: RECEIVED_AT, direction: DESC}) { nodes { receivedAt holdStatus } } }');
    expect(nodes.map((e) => e.holdStatus)).toEqual(Array(5).fill('PENDING'));
    // Each partition hands over its newest pending holds in order, where walking all events by receipt reads
    // the ALLOW and released ones too, and sorting reads every pending hold (60 of this customer's alone).
    expect(rowsRead).toBeLessThanOrEqual(6 + partitions);
  });

  it('reads the amount when a sum, avg or max names no field', async () => {
    const create = await gqlOk<{ createRule: { id: string } }>(t.gql, `mutation($i: CreateRuleInput!) { createRule(input: $i) { id } }`, {
      i: {
        code: 'TEST_SUM_NO_FIELD', name: 'Channel SUMTEST over 250 an hour', eventTypes: ['TRANSACTION'], severity: 'LOW', actions: ['REVIEW'],
        condition: { all: [
          { compare: { left: { field: 'channel' }, op: 'eq', right: { value: 'SUMTEST' } } },
          { compare: { left: { aggregate: { fn: 'sum', eventTypes: ['TRANSACTION'], window: 'PT1H' } }, op: 'gt', right: { value: 250 } } },
        ] },
      },
    }, analyst.accessToken);
    await gqlOk(t.gql, 'mutation($id: ID!) { activateRule(id: $id) { status } }', { id: create.createRule.id }, co.accessToken);
    try {
      const c = await customer();
      const decisions: Array<string | null> = [];
      for (const amount of ['100.00', '100.00', '100.00']) {
        const res = await ingest(t, core.token, [{ customerId: c, type: 'TRANSACTION', amount, channel: 'SUMTEST' }]);
        decisions.push(res.data!.ingestEvents[0]!.decision);
      }
      // 100, 200, then 300 > 250: the third is reviewed, by this rule alone.
      expect(decisions).toEqual(['ALLOW', 'ALLOW', 'REVIEW']);
      const hits = await sql.query(`SELECT count(*)::int AS n FROM rule_hit WHERE rule_id = $1`, [create.createRule.id]);
      expect(hits.rows).toEqual([{ n: 1 }]);
    } finally {
      await gqlOk(t.gql, 'mutation($id: ID!) { retireRule(id: $id) { status } }', { id: create.createRule.id }, co.accessToken);
    }
  });

  it("reads the evaluated customer's attributes inside an aggregate's where, per customer, alone and in a batch", async () => {
    const onChannel = { compare: { left: { field: 'channel' }, op: 'eq', right: { value: 'HALFLIMIT' } } };
    // Past transactions above half of this customer's transactionLimit, three in a week.
    const aboveHalf = { compare: { left: { field: 'amount' }, op: 'gt', right: { mul: [{ customer: 'transactionLimit' }, { value: 0.5 }] } } };
    const counted = { aggregate: { fn: 'count', eventTypes: ['TRANSACTION'], window: 'P7D', where: { all: [onChannel, aboveHalf] } } };
    const create = await gqlOk<{ createRule: { id: string } }>(t.gql, `mutation($i: CreateRuleInput!) { createRule(input: $i) { id } }`, {
      i: { code: 'TEST_HALF_LIMIT', name: 'Three above half the limit in a week', eventTypes: ['TRANSACTION'], severity: 'LOW', actions: ['REVIEW'],
        condition: { all: [onChannel, { compare: { left: counted, op: 'gte', right: { value: 3 } } }] } },
    }, analyst.accessToken);
    await gqlOk(t.gql, 'mutation($id: ID!) { activateRule(id: $id) { status } }', { id: create.createRule.id }, co.accessToken);
    try {
      const [wide, narrow] = [await customer({ transactionLimit: '1000.00' }), await customer({ transactionLimit: '200.00' })];
      const send = async (c: string, amount: string) =>
        (await ingest(t, core.token, [{ customerId: c, type: 'TRANSACTION', amount, channel: 'HALFLIMIT' }])).data!.ingestEvents[0]!.decision;
      // 600 is above 500, 400 is not: the third above half is the fourth event.
      expect([await send(wide, '600.00'), await send(wide, '400.00'), await send(wide, '600.00'), await send(wide, '600.00')]).toEqual(['ALLOW', 'ALLOW', 'ALLOW', 'REVIEW']);
      // One call for two customers: the same amounts count for the one whose half-limit they pass, not the other.
      const [wide2, narrow2] = [await customer({ transactionLimit: '1000.00' }), await customer({ transactionLimit: '200.00' })];
      const batch = await ingest(t, core.token, [wide2, narrow2, wide2, narrow2, wide2, narrow2].map((c) => ({ customerId: c, type: 'TRANSACTION', amount: '150.00', channel: 'HALFLIMIT' })));
      expect(batch.data!.ingestEvents.map((r) => r!.decision)).toEqual(['ALLOW', 'ALLOW', 'ALLOW', 'ALLOW', 'ALLOW', 'REVIEW']);
      // The customer's value when the event is screened: a raised limit stops the count at once.
      await gqlOk(t.gql, 'mutation($id: ID!) { updateCustomer(id: $id, input: {transactionLimit: "10000.00"}) { id } }', { id: narrow }, co.accessToken);
      expect([await send(narrow, '150.00'), await send(narrow, '150.00'), await send(narrow, '150.00')]).toEqual(['ALLOW', 'ALLOW', 'ALLOW']);
    } finally {
      await gqlOk(t.gql, 'mutation($id: ID!) { retireRule(id: $id) { status } }', { id: create.createRule.id }, co.accessToken);
    }
  });

  it('versions rules: an ACTIVE rule is never edited in place; SHADOW rules record hits without acting', async () => {
    const create = await gqlOk<{ createRule: { id: string; version: number; status: string } }>(t.gql, `mutation($i: CreateRuleInput!) { createRule(input: $i) { id version status } }`, {
      i: { code: 'TEST_CHANNEL', name: 'ATM channel', eventTypes: ['TRANSACTION'], severity: 'LOW', actions: ['RAISE_ALERT', 'BLOCK'], mode: 'SHADOW', condition: { compare: { left: { field: 'channel' }, op: 'eq', right: { value: 'ATM' } } } },
    }, analyst.accessToken);
    expect(create.createRule).toMatchObject({ version: 1, status: 'DRAFT' });
    expect(codeOf(await t.gql('mutation($id: ID!) { activateRule(id: $id) { id } }', { id: create.createRule.id }, { token: analyst.accessToken }))).toBe('FORBIDDEN');
    await gqlOk(t.gql, 'mutation($id: ID!) { activateRule(id: $id) { status } }', { id: create.createRule.id }, co.accessToken);
    const c = await customer();
    const res = await ingest(t, core.token, [{ customerId: c, type: 'TRANSACTION', amount: '10.00', channel: 'ATM' }]);
    expect(res.data!.ingestEvents[0]!.decision).toBe('ALLOW');
    const hits = await sql.query(`SELECT mode FROM rule_hit WHERE rule_id = $1`, [create.createRule.id]);
    expect(hits.rows).toEqual([{ mode: 'SHADOW' }]);
    const v2 = await gqlOk<{ updateRule: { id: string; version: number; status: string } }>(t.gql, 'mutation($id: ID!) { updateRule(id: $id, input: {mode: ENFORCE}) { id version status } }', { id: create.createRule.id }, analyst.accessToken);
    expect(v2.updateRule).toMatchObject({ version: 2, status: 'DRAFT' });
    await gqlOk(t.gql, 'mutation($id: ID!) { activateRule(id: $id) { status } }', { id: v2.updateRule.id }, co.accessToken);
    const versions = await gqlOk<{ rules: { nodes: Array<{ version: number; status: string }> } }>(t.gql, '{ rules(filter: {code: "TEST_CHANNEL"}) { nodes { version status } } }', undefined, analyst.accessToken);
    expect(versions.rules.nodes).toEqual([{ version: 1, status: 'RETIRED' }, { version: 2, status: 'ACTIVE' }]);
    // A code filter that no rule could carry is refused, not read as "no filter" (empty) or matched in vain.
    for (const code of ['', '   ', 'test_channel', 'X'.repeat(65)]) {
      const refused = await t.gql('query($code: String) { rules(filter: {code: $code}) { nodes { id } } }', { code }, { token: analyst.accessToken });
      expect(refused.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', fieldErrors: [{ path: 'code' }] });
    }
    const blocked = await ingest(t, core.token, [{ customerId: c, type: 'TRANSACTION', amount: '10.00', channel: 'ATM' }]);
    expect(blocked.data!.ingestEvents[0]!.decision).toBe('BLOCK');
    await gqlOk(t.gql, 'mutation($id: ID!) { retireRule(id: $id) { status } }', { id: v2.updateRule.id }, co.accessToken);
  });

  it('counts the events where a field holds a value when count names a field', async () => {
    const onChannel = { compare: { left: { field: 'channel' }, op: 'eq', right: { value: 'COUNTED' } } };
    const counted = { aggregate: { fn: 'count', field: 'counterpartyRef', eventTypes: ['TRANSACTION'], window: 'PT1H', where: onChannel } };
    const create = await gqlOk<{ createRule: { id: string } }>(t.gql, `mutation($i: CreateRuleInput!) { createRule(input: $i) { id } }`, {
      i: { code: 'TEST_COUNTERPARTY_COUNT', name: 'Two payees in an hour', eventTypes: ['TRANSACTION'], severity: 'LOW', actions: ['REVIEW'], mode: 'ENFORCE',
        condition: { all: [onChannel, { compare: { left: counted, op: 'gte', right: { value: 2 } } }] } },
    }, analyst.accessToken);
    await gqlOk(t.gql, 'mutation($id: ID!) { activateRule(id: $id) { status } }', { id: create.createRule.id }, co.accessToken);
    const c = await customer();
    const send = async (counterpartyRef?: string) =>
      (await ingest(t, core.token, [{ customerId: c, type: 'TRANSACTION', amount: '10.00', channel: 'COUNTED', ...(counterpartyRef ? { counterpartyRef } : {}) }])).data!.ingestEvents[0]!.decision;
    // Three events in the window, two of them with a counterparty: only the second of those reaches 2.
    expect(await send()).toBe('ALLOW');
    expect(await send()).toBe('ALLOW');
    expect(await send('PAYEE-1')).toBe('ALLOW');
    expect(await send('PAYEE-2')).toBe('REVIEW');
    // The same within one call: each event's window holds the call's earlier events.
    const other = await customer();
    const batch = await ingest(t, core.token, [undefined, 'PAYEE-1', undefined, 'PAYEE-2'].map((counterpartyRef) => ({
      customerId: other, type: 'TRANSACTION', amount: '10.00', channel: 'COUNTED', ...(counterpartyRef ? { counterpartyRef } : {}),
    })));
    expect(batch.data!.ingestEvents.map((r) => r!.decision)).toEqual(['ALLOW', 'ALLOW', 'ALLOW', 'REVIEW']);
    await gqlOk(t.gql, 'mutation($id: ID!) { retireRule(id: $id) { status } }', { id: create.createRule.id }, co.accessToken);
  });

  it('screens one customer\'s concurrent calls one after the other, so a velocity rule cannot be beaten by sending in parallel', async () => {
    // HOURLY_VELOCITY: transactions of one hour adding up to more than the daily limit → REVIEW.
    // One occurredAt for all: a window reaches back from its event's time, so an event stamped a millisecond
    // earlier would not count one screened before it whatever the locking (no look-ahead in event time).
    const occurredAt = new Date().toISOString();
    const c = await customer({ dailyLimit: '1000.00' });
    const send = (amount: string) => ingest(t, core.token, [{ customerId: c, type: 'TRANSACTION', amount, occurredAt }]);
    const side = new Client({ connectionString: t.db.url });
    await side.connect();
    try {
      // Both calls start while an operator holds the customer's row: each waits for it, then for the other.
      await side.query('BEGIN');
      await side.query('SELECT id FROM customer WHERE id = $1 FOR UPDATE', [c]);
      const both = [send('600.00'), send('600.00')];
      try {
        expect(await lockWaiters(sql, 2)).toBeGreaterThanOrEqual(2);
      } finally {
        await side.query('COMMIT');
      }
      expect((await Promise.all(both)).map((r) => r.data!.ingestEvents[0]!.decision).sort()).toEqual(['ALLOW', 'REVIEW']);
    } finally {
      await side.end();
    }
    // Five at once with no one holding the row: the sum crosses 1000 at the fourth, whatever their order.
    const d = await customer({ dailyLimit: '1000.00' });
    const five = await Promise.all(Array.from({ length: 5 }, () => ingest(t, core.token, [{ customerId: d, type: 'TRANSACTION', amount: '300.00', occurredAt }])));
    expect(five.map((r) => r.data!.ingestEvents[0]!.decision).sort()).toEqual(['ALLOW', 'ALLOW', 'ALLOW', 'REVIEW', 'REVIEW']);
  });

  it('decides on the customer as it is when its lock is granted: a change committed while the call waited counts', async () => {
    const noteFor = async (user: SignedIn, eventId: string) =>
      (await gqlOk<{ myNotifications: { nodes: Array<{ kind: string; eventId: string | null }> } }>(t.gql, '{ myNotifications(first: 100) { nodes { kind eventId } } }', undefined, user.accessToken))
        .myNotifications.nodes.filter((x) => x.eventId === eventId).map((x) => x.kind);
    /** `send` while an operator's transaction applies `change` to the customer, committed once the call waits for the row. */
    const whileChanging = async <T>(c: string, change: string, send: () => Promise<T>): Promise<T> => {
      let call!: Promise<T>;
      await inSideTransaction(t.db.url, async (side) => {
        await side.query(`UPDATE customer SET ${change} WHERE id = $1`, [c]);
        call = send();
        expect(await lockWaiters(sql, 1)).toBeGreaterThanOrEqual(1);
        await side.query('COMMIT');
      });
      return call;
    };

    // The limit lowered below the amount and the customer handed to another account manager meanwhile: the
    // transfer is held (LARGE_TRANSACTION) and the new account manager hears of it, not the old one.
    const c = await customer({ transactionLimit: '100000.00' });
    const res = await whileChanging(c, `transaction_limit = 1000, account_manager_id = '${otherAm.userId}'`, () =>
      ingest(t, core.token, [{ customerId: c, type: 'TRANSACTION', amount: '5000.00', currency: 'EUR', idempotencyKey: newKey() }]));
    expect(res.errors).toBeUndefined();
    const result = res.data!.ingestEvents[0]!;
    expect(result.decision).toBe('HOLD');
    expect(await noteFor(otherAm, result.event!.id)).toEqual(expect.arrayContaining(['HOLD_PLACED', 'ALERT_RAISED']));
    expect(await noteFor(am, result.event!.id)).toEqual([]);
    const stored = await sql.query(`SELECT count(*)::int AS n FROM event WHERE customer_id = $1`, [c]);
    expect(stored.rows[0].n).toBe(1);

    // Terminated meanwhile: the event is refused as for a closed customer, and nothing of it is stored.
    const d = await customer();
    const refused = await whileChanging(d, `status = 'TERMINATED'`, () => ingest(t, core.token, [{ customerId: d, type: 'TRANSACTION', amount: '10.00', idempotencyKey: newKey() }]));
    expect(refused.errors?.map((e) => `${e.path!.join('.')}:${e.extensions!.code}`)).toEqual(['ingestEvents.0:CONFLICT']);
    expect((await sql.query(`SELECT count(*)::int AS n FROM event WHERE customer_id = $1`, [d])).rows[0].n).toBe(0);
  });

  it('runs the other rules when a stored active condition no longer compiles, and refuses to activate such a draft', async () => {
    const created = await gqlOk<{ createRule: { id: string } }>(t.gql, 'mutation($i: CreateRuleInput!) { createRule(input: $i) { id } }', {
      i: { code: 'TEST_LEGACY_CONDITION', name: 'Legacy', eventTypes: ['TRANSACTION'], severity: 'LOW', actions: ['RAISE_ALERT'], mode: 'ENFORCE', condition: { compare: { left: { field: 'amount' }, op: 'gt', right: { value: 1 } } } },
    }, co.accessToken);
    const id = created.createRule.id;
    // Saved under checks that have since tightened, as the database would hold it: an operator the language lacks.
    await sql.query(`UPDATE rule SET condition = $2 WHERE id = $1`, [id, JSON.stringify({ compare: { left: { field: 'amount' }, op: 'roughly', right: { value: 1 } } })]);
    const activation = await t.gql('mutation($id: ID!) { activateRule(id: $id) { status } }', { id }, { token: co.accessToken });
    expect(codeOf(activation)).toBe('BAD_USER_INPUT');
    expect(JSON.stringify(activation.errors![0].extensions)).toContain('condition.compare.op');
    expect((await sql.query(`SELECT status FROM rule WHERE id = $1`, [id])).rows[0].status).toBe('DRAFT');
    // Made ACTIVE behind the API's back: that rule cannot run, every other rule still does.
    await sql.query(`UPDATE rule SET status = 'ACTIVE', activated_at = now() WHERE id = $1`, [id]);
    t.app.get(RuleEngine).invalidate();
    try {
      const c = await customer();
      const res = await ingest(t, core.token, [{ customerId: c, type: 'TRANSACTION', amount: '1500.00' }]);
      expect(res.errors).toBeUndefined();
      expect(res.data!.ingestEvents[0]!.decision).toBe('HOLD'); // LARGE_TRANSACTION
      expect((await sql.query(`SELECT count(*)::int AS n FROM rule_hit WHERE rule_id = $1`, [id])).rows[0].n).toBe(0);
    } finally {
      await sql.query(`UPDATE rule SET status = 'RETIRED', retired_at = now() WHERE id = $1`, [id]);
      t.app.get(RuleEngine).invalidate();
    }
  });

  it('keeps both of two concurrent edits of a draft, and activates or retires one version once when asked twice at once', async () => {
    const created = await gqlOk<{ createRule: { id: string } }>(t.gql, 'mutation($i: CreateRuleInput!) { createRule(input: $i) { id } }', {
      i: { code: 'TEST_RACE', name: 'Race', eventTypes: ['TRANSACTION'], severity: 'LOW', actions: ['RAISE_ALERT'], mode: 'SHADOW', condition: { compare: { left: { field: 'channel' }, op: 'eq', right: { value: 'RACE' } } } },
    }, co.accessToken);
    const id = created.createRule.id;
    const side = new Client({ connectionString: t.db.url });
    await side.connect();
    /** Runs `calls` while an operator's transaction holds the rule's row, so they all start from the same state. */
    const behindRowLock = async <T>(calls: () => Array<Promise<T>>): Promise<T[]> => {
      await side.query('BEGIN');
      await side.query('SELECT id FROM rule WHERE id = $1 FOR UPDATE', [id]);
      const started = calls();
      try {
        expect(await lockWaiters(sql, started.length)).toBeGreaterThanOrEqual(started.length);
      } finally {
        await side.query('COMMIT');
      }
      return Promise.all(started);
    };
    try {
      const UPDATE = 'mutation($id: ID!, $i: UpdateRuleInput!) { updateRule(id: $id, input: $i) { id } }';
      const edits = await behindRowLock(() => [
        t.gql(UPDATE, { id, i: { name: 'Renamed' } }, { token: analyst.accessToken }),
        t.gql(UPDATE, { id, i: { severity: 'HIGH' } }, { token: co.accessToken }),
      ]);
      expect(edits.map((r) => r.errors)).toEqual([undefined, undefined]);
      const { rows: [draft] } = await sql.query(`SELECT name, severity, status, version FROM rule WHERE id = $1`, [id]);
      expect(draft).toEqual({ name: 'Renamed', severity: 'HIGH', status: 'DRAFT', version: 1 });

      const ACTIVATE = 'mutation($id: ID!) { activateRule(id: $id) { status } }';
      const activations = await behindRowLock(() => [t.gql(ACTIVATE, { id }, { token: co.accessToken }), t.gql(ACTIVATE, { id }, { token: co.accessToken })]);
      expect(activations.map((r) => r.errors?.[0]?.extensions?.code ?? 'OK').sort()).toEqual(['INVALID_TRANSITION', 'OK']);

      const RETIRE = 'mutation($id: ID!) { retireRule(id: $id) { status } }';
      const retirements = await behindRowLock(() => [t.gql(RETIRE, { id }, { token: co.accessToken }), t.gql(RETIRE, { id }, { token: co.accessToken })]);
      expect(retirements.map((r) => r.errors?.[0]?.extensions?.code ?? 'OK').sort()).toEqual(['INVALID_TRANSITION', 'OK']);

      const { rows: audited } = await sql.query(`SELECT action, count(*)::int AS n FROM audit_entry WHERE resource_id = $1 GROUP BY action ORDER BY action`, [id]);
      expect(audited).toEqual([
        { action: 'rule.activate', n: 1 },
        { action: 'rule.create', n: 1 },
        { action: 'rule.retire', n: 1 },
        { action: 'rule.update', n: 2 },
      ]);
    } finally {
      await side.end();
    }
  });

  it('NOTIFY_ACCOUNT_MANAGER without RAISE_ALERT notifies on every triggering event (ENFORCE only), with no alert', async () => {
    const rule = await gqlOk<{ createRule: { id: string } }>(t.gql, 'mutation($i: CreateRuleInput!) { createRule(input: $i) { id } }', {
      i: { code: 'TEST_NOTIFY_ONLY', name: 'Branch cash', eventTypes: ['TRANSACTION'], severity: 'LOW', actions: ['NOTIFY_ACCOUNT_MANAGER'], mode: 'SHADOW', condition: { compare: { left: { field: 'channel' }, op: 'eq', right: { value: 'BRANCH_CASH' } } } },
    }, co.accessToken);
    await gqlOk(t.gql, 'mutation($id: ID!) { activateRule(id: $id) { status } }', { id: rule.createRule.id }, co.accessToken);
    const notified = async (eventId: string) =>
      (await sql.query(`SELECT kind FROM notification WHERE event_id = $1 AND user_id = $2`, [eventId, am.userId])).rows.map((r: { kind: string }) => r.kind);
    const c = await customer();
    const shadow = await ingest(t, core.token, [{ customerId: c, type: 'TRANSACTION', amount: '10.00', channel: 'BRANCH_CASH' }]);
    expect(await notified(shadow.data!.ingestEvents[0]!.event!.id)).toEqual([]);
    expect((await sql.query(`SELECT mode FROM rule_hit WHERE event_id = $1 AND rule_id = $2`, [shadow.data!.ingestEvents[0]!.event!.id, rule.createRule.id])).rows).toEqual([{ mode: 'SHADOW' }]);

    const enforce = await gqlOk<{ updateRule: { id: string } }>(t.gql, 'mutation($id: ID!) { updateRule(id: $id, input: {mode: ENFORCE}) { id } }', { id: rule.createRule.id }, co.accessToken);
    await gqlOk(t.gql, 'mutation($id: ID!) { activateRule(id: $id) { status } }', { id: enforce.updateRule.id }, co.accessToken);
    const res = await ingest(t, core.token, [
      { customerId: c, type: 'TRANSACTION', amount: '10.00', channel: 'BRANCH_CASH' },
      { customerId: c, type: 'TRANSACTION', amount: '11.00', channel: 'BRANCH_CASH' },
      { customerId: c, type: 'TRANSACTION', amount: '12.00', channel: 'ONLINE' },
    ]);
    const [first, second, quiet] = res.data!.ingestEvents.map((r) => r!.event!.id);
    expect([await notified(first), await notified(second), await notified(quiet)]).toEqual([['RULE_TRIGGERED'], ['RULE_TRIGGERED'], []]);
    expect((await sql.query(`SELECT count(*)::int AS n FROM alert WHERE rule_id = $1`, [enforce.updateRule.id])).rows[0].n).toBe(0);
    await gqlOk(t.gql, 'mutation($id: ID!) { retireRule(id: $id) { status } }', { id: enforce.updateRule.id }, co.accessToken);
  });

  it('audits the version an activation replaces, numbers concurrent edits of two versions in turn, and clears a description on null', async () => {
    const RULE = 'mutation($i: CreateRuleInput!) { createRule(input: $i) { id } }';
    const UPDATE = 'mutation($id: ID!, $i: UpdateRuleInput!) { updateRule(id: $id, input: $i) { id version description } }';
    const ACTIVATE = 'mutation($id: ID!) { activateRule(id: $id) { status } }';
    const v1 = (await gqlOk<{ createRule: { id: string } }>(t.gql, RULE, {
      i: { code: 'TEST_VERSIONS', name: 'Versions', description: 'First cut', eventTypes: ['TRANSACTION'], severity: 'LOW', actions: ['RAISE_ALERT'], mode: 'SHADOW', condition: { compare: { left: { field: 'channel' }, op: 'eq', right: { value: 'VERSIONS' } } } },
    }, analyst.accessToken)).createRule.id;
    await gqlOk(t.gql, ACTIVATE, { id: v1 }, co.accessToken);
    const v2 = (await gqlOk<{ updateRule: { id: string } }>(t.gql, UPDATE, { id: v1, i: { severity: 'MEDIUM' } }, analyst.accessToken)).updateRule.id;
    await gqlOk(t.gql, ACTIVATE, { id: v2 }, co.accessToken);
    const { rows: retired } = await sql.query(`SELECT details FROM audit_entry WHERE resource_id = $1 AND action = 'rule.retire'`, [v1]);
    expect(retired).toEqual([{ details: { code: 'TEST_VERSIONS', version: 1, replacedBy: v2 } }]);

    // Edits of the ACTIVE v2 and the RETIRED v1 at once: each becomes a version of its own, 3 and 4.
    const side = new Client({ connectionString: t.db.url });
    await side.connect();
    try {
      await side.query('BEGIN');
      await side.query('SELECT id FROM rule WHERE id = ANY($1::uuid[]) FOR UPDATE', [[v1, v2]]);
      const edits = [t.gql(UPDATE, { id: v2, i: { name: 'From v2' } }, { token: analyst.accessToken }), t.gql(UPDATE, { id: v1, i: { name: 'From v1' } }, { token: co.accessToken })];
      expect(await lockWaiters(sql, 2)).toBeGreaterThanOrEqual(2);
      await side.query('COMMIT');
      const done = await Promise.all(edits);
      expect(done.map((r) => r.errors)).toEqual([undefined, undefined]);
      expect(done.map((r) => (r.data as { updateRule: { version: number } }).updateRule.version).sort()).toEqual([3, 4]);
      const draft = (done[0].data as { updateRule: { id: string; description: string | null } }).updateRule;
      expect(draft.description).toBe('First cut');
      // Left out, the description stays; null clears it.
      expect((await gqlOk<{ updateRule: { description: string | null } }>(t.gql, UPDATE, { id: draft.id, i: { name: 'Still described' } }, analyst.accessToken)).updateRule.description).toBe('First cut');
      expect((await gqlOk<{ updateRule: { description: string | null } }>(t.gql, UPDATE, { id: draft.id, i: { description: null } }, analyst.accessToken)).updateRule.description).toBeNull();
    } finally {
      await side.end();
    }
  });

  it('refuses a dedup window beyond a year, and text PostgreSQL cannot store, naming the field', async () => {
    const RULE = 'mutation($i: CreateRuleInput!) { createRule(input: $i) { id dedupWindow } }';
    const base = { name: 'Window', eventTypes: ['TRANSACTION'], severity: 'LOW', actions: ['RAISE_ALERT'], mode: 'SHADOW', condition: { compare: { left: { field: 'channel' }, op: 'eq', right: { value: 'W' } } } };
    for (const dedupWindow of ['P99999999D', 'P367D', 'P53W']) {
      const res = await t.gql(RULE, { i: { ...base, code: 'TEST_WINDOW', dedupWindow } }, { token: analyst.accessToken });
      expect(res.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', fieldErrors: [{ path: 'dedupWindow', message: 'must be at most P366D' }] });
    }
    expect((await gqlOk<{ createRule: { dedupWindow: string } }>(t.gql, RULE, { i: { ...base, code: 'TEST_WINDOW', dedupWindow: 'P366D' } }, analyst.accessToken)).createRule.dedupWindow).toBe('P366D');
    const v1 = (await sql.query(`SELECT id FROM rule WHERE code = 'TEST_WINDOW'`)).rows[0].id as string;
    expect((await t.gql('mutation($id: ID!) { updateRule(id: $id, input: {dedupWindow: "P400D"}) { id } }', { id: v1 }, { token: analyst.accessToken })).errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT' });

    // NUL, and a lone UTF-16 surrogate (valid JSON, refused by jsonb): in a condition's literal, in a name, in
    // an event's text or attribute (that event only).
    const stored = 'must not contain NUL characters or unpaired surrogates';
    for (const odd of ['A\u0000B', 'A\ud800B', '\udc00']) {
      const bad = await t.gql(RULE, { i: { ...base, code: 'TEST_NUL', condition: { compare: { left: { field: 'channel' }, op: 'in', right: { value: ['ok', odd] } } } } }, { token: analyst.accessToken });
      expect(bad.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', fieldErrors: [{ path: 'condition.compare.right.value.1', message: stored }] });
      const named = await t.gql(RULE, { i: { ...base, code: 'TEST_NUL', name: `Odd ${odd} name` } }, { token: analyst.accessToken });
      expect(named.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', fieldErrors: [{ path: 'name', message: stored }] });
    }
    const c = await customer();
    const res = await ingest(t, core.token, [
      { customerId: c, type: 'TRANSACTION', amount: '10.00', deviceId: 'dev\u0000ice' },
      { customerId: c, type: 'TRANSACTION', amount: '10.00', attributes: { note: 'a\u0000b' } },
      { customerId: c, type: 'TRANSACTION', amount: '10.00', attributes: { tags: ['ok', 'x\u0000'] } },
      { customerId: c, type: 'TRANSACTION', amount: '10.00' },
      { customerId: c, type: 'TRANSACTION', amount: '10.00', deviceId: 'dev\ud800ice' },
      { customerId: c, type: 'TRANSACTION', amount: '10.00', attributes: { note: 'a\udfffb' } },
      { customerId: c, type: 'TRANSACTION', amount: '10.00', channel: 'web\ud83d' },
      { customerId: c, type: 'TRANSACTION', amount: '10.00', deviceId: 'paired \ud83d\ude00 emoji' },
    ]);
    expect(res.data!.ingestEvents.map((r) => (r ? r.decision : null))).toEqual([null, null, null, 'ALLOW', null, null, null, 'ALLOW']);
    expect(res.errors!.map((e) => [e.path, e.extensions?.code])).toEqual([
      [['ingestEvents', 0], 'BAD_USER_INPUT'], [['ingestEvents', 1], 'BAD_USER_INPUT'], [['ingestEvents', 2], 'BAD_USER_INPUT'],
      [['ingestEvents', 4], 'BAD_USER_INPUT'], [['ingestEvents', 5], 'BAD_USER_INPUT'], [['ingestEvents', 6], 'BAD_USER_INPUT'],
    ]);
    // A watchlist entry holding one.
    const list = await t.gql('mutation($i: CreateWatchlistInput!) { createWatchlist(input: $i) { id } }', { i: { code: 'ODD_CHARS', name: 'Odd', entries: ['fine', 'bad\ud800'] } }, { token: co.accessToken });
    expect(list.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', fieldErrors: [{ path: 'entries.1', message: stored }] });
  });

  it('refuses JSON nested too deeply as BAD_USER_INPUT, in a rule or in one event of a batch', async () => {
    // About 10 kB each: copying such values recursively used to overflow the stack (INTERNAL_SERVER_ERROR).
    let condition: unknown = { compare: { left: { field: 'channel' }, op: 'eq', right: { value: 'X' } } };
    for (let i = 0; i < 2000; i++) condition = { all: [condition] };
    const rule = await t.gql('mutation($i: CreateRuleInput!) { createRule(input: $i) { id } }', { i: { code: 'TEST_DEEP', name: 'Deep', eventTypes: ['TRANSACTION'], severity: 'LOW', actions: ['RAISE_ALERT'], condition } }, { token: analyst.accessToken });
    expect(rule.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', fieldErrors: [{ path: 'condition', message: 'is nested too deeply (at most 100 levels)' }] });
    let nested: unknown = 'x';
    for (let i = 0; i < 2000; i++) nested = { a: nested };
    const c = await customer();
    const res = await ingest(t, core.token, [
      { customerId: c, type: 'TRANSACTION', amount: '10.00', attributes: { deep: nested } },
      { customerId: c, type: 'TRANSACTION', amount: '10.00' },
    ]);
    expect(res.data!.ingestEvents.map((r) => (r ? r.decision : null))).toEqual([null, 'ALLOW']);
    expect(res.errors!.map((e) => [e.path, e.extensions?.code, e.extensions?.fieldErrors])).toEqual([
      [['ingestEvents', 0], 'BAD_USER_INPUT', [{ path: 'attributes', message: 'is nested too deeply (at most 100 levels)' }]],
    ]);
  });

  it('refuses an invalid condition naming the bad node', async () => {
    const res = await t.gql('mutation($i: CreateRuleInput!) { createRule(input: $i) { id } }', {
      i: { code: 'BROKEN', name: 'Broken', eventTypes: ['TRANSACTION'], severity: 'LOW', actions: ['RAISE_ALERT'], condition: { all: [{ compare: { left: { field: 'amount' }, op: 'bigger', right: { value: 1 } } }] } },
    }, { token: analyst.accessToken });
    expect(codeOf(res)).toBe('BAD_USER_INPUT');
    expect((res.errors![0].extensions!.fieldErrors as Array<{ path: string }>).map((e) => e.path)).toContain('condition.all.0.compare.op');
  });

  it('turns profile changes into PROFILE_CHANGE events; three in a day raise an alert without blocking the update', async () => {
    const c = await customer();
    for (const name of ['One Name', 'Two Name', 'Three Name']) {
      const res = await t.gql('mutation($id: ID!, $n: String!) { updateCustomer(id: $id, input: {fullName: $n}) { id } }', { id: c, n: name }, { token: co.accessToken });
      expect(res.errors).toBeUndefined();
    }
    const events = await gqlOk<{ events: { nodes: Array<{ source: string; attributes: { fields: string[] }; decision: string }> } }>(t.gql, 'query($c: ID!) { events(filter: {customerId: $c, type: PROFILE_CHANGE}, orderBy: {direction: ASC}) { nodes { source attributes decision } } }', { c }, co.accessToken);
    expect(events.events.nodes.map((e) => [e.source, e.attributes.fields, e.decision])).toEqual([['SYSTEM', ['fullName'], 'ALLOW'], ['SYSTEM', ['fullName'], 'ALLOW'], ['SYSTEM', ['fullName'], 'REVIEW']]);
    const alerts = await gqlOk<{ alerts: { nodes: Array<{ rule: { code: string } }> } }>(t.gql, 'query($c: ID!) { alerts(filter: {customerId: $c}) { nodes { rule { code } } } }', { c }, co.accessToken);
    expect(alerts.alerts.nodes.map((a) => a.rule.code)).toEqual(['FREQUENT_PROFILE_CHANGES']);
  });
});
