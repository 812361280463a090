import { randomUUID } from 'node:crypto';
import { Client } from 'pg';
import { ComplaintSlaJob, type SweepResult } from '../../src/modules/complaints/complaint-sla.service';
import { startTestApp, type GraphQLResponse, type TestApp } from '../helpers/app';
import { createStaff, freshCode, gqlOk, signInAdmin, type SignedIn } from '../helpers/auth';
import { inSideTransaction, lockWaiters } from '../helpers/postgres';

type Res = Pick<GraphQLResponse, 'errors'>;
const codeOf = (res: Res) => res.errors?.[0]?.extensions?.code;
const H = 3_600_000;

const FIELDS = `id customerId status assigneeId receivedAt acknowledgeBy resolveBy closedAt escalated
  timeline { kind actorType actorId fromStatus toStatus note detail at }`;
const FILE = `mutation($i: FileComplaintInput!) { fileComplaint(input: $i) { ${FIELDS} } }`;
const ONE = `query($id: ID!) { complaint(id: $id) { ${FIELDS} } }`;

interface Complaint {
  id: string; customerId: string; status: string; assigneeId: string | null; receivedAt: string; acknowledgeBy: string; resolveBy: string;
  closedAt: string | null; escalated: boolean;
  timeline: Array<{ kind: string; actorType: string; actorId: string | null; fromStatus: string | null; toStatus: string | null; note: string | null; detail: Record<string, unknown>; at: string }>;
}

/**
 * Complaints against concurrent work and the clock: the SLA sweep's lock order, deadlines reached late,
 * erasure (and how the statistics count what it closed), changes racing a change of state, spikes outliving
 * their alert, the order of one transaction's timeline entries. A database of its own, so that
 * sweeping with a jumped clock reports only what these tests filed.
 */
describe('complaints: consistency', () => {
  let t: TestApp;
  let sql: Client;
  let admin: SignedIn, co: SignedIn, agent: SignedIn, analyst: SignedIn;
  let sweep: (now: Date) => Promise<SweepResult>;
  let n = 0;

  const customer = async () =>
    (await gqlOk<{ createCustomer: { id: string } }>(t.gql, 'mutation($i: CreateCustomerInput!) { createCustomer(input: $i) { id } }', { i: { externalRef: `cons-${++n}` } }, agent.accessToken)).createCustomer.id;
  const file = (input: Record<string, unknown>) =>
    t.gql<{ fileComplaint: Complaint }>(FILE, { i: { channel: 'PHONE', category: 'SERVICE', severity: 'MEDIUM', subject: 'Card blocked twice', description: 'The customer says the card was blocked twice.', ...input } }, { token: agent.accessToken });
  const fileOk = async (input: Record<string, unknown>) => {
    const res = await file(input);
    expect(res.errors).toBeUndefined();
    return res.data!.fileComplaint;
  };
  const one = async (id: string) => (await gqlOk<{ complaint: Complaint }>(t.gql, ONE, { id }, co.accessToken)).complaint;
  const act = (token: string, mutation: string, id: string, args = '', vars: Record<string, unknown> = {}) => {
    const types: Record<string, string> = { input: mutation === 'resolveComplaint' ? 'ResolveComplaintInput!' : 'RecordComplaintFeedbackInput!', assigneeId: 'ID!' };
    const decl = Object.keys(vars).map((k) => `, $${k}: ${types[k] ?? 'String!'}`).join('');
    return t.gql<Record<string, Complaint>>(`mutation($id: ID!${decl}) { ${mutation}(id: $id${args}) { ${FIELDS} } }`, { id, ...vars }, { token });
  };
  const actOk = async (token: string, mutation: string, id: string, args = '', vars: Record<string, unknown> = {}) => {
    const res = await act(token, mutation, id, args, vars);
    expect(res.errors).toBeUndefined();
    return res.data![mutation];
  };
  const resolveOk = (id: string) => actOk(agent.accessToken, 'resolveComplaint', id, ', input: $input', { input: { summary: 'Unblocked the card', remedy: 'APOLOGY' } });
  const slaAlerts = async (customerId: string) => (await sql.query(`SELECT id FROM alert WHERE customer_id = $1 AND kind = 'SLA_BREACH'`, [customerId])).rows;

  beforeAll(async () => {
    t = await startTestApp();
    sql = new Client({ connectionString: t.db.url });
    await sql.connect();
    admin = await signInAdmin(t);
    [co, agent, analyst] = [await createStaff(t, admin, 'COMPLIANCE_OFFICER'), await createStaff(t, admin, 'AGENT'), await createStaff(t, admin, 'ANALYST')];
    // The scheduled sweep (wall clock, every minute) is held off here: these tests sweep with their own clock,
    // and a late move must meet no sweep in between — as during a job outage.
    const job = t.app.get(ComplaintSlaJob);
    const real = job.sweep.bind(job);
    sweep = (now) => real(now);
    jest.spyOn(job, 'sweep').mockImplementation((now?: Date) => (now ? real(now) : Promise.resolve({ complaints: 0, breaches: 0 })));
  }, 180_000);
  afterAll(async () => {
    jest.restoreAllMocks();
    await sql?.end();
    await t?.close();
  });

  it('the SLA sweep locks its batch\'s customers in id order before raising anything, as ingest does, so the two never deadlock', async () => {
    const [low, high] = [await customer(), await customer()].sort();
    // The higher id's deadline comes first: deadline order would lock it before the lower one.
    const first = await fileOk({ customerId: high, severity: 'CRITICAL' });
    await fileOk({ customerId: low, severity: 'HIGH' });
    let sweeping: Promise<SweepResult> | undefined;
    await inSideTransaction(t.db.url, async (side) => {
      // What an ingest batch for both customers does: the lower id first, then the higher one.
      await side.query('SELECT id FROM customer WHERE id = $1 FOR UPDATE', [low]);
      sweeping = sweep(new Date(Date.parse(first.receivedAt) + 5 * H));
      sweeping.catch(() => undefined);
      expect(await lockWaiters(side, 1)).toBe(1);
      // The sweep waits for the lower id and holds nothing of the higher one yet: the ingest batch can take it.
      await expect(sql.query('SELECT id FROM customer WHERE id = $1 FOR UPDATE NOWAIT', [high])).resolves.toMatchObject({ rowCount: 1 });
      await side.query('COMMIT');
    });
    expect((await sweeping!).breaches).toBe(2);
    expect(await slaAlerts(low)).toHaveLength(1);
    expect(await slaAlerts(high)).toHaveLength(1);
  });

  it('escalates a deadline reached late with no sweep in between, in the late move\'s transaction, and only once', async () => {
    const cust = await customer();
    const c = await fileOk({ customerId: cust, severity: 'CRITICAL' });
    await sweep(new Date(Date.parse(c.receivedAt) + 30 * 60_000));
    expect((await one(c.id)).escalated).toBe(false);
    // Filed two hours ago: its one-hour acknowledgement deadline passed after that sweep, and no sweep ran since.
    await sql.query(`UPDATE complaint SET received_at = received_at - interval '2 hours', acknowledge_by = acknowledge_by - interval '2 hours' WHERE id = $1`, [c.id]);
    const acknowledgeBy = (await sql.query(`SELECT acknowledge_by FROM complaint WHERE id = $1`, [c.id])).rows[0].acknowledge_by as Date;
    const acked = await actOk(agent.accessToken, 'acknowledgeComplaint', c.id);
    expect(acked.escalated).toBe(true);
    expect(acked.timeline.slice(-2)).toEqual([
      expect.objectContaining({ kind: 'ACKNOWLEDGED', actorType: 'USER' }),
      expect.objectContaining({ kind: 'ESCALATED', actorType: 'SYSTEM', actorId: null, fromStatus: 'ACKNOWLEDGED', toStatus: 'ACKNOWLEDGED', detail: expect.objectContaining({ missed: 'ACKNOWLEDGE', deadline: acknowledgeBy.toISOString(), notified: expect.any(Number) }) }),
    ]);
    const alerts = await slaAlerts(cust);
    expect(alerts).toHaveLength(1);
    // Nobody assigned: every compliance officer hears of it.
    expect((await sql.query(`SELECT alert_id FROM notification WHERE user_id = $1 AND customer_id = $2 AND kind = 'COMPLAINT_SLA_BREACH'`, [co.userId, cust])).rows).toEqual([{ alert_id: alerts[0].id }]);

    // Resolved after its resolve deadline, again with no sweep in between.
    await actOk(agent.accessToken, 'startInvestigation', c.id);
    await sql.query(`UPDATE complaint SET resolve_by = now() - interval '1 minute' WHERE id = $1`, [c.id]);
    const resolved = await resolveOk(c.id);
    expect(resolved.timeline.at(-1)).toMatchObject({ kind: 'ESCALATED', fromStatus: 'RESOLVED', detail: { missed: 'RESOLVE' } });
    expect(await slaAlerts(cust)).toHaveLength(2);

    // The next sweep has nothing left to report for it.
    await sweep(new Date(Date.now() + 30 * 24 * H));
    expect((await one(c.id)).timeline.filter((e) => e.kind === 'ESCALATED').map((e) => e.detail.missed)).toEqual(['ACKNOWLEDGE', 'RESOLVE']);
    expect(await slaAlerts(cust)).toHaveLength(2);
    // A move in time escalates nothing.
    const onTime = await fileOk({ customerId: cust, severity: 'LOW' });
    expect((await actOk(agent.accessToken, 'acknowledgeComplaint', onTime.id)).escalated).toBe(false);
  });

  it('eraseCustomer closes the customer\'s open complaints in its transaction; the SLA sweep reports none of an erased customer\'s', async () => {
    const cust = await customer();
    const received = await fileOk({ customerId: cust, severity: 'CRITICAL' });
    const resolved = await fileOk({ customerId: cust });
    await actOk(agent.accessToken, 'acknowledgeComplaint', resolved.id);
    await actOk(agent.accessToken, 'startInvestigation', resolved.id);
    await resolveOk(resolved.id);
    const closed = await fileOk({ customerId: cust });
    await actOk(agent.accessToken, 'acknowledgeComplaint', closed.id);
    await actOk(agent.accessToken, 'startInvestigation', closed.id);
    await resolveOk(closed.id);
    await actOk(agent.accessToken, 'closeComplaint', closed.id);

    await gqlOk(t.gql, 'mutation($c: String!) { stepUp(code: $c) { expiresAt } }', { c: await freshCode(co.secret) }, co.accessToken);
    await gqlOk(t.gql, 'mutation($id: ID!) { eraseCustomer(id: $id, reason: "GDPR art. 17 request") { id } }', { id: cust }, co.accessToken);

    for (const [c, from] of [[received, 'RECEIVED'], [resolved, 'RESOLVED']] as const) {
      const after = await one(c.id);
      expect(after).toMatchObject({ status: 'CLOSED', closedAt: expect.any(String) });
      expect(after.timeline.at(-1)).toMatchObject({ kind: 'CLOSED', actorType: 'SYSTEM', actorId: null, fromStatus: from, toStatus: 'CLOSED', note: null, detail: { reason: 'CUSTOMER_ERASED' } });
    }
    // Closed before: left as it was.
    expect((await one(closed.id)).timeline.filter((e) => e.kind === 'CLOSED')).toEqual([expect.objectContaining({ actorType: 'USER', actorId: agent.userId })]);
    const audit = await sql.query(`SELECT resource_id, actor_type, details FROM audit_entry WHERE action = 'complaint.close' AND customer_id = $1 AND actor_type = 'SYSTEM' ORDER BY resource_id`, [cust]);
    expect(audit.rows).toEqual([received.id, resolved.id].sort().map((id) => ({ resource_id: id, actor_type: 'SYSTEM', details: expect.objectContaining({ to: 'CLOSED', reason: 'CUSTOMER_ERASED' }) })));

    // A customer erased before this rule (its complaint still open): the sweep leaves it alone too.
    const older = await customer();
    const stale = await fileOk({ customerId: older, severity: 'CRITICAL' });
    await sql.query(`UPDATE customer SET status = 'ERASED', data_key = NULL WHERE id = $1`, [older]);
    await sweep(new Date(Date.now() + 30 * 24 * H));
    for (const id of [received.id, stale.id]) expect((await one(id)).escalated).toBe(false);
    expect(await slaAlerts(cust)).toEqual([]);
    expect(await slaAlerts(older)).toEqual([]);
  });

  it('assigns, notes and takes feedback on a complaint whose state moved while they waited; a complaint closed meanwhile is INVALID_TRANSITION', async () => {
    const cust = await customer();
    const c = await fileOk({ customerId: cust });
    await inSideTransaction(t.db.url, async (side) => {
      await side.query('SELECT 1 FROM complaint WHERE id = $1 FOR UPDATE', [c.id]);
      const assigning = act(co.accessToken, 'assignComplaint', c.id, ', assigneeId: $assigneeId', { assigneeId: agent.userId });
      const noting = act(agent.accessToken, 'addComplaintNote', c.id, ', note: $note', { note: 'Called the branch' });
      expect(await lockWaiters(side, 2)).toBe(2);
      // What an acknowledgement committing first leaves.
      await side.query(`UPDATE complaint SET status = 'ACKNOWLEDGED', acknowledged_at = now() WHERE id = $1`, [c.id]);
      await side.query('COMMIT');
      expect((await assigning).errors).toBeUndefined();
      expect((await noting).errors).toBeUndefined();
    });
    const after = await one(c.id);
    expect(after).toMatchObject({ status: 'ACKNOWLEDGED', assigneeId: agent.userId });
    // Each records the state it found, and neither moved it back.
    expect(after.timeline.filter((e) => ['ASSIGNED', 'NOTE_ADDED'].includes(e.kind)).map((e) => [e.kind, e.fromStatus, e.toStatus]).sort()).toEqual([
      ['ASSIGNED', 'ACKNOWLEDGED', 'ACKNOWLEDGED'], ['NOTE_ADDED', 'ACKNOWLEDGED', 'ACKNOWLEDGED'],
    ]);

    await actOk(agent.accessToken, 'startInvestigation', c.id);
    await resolveOk(c.id);
    await inSideTransaction(t.db.url, async (side) => {
      await side.query('SELECT 1 FROM complaint WHERE id = $1 FOR UPDATE', [c.id]);
      const assigning = act(co.accessToken, 'assignComplaint', c.id, ', assigneeId: $assigneeId', { assigneeId: co.userId });
      const rating = act(agent.accessToken, 'recordComplaintFeedback', c.id, ', input: $input', { input: { satisfaction: 4 } });
      expect(await lockWaiters(side, 2)).toBe(2);
      // What a closeComplaint committing first leaves.
      await side.query(`UPDATE complaint SET status = 'CLOSED', closed_at = now() WHERE id = $1`, [c.id]);
      await side.query('COMMIT');
      expect((await assigning).errors?.[0]?.extensions).toMatchObject({ code: 'INVALID_TRANSITION', from: 'CLOSED', to: 'ASSIGNED' });
      // Feedback is taken on a RESOLVED or a CLOSED complaint.
      expect((await rating).errors).toBeUndefined();
    });
    const closed = await one(c.id);
    expect(closed.assigneeId).toBe(agent.userId);
    expect(closed.timeline.at(-1)).toMatchObject({ kind: 'FEEDBACK_RECORDED', fromStatus: 'CLOSED', toStatus: 'CLOSED' });
  });

  it('refuses a complaint for a customer erased while the filing waited (CONFLICT), filing nothing', async () => {
    const cust = await customer();
    await inSideTransaction(t.db.url, async (side) => {
      await side.query('SELECT 1 FROM customer WHERE id = $1 FOR UPDATE', [cust]);
      const filing = file({ customerId: cust });
      expect(await lockWaiters(side, 1)).toBe(1);
      // What an eraseCustomer committing first leaves.
      await side.query(`UPDATE customer SET status = 'ERASED', data_key = NULL, full_name = NULL, erased_at = now() WHERE id = $1`, [cust]);
      await side.query('COMMIT');
      expect(codeOf(await filing)).toBe('CONFLICT');
    });
    expect((await sql.query(`SELECT 1 FROM complaint WHERE customer_id = $1`, [cust])).rowCount).toBe(0);
  });

  it('raises a new SYSTEMIC alert when a spike goes on after its alert was closed, and points the spike at it', async () => {
    const cust = await customer();
    const systemic = async () => (await sql.query(`SELECT id, status, occurrences FROM alert WHERE kind = 'SYSTEMIC' ORDER BY created_at`)).rows;
    const before = (await systemic()).length;
    // No DATA_PRIVACY history: the fifth in 24 h is a spike.
    for (let i = 0; i < 5; i++) await fileOk({ customerId: cust, category: 'DATA_PRIVACY' });
    const [raised] = (await systemic()).slice(before);
    expect(raised).toMatchObject({ status: 'OPEN', occurrences: 1 });
    await gqlOk(t.gql, 'mutation($id: ID!) { transitionAlert(id: $id, input: {to: CLOSED, disposition: FALSE_POSITIVE}) { status } }', { id: raised.id }, analyst.accessToken);

    const next = await fileOk({ customerId: cust, category: 'DATA_PRIVACY' });
    const [closed, reopened, ...none] = (await systemic()).slice(before);
    expect(none).toEqual([]);
    expect(closed).toEqual({ id: raised.id, status: 'CLOSED', occurrences: 1 });
    expect(reopened).toMatchObject({ status: 'OPEN', occurrences: 1 });
    expect(next.timeline[0].detail).toMatchObject({ systemicAlertId: reopened.id });
    expect((await sql.query(`SELECT alert_id, complaints FROM complaint_spike WHERE category = 'DATA_PRIVACY'`)).rows).toEqual([{ alert_id: reopened.id, complaints: 2 }]);
    // Still spiking: the new alert counts the next one.
    await fileOk({ customerId: cust, category: 'DATA_PRIVACY' });
    expect((await systemic()).slice(before)).toEqual([closed, { ...reopened, occurrences: 2 }]);
  });

  it('complaintStats counts a complaint closed by erasure as breached only for a deadline that passed before it closed', async () => {
    const cust = await customer();
    // Erased before their deadlines: one still RECEIVED (CRITICAL: 1 h / 24 h), one acknowledged, not resolved (MEDIUM: 24 h / 7 d).
    const received = await fileOk({ customerId: cust, severity: 'CRITICAL' });
    const acknowledged = await fileOk({ customerId: cust, severity: 'MEDIUM' });
    await actOk(agent.accessToken, 'acknowledgeComplaint', acknowledged.id);
    // Erased after a deadline passed unmet, with no sweep in between: filed 2 h before and never acknowledged;
    // acknowledged in time, filed 8 days before and never resolved.
    const unacknowledged = await fileOk({ customerId: cust, severity: 'CRITICAL' });
    const unresolved = await fileOk({ customerId: cust, severity: 'MEDIUM' });
    await actOk(agent.accessToken, 'acknowledgeComplaint', unresolved.id);
    const back = (id: string, by: string) =>
      sql.query(`UPDATE complaint SET received_at = received_at - $2::interval, acknowledge_by = acknowledge_by - $2::interval, resolve_by = resolve_by - $2::interval,
                        acknowledged_at = acknowledged_at - $2::interval WHERE id = $1`, [id, by]);
    await back(unacknowledged.id, '2 hours');
    await back(unresolved.id, '8 days');

    await gqlOk(t.gql, 'mutation($c: String!) { stepUp(code: $c) { expiresAt } }', { c: await freshCode(co.secret) }, co.accessToken);
    await gqlOk(t.gql, 'mutation($id: ID!) { eraseCustomer(id: $id, reason: "GDPR art. 17 request") { id } }', { id: cust }, co.accessToken);
    const all = [received, acknowledged, unacknowledged, unresolved];
    // Not escalated: any breach below comes from the deadlines and closedAt alone.
    for (const c of all) expect(await one(c.id)).toMatchObject({ status: 'CLOSED', escalated: false });

    // Moved to June 2024, one day each, every interval kept: now all their deadlines lie long in the past.
    for (const [i, c] of all.entries()) {
      await sql.query(
        `UPDATE complaint SET received_at = $2::timestamptz, acknowledge_by = acknowledge_by + ($2::timestamptz - received_at), resolve_by = resolve_by + ($2::timestamptz - received_at),
                acknowledged_at = acknowledged_at + ($2::timestamptz - received_at), closed_at = closed_at + ($2::timestamptz - received_at) WHERE id = $1`,
        [c.id, `2024-06-0${3 + i}T08:00:00Z`],
      );
    }
    const stats = await gqlOk<{ complaintStats: unknown[] }>(t.gql, 'query($i: ComplaintStatsInput!) { complaintStats(input: $i) { key count open slaBreached } }',
      { i: { from: '2024-06-01T00:00:00Z', to: '2024-06-08T00:00:00Z', groupBy: 'DAY' } }, co.accessToken);
    expect(stats.complaintStats).toEqual([
      { key: '2024-06-03', count: 1, open: 0, slaBreached: 0 },
      { key: '2024-06-04', count: 1, open: 0, slaBreached: 0 },
      { key: '2024-06-05', count: 1, open: 0, slaBreached: 1 },
      { key: '2024-06-06', count: 1, open: 0, slaBreached: 1 },
    ]);
  });

  it('lists timeline entries one transaction wrote in the same millisecond in the order it wrote them', async () => {
    type Entry = { id: string; kind: string; missed: string | null; tx: string };
    const entries = async (complaintId: string) =>
      (await sql.query(`SELECT id, kind, detail->>'missed' AS missed, xmin::text AS tx FROM complaint_activity WHERE complaint_id = $1 AND kind <> 'FILED'`, [complaintId])).rows as Entry[];
    // Two entries of one transaction get the same created_at, and ids that sort against the order they were
    // written in: only the write order tells them apart.
    const sameMillisecond = async (first: Entry, second: Entry) => {
      expect(first.tx).toBe(second.tx);
      await sql.query(
        `UPDATE complaint_activity SET created_at = (SELECT min(created_at) FROM complaint_activity WHERE id = ANY($1::uuid[])),
                id = CASE WHEN id = $2::uuid THEN $3::uuid ELSE $4::uuid END
          WHERE id = ANY($1::uuid[])`,
        [[first.id, second.id], first.id, `ffffffff${randomUUID().slice(8)}`, `00000000${randomUUID().slice(8)}`],
      );
    };
    const cust = await customer();

    // The sweep reports both deadlines of one complaint in one transaction: ACKNOWLEDGE, then RESOLVE.
    const both = await fileOk({ customerId: cust, severity: 'CRITICAL' });
    await sweep(new Date(Date.parse(both.receivedAt) + 25 * H));
    const swept = await entries(both.id);
    await sameMillisecond(swept.find((e) => e.missed === 'ACKNOWLEDGE')!, swept.find((e) => e.missed === 'RESOLVE')!);
    const sweptTimeline = (await one(both.id)).timeline;
    expect(sweptTimeline.map((e) => [e.kind, e.detail.missed ?? null])).toEqual([['FILED', null], ['ESCALATED', 'ACKNOWLEDGE'], ['ESCALATED', 'RESOLVE']]);
    expect(sweptTimeline[1].at).toBe(sweptTimeline[2].at);

    // A late acknowledgement writes its entry, then the ESCALATED one, in its transaction.
    const late = await fileOk({ customerId: cust, severity: 'CRITICAL' });
    await sql.query(`UPDATE complaint SET received_at = received_at - interval '2 hours', acknowledge_by = acknowledge_by - interval '2 hours' WHERE id = $1`, [late.id]);
    await actOk(agent.accessToken, 'acknowledgeComplaint', late.id);
    const moved = await entries(late.id);
    await sameMillisecond(moved.find((e) => e.kind === 'ACKNOWLEDGED')!, moved.find((e) => e.kind === 'ESCALATED')!);
    expect((await one(late.id)).timeline.map((e) => e.kind)).toEqual(['FILED', 'ACKNOWLEDGED', 'ESCALATED']);
  });
});
