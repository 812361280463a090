import { execFileSync } from 'node:child_process';
import { Client } from 'pg';
import { RecurringJobs } from '../../src/common/jobs/recurring-jobs.service';
import { ComplaintSlaJob } from '../../src/modules/complaints/complaint-sla.service';
import { startTestApp, type GraphQLResponse, type TestApp } from '../helpers/app';
import { createStaff, gqlOk, signInAdmin, type SignedIn } from '../helpers/auth';
import { partnerWithToken } from '../helpers/monitoring';
import { spyOnQueries } from '../helpers/postgres';

type Res = Pick<GraphQLResponse, 'errors'>;
const codeOf = (res: Res) => res.errors?.[0]?.extensions?.code;
const fieldPaths = (res: Res) => ((res.errors?.[0]?.extensions?.fieldErrors ?? []) as Array<{ path: string }>).map((e) => e.path);
const H = 3_600_000;

const FIELDS = `id customerId channel category severity subject description status assigneeId filedByPartnerId receivedAt acknowledgeBy resolveBy
  acknowledgedAt closedAt escalated overdue reopenCount resolution { summary remedy amount resolvedAt } feedback { satisfaction comment recordedAt }
  timeline { kind actorType actorId fromStatus toStatus note detail at }`;
const FILE = `mutation($i: FileComplaintInput!) { fileComplaint(input: $i) { ${FIELDS} } }`;
const ONE = `query($id: ID!) { complaint(id: $id) { ${FIELDS} } }`;
const LIST = 'query($f: ComplaintsFilter, $first: Int, $after: String) { complaints(filter: $f, first: $first, after: $after) { totalCount nodes { id status escalated overdue } pageInfo { hasNextPage endCursor } } }';

interface Complaint {
  id: string; customerId: string; channel: string; category: string; severity: string; subject: string; description: string | null; status: string;
  assigneeId: string | null; filedByPartnerId: string | null; receivedAt: string; acknowledgeBy: string; resolveBy: string; acknowledgedAt: string | null;
  closedAt: string | null; escalated: boolean; overdue: boolean; reopenCount: number;
  resolution: { summary: string | null; remedy: string; amount: string | null; resolvedAt: string } | null;
  feedback: { satisfaction: number; comment: string | null; recordedAt: string } | null;
  timeline: Array<{ kind: string; actorType: string; actorId: string | null; fromStatus: string | null; toStatus: string | null; note: string | null; detail: Record<string, unknown>; at: string }>;
}

describe('complaints', () => {
  let t: TestApp;
  let sql: Client;
  let admin: SignedIn, co: SignedIn, co2: SignedIn, agent: SignedIn, am: SignedIn, am2: SignedIn, analyst: SignedIn, auditor: SignedIn;
  let partnerA: { id: string; token: string }, partnerB: { id: string; token: string }, writeOnly: { id: string; token: string };
  let n = 0;

  const customer = async (token: string, extra: Record<string, unknown> = {}) =>
    (await gqlOk<{ createCustomer: { id: string } }>(t.gql, 'mutation($i: CreateCustomerInput!) { createCustomer(input: $i) { id } }', { i: { externalRef: `cmp-${++n}`, ...extra } }, token)).createCustomer.id;
  const file = (token: string, input: Record<string, unknown>) =>
    t.gql<{ fileComplaint: Complaint }>(FILE, { i: { channel: 'PHONE', category: 'SERVICE', severity: 'MEDIUM', subject: 'Rude answer at the counter', description: 'The customer says staff were rude.', ...input } }, { token });
  const fileOk = async (token: string, input: Record<string, unknown>) => {
    const res = await file(token, input);
    expect(res.errors).toBeUndefined();
    return res.data!.fileComplaint;
  };
  const one = (token: string, id: string) => t.gql<{ complaint: Complaint | null }>(ONE, { id }, { token });
  const act = (token: string, mutation: string, id: string, args = '', vars: Record<string, unknown> = {}) => {
    const decl = Object.keys(vars).map((k) => `, $${k}: ${k === 'input' ? (mutation === 'resolveComplaint' ? 'ResolveComplaintInput!' : 'RecordComplaintFeedbackInput!') : k === 'assigneeId' ? 'ID!' : 'String!'}`).join('');
    return t.gql<Record<string, Complaint>>(`mutation($id: ID!${decl}) { ${mutation}(id: $id${args}) { ${FIELDS} } }`, { id, ...vars }, { token });
  };
  const actOk = async (token: string, mutation: string, id: string, args = '', vars: Record<string, unknown> = {}) => {
    const res = await act(token, mutation, id, args, vars);
    expect(res.errors).toBeUndefined();
    return res.data![mutation];
  };
  const resolve = (token: string, id: string, input: Record<string, unknown> = { summary: 'Apologised and refunded the fee', remedy: 'REFUND', amount: '25.00' }) =>
    act(token, 'resolveComplaint', id, ', input: $input', { input });
  const feedback = (token: string, id: string, input: Record<string, unknown>) => act(token, 'recordComplaintFeedback', id, ', input: $input', { input });

  beforeAll(async () => {
    t = await startTestApp();
    sql = new Client({ connectionString: t.db.url });
    await sql.connect();
    admin = await signInAdmin(t);
    [co, co2, agent, am, am2, analyst, auditor] = [
      await createStaff(t, admin, 'COMPLIANCE_OFFICER'), await createStaff(t, admin, 'COMPLIANCE_OFFICER'), await createStaff(t, admin, 'AGENT'),
      await createStaff(t, admin, 'ACCOUNT_MANAGER'), await createStaff(t, admin, 'ACCOUNT_MANAGER'), await createStaff(t, admin, 'ANALYST'), await createStaff(t, admin, 'AUDITOR'),
    ];
    const scopes = ['customers:read', 'customers:write', 'complaints:read', 'complaints:write'];
    partnerA = await partnerWithToken(t, admin, 'EXTERNAL', scopes);
    partnerB = await partnerWithToken(t, admin, 'EXTERNAL', scopes);
    writeOnly = await partnerWithToken(t, admin, 'EXTERNAL', ['customers:read', 'customers:write', 'complaints:write']);
  }, 180_000);
  afterAll(async () => {
    await sql?.end();
    await t?.close();
  });

  it('files a complaint with SLA deadlines per severity, in calendar hours from receivedAt', async () => {
    const cust = await customer(agent.accessToken);
    const expected: Record<string, [number, number]> = { CRITICAL: [1, 24], HIGH: [4, 72], MEDIUM: [24, 168], LOW: [48, 336] };
    for (const [severity, [ack, res]] of Object.entries(expected)) {
      const c = await fileOk(agent.accessToken, { customerId: cust, severity, channel: 'EMAIL', category: 'PRODUCT_QUALITY' });
      const received = Date.parse(c.receivedAt);
      expect({ severity, ack: (Date.parse(c.acknowledgeBy) - received) / H, res: (Date.parse(c.resolveBy) - received) / H }).toEqual({ severity, ack, res });
      expect(c).toMatchObject({ status: 'RECEIVED', escalated: false, overdue: false, channel: 'EMAIL', category: 'PRODUCT_QUALITY', description: 'The customer says staff were rude.', filedByPartnerId: null });
      expect(c.timeline).toEqual([expect.objectContaining({ kind: 'FILED', actorType: 'USER', actorId: agent.userId, fromStatus: null, toStatus: 'RECEIVED' })]);
    }
    const audit = await sql.query(`SELECT actor_id, details FROM audit_entry WHERE action = 'complaint.file' AND customer_id = $1`, [cust]);
    expect(audit.rows).toHaveLength(4);
    expect(audit.rows[0].details).toMatchObject({ to: 'RECEIVED', channel: 'EMAIL', category: 'PRODUCT_QUALITY' });
  });

  it('refuses an unknown category, empty text and a bad customer id with BAD_USER_INPUT naming the field', async () => {
    const cust = await customer(agent.accessToken);
    const unknown = await file(agent.accessToken, { customerId: cust, category: 'LOST_CARD' });
    expect(codeOf(unknown)).toBe('BAD_USER_INPUT');
    expect(fieldPaths(unknown)).toEqual(['category']);
    expect(fieldPaths(await file(agent.accessToken, { customerId: cust, category: 'lower' }))).toEqual(['category']);
    const empty = await file(agent.accessToken, { customerId: cust, subject: '   ', description: '' });
    expect(codeOf(empty)).toBe('BAD_USER_INPUT');
    expect(fieldPaths(empty).sort()).toEqual(['description', 'subject']);
    expect(fieldPaths(await file(agent.accessToken, { customerId: 'nope' }))).toEqual(['customerId']);
    expect(codeOf(await file(agent.accessToken, { customerId: '00000000-0000-4000-8000-000000000000' }))).toBe('NOT_FOUND');
  });

  it('walks every legal transition, records each on the timeline with actor and time, and audits each', async () => {
    const cust = await customer(agent.accessToken);
    const c = await fileOk(agent.accessToken, { customerId: cust, severity: 'HIGH' });
    await actOk(co.accessToken, 'assignComplaint', c.id, ', assigneeId: $assigneeId', { assigneeId: agent.userId });
    expect((await actOk(agent.accessToken, 'acknowledgeComplaint', c.id)).acknowledgedAt).not.toBeNull();
    await actOk(agent.accessToken, 'startInvestigation', c.id);
    await actOk(agent.accessToken, 'addComplaintNote', c.id, ', note: $note', { note: 'Called the branch manager' });
    const resolved = (await resolve(agent.accessToken, c.id)).data!.resolveComplaint;
    expect(resolved).toMatchObject({ status: 'RESOLVED', resolution: { summary: 'Apologised and refunded the fee', remedy: 'REFUND', amount: '25.00' } });
    const reopened = await actOk(co.accessToken, 'reopenComplaint', c.id, ', reason: $reason', { reason: 'Refund never arrived' });
    expect(reopened).toMatchObject({ status: 'REOPENED', reopenCount: 1, resolution: null });
    await actOk(agent.accessToken, 'startInvestigation', c.id);
    await resolve(agent.accessToken, c.id, { summary: 'Refund re-sent', remedy: 'APOLOGY' });
    const closed = await actOk(agent.accessToken, 'closeComplaint', c.id);
    expect(closed).toMatchObject({ status: 'CLOSED', resolution: { summary: 'Refund re-sent', remedy: 'APOLOGY', amount: null } });
    expect(closed.closedAt).not.toBeNull();

    const timeline = closed.timeline.map((e) => [e.kind, e.actorId, e.fromStatus, e.toStatus, e.note]);
    expect(timeline).toEqual([
      ['FILED', agent.userId, null, 'RECEIVED', null],
      ['ASSIGNED', co.userId, 'RECEIVED', 'RECEIVED', null],
      ['ACKNOWLEDGED', agent.userId, 'RECEIVED', 'ACKNOWLEDGED', null],
      ['INVESTIGATION_STARTED', agent.userId, 'ACKNOWLEDGED', 'INVESTIGATING', null],
      ['NOTE_ADDED', agent.userId, 'INVESTIGATING', 'INVESTIGATING', 'Called the branch manager'],
      ['RESOLVED', agent.userId, 'INVESTIGATING', 'RESOLVED', 'Apologised and refunded the fee'],
      ['REOPENED', co.userId, 'RESOLVED', 'REOPENED', 'Refund never arrived'],
      ['INVESTIGATION_STARTED', agent.userId, 'REOPENED', 'INVESTIGATING', null],
      ['RESOLVED', agent.userId, 'INVESTIGATING', 'RESOLVED', 'Refund re-sent'],
      ['CLOSED', agent.userId, 'RESOLVED', 'CLOSED', null],
    ]);
    expect(closed.timeline[1].detail).toEqual({ assigneeId: agent.userId });
    const times = closed.timeline.map((e) => Date.parse(e.at));
    expect([...times].sort((a, b) => a - b)).toEqual(times);

    const audit = await sql.query(`SELECT action, actor_id, details FROM audit_entry WHERE resource_id = $1 AND resource_type = 'Complaint' ORDER BY id`, [c.id]);
    expect(audit.rows.map((r) => r.action)).toEqual([
      'complaint.file', 'complaint.assign', 'complaint.acknowledge', 'complaint.start_investigation', 'complaint.note', 'complaint.resolve',
      'complaint.reopen', 'complaint.start_investigation', 'complaint.resolve', 'complaint.close',
    ]);
    // Facts only: the note, the reason and the summary never reach the audit log.
    expect(JSON.stringify(audit.rows)).not.toMatch(/branch manager|never arrived|refunded the fee/);
  });

  it('counts open complaints toward the risk score, rescoring on filing and on every change of state', async () => {
    const RISK = 'query($id: ID!) { customer(id: $id) { riskScore riskFactors { factor points detail } riskHistory(first: 20) { nodes { score reason } } } }';
    type Risk = { customer: { riskScore: number; riskFactors: Array<{ factor: string; points: number; detail: string }>; riskHistory: { nodes: Array<{ score: number; reason: string }> } } };
    const risk = async (id: string) => (await gqlOk<Risk>(t.gql, RISK, { id }, co.accessToken)).customer;
    const complaints = (r: Risk['customer']) => r.riskFactors.find((f) => f.factor === 'COMPLAINTS') ?? null;
    const cust = await customer(agent.accessToken);
    const before = await risk(cust);
    expect(complaints(before)).toBeNull();

    const high = await fileOk(agent.accessToken, { customerId: cust, severity: 'HIGH' });
    const one = await risk(cust);
    expect(complaints(one)).toEqual({ factor: 'COMPLAINTS', points: 5, detail: '1 open (1 HIGH)' });
    expect(one.riskFactors.map((f) => f.factor)).toEqual(['COMPLAINTS', 'VERIFICATION_LEVEL', 'ACCOUNT_AGE']);
    expect(one.riskScore).toBe(one.riskFactors.reduce((sum, f) => sum + f.points, 0));
    expect(one.riskHistory.nodes[0]).toEqual({ score: one.riskScore, reason: 'complaint.file' });

    // A third complaint in 90 days makes a repeat complainant; the factor is capped at 15.
    await fileOk(agent.accessToken, { customerId: cust, severity: 'LOW' });
    await fileOk(agent.accessToken, { customerId: cust, severity: 'CRITICAL' });
    expect(complaints(await risk(cust))).toEqual({ factor: 'COMPLAINTS', points: 15, detail: '3 open (1 CRITICAL, 1 HIGH, 1 LOW); 3 received in 90 days (capped at 15)' });

    // Resolving one takes its points off (the repeat points stay: it was still received).
    await actOk(agent.accessToken, 'acknowledgeComplaint', high.id);
    await actOk(agent.accessToken, 'startInvestigation', high.id);
    expect((await resolve(agent.accessToken, high.id)).errors).toBeUndefined();
    const resolved = await risk(cust);
    expect(complaints(resolved)).toEqual({ factor: 'COMPLAINTS', points: 14, detail: '2 open (1 CRITICAL, 1 LOW); 3 received in 90 days' });
    expect(resolved.riskHistory.nodes[0]).toEqual({ score: resolved.riskScore, reason: 'complaint.resolve' });
    // Reopening puts them back.
    await actOk(agent.accessToken, 'reopenComplaint', high.id, ', reason: $reason', { reason: 'Refund never arrived' });
    expect(complaints(await risk(cust))!.points).toBe(15);
  });

  it('refuses illegal moves with INVALID_TRANSITION naming the current and requested state', async () => {
    const cust = await customer(agent.accessToken);
    const c = await fileOk(agent.accessToken, { customerId: cust });
    const expectInvalid = async (res: Res, from: string, to: string) => {
      expect(codeOf(res)).toBe('INVALID_TRANSITION');
      expect(res.errors![0].extensions).toMatchObject({ from, to });
      expect(res.errors![0].message).toContain(from);
    };
    await expectInvalid(await act(agent.accessToken, 'startInvestigation', c.id), 'RECEIVED', 'INVESTIGATING');
    await expectInvalid(await resolve(agent.accessToken, c.id), 'RECEIVED', 'RESOLVED');
    await expectInvalid(await act(agent.accessToken, 'closeComplaint', c.id), 'RECEIVED', 'CLOSED');
    await expectInvalid(await act(agent.accessToken, 'reopenComplaint', c.id, ', reason: $reason', { reason: 'x' }), 'RECEIVED', 'REOPENED');
    await actOk(agent.accessToken, 'acknowledgeComplaint', c.id);
    await expectInvalid(await act(agent.accessToken, 'acknowledgeComplaint', c.id), 'ACKNOWLEDGED', 'ACKNOWLEDGED');
    await expectInvalid(await act(agent.accessToken, 'closeComplaint', c.id), 'ACKNOWLEDGED', 'CLOSED');
    await actOk(agent.accessToken, 'startInvestigation', c.id);
    await expectInvalid(await act(agent.accessToken, 'reopenComplaint', c.id, ', reason: $reason', { reason: 'x' }), 'INVESTIGATING', 'REOPENED');
    await resolve(agent.accessToken, c.id, { summary: 'Done', remedy: 'NONE' });
    await expectInvalid(await act(agent.accessToken, 'startInvestigation', c.id), 'RESOLVED', 'INVESTIGATING');
    await actOk(agent.accessToken, 'closeComplaint', c.id);
    await expectInvalid(await act(agent.accessToken, 'reopenComplaint', c.id, ', reason: $reason', { reason: 'x' }), 'CLOSED', 'REOPENED');
    // Assigning and notes work in every state but CLOSED.
    await expectInvalid(await act(agent.accessToken, 'addComplaintNote', c.id, ', note: $note', { note: 'late note' }), 'CLOSED', 'NOTE_ADDED');
    await expectInvalid(await act(agent.accessToken, 'assignComplaint', c.id, ', assigneeId: $assigneeId', { assigneeId: agent.userId }), 'CLOSED', 'ASSIGNED');
    // A refused move leaves no trace.
    expect((await one(agent.accessToken, c.id)).data!.complaint!.timeline.map((e) => e.kind)).toEqual(['FILED', 'ACKNOWLEDGED', 'INVESTIGATION_STARTED', 'RESOLVED', 'CLOSED']);
  });

  it('refuses complaints for a terminated customer, and new text once the customer is erased (CONFLICT)', async () => {
    const terminated = await customer(agent.accessToken);
    await sql.query(`UPDATE customer SET status = 'TERMINATED' WHERE id = $1`, [terminated]);
    expect(codeOf(await file(agent.accessToken, { customerId: terminated }))).toBe('CONFLICT');
    const erased = await customer(agent.accessToken);
    const c = await fileOk(agent.accessToken, { customerId: erased });
    await sql.query(`UPDATE customer SET status = 'ERASED', data_key = NULL WHERE id = $1`, [erased]);
    expect(codeOf(await act(agent.accessToken, 'addComplaintNote', c.id, ', note: $note', { note: 'after erasure' }))).toBe('CONFLICT');
    // Crypto-shredded: the description is gone, the non-PII facts and the workflow remain.
    const after = await actOk(agent.accessToken, 'acknowledgeComplaint', c.id);
    expect(after).toMatchObject({ status: 'ACKNOWLEDGED', description: null, subject: 'Rude answer at the counter' });
  });

  it('validates resolution amounts, assignees and notes', async () => {
    const cust = await customer(agent.accessToken, { accountManagerId: am.userId });
    const c = await fileOk(agent.accessToken, { customerId: cust });
    expect(fieldPaths(await act(co.accessToken, 'assignComplaint', c.id, ', assigneeId: $assigneeId', { assigneeId: analyst.userId }))).toEqual(['assigneeId']);
    expect(fieldPaths(await act(co.accessToken, 'assignComplaint', c.id, ', assigneeId: $assigneeId', { assigneeId: am2.userId }))).toEqual(['assigneeId']);
    expect((await actOk(co.accessToken, 'assignComplaint', c.id, ', assigneeId: $assigneeId', { assigneeId: am.userId })).assigneeId).toBe(am.userId);
    // Authorization before validation: another account manager hears NOT_FOUND whatever the assignee it sent.
    for (const assigneeId of ['x', am2.userId]) expect(codeOf(await act(am2.accessToken, 'assignComplaint', c.id, ', assigneeId: $assigneeId', { assigneeId }))).toBe('NOT_FOUND');
    expect(fieldPaths(await act(co.accessToken, 'assignComplaint', c.id, ', assigneeId: $assigneeId', { assigneeId: 'x' }))).toEqual(['assigneeId']);
    expect(fieldPaths(await act(agent.accessToken, 'addComplaintNote', c.id, ', note: $note', { note: '  ' }))).toEqual(['note']);
    await actOk(agent.accessToken, 'acknowledgeComplaint', c.id);
    await actOk(agent.accessToken, 'startInvestigation', c.id);
    expect(fieldPaths(await resolve(agent.accessToken, c.id, { summary: 'Paid', remedy: 'COMPENSATION' }))).toEqual(['amount']);
    expect(fieldPaths(await resolve(agent.accessToken, c.id, { summary: 'Sorry', remedy: 'APOLOGY', amount: '5.00' }))).toEqual(['amount']);
    expect(fieldPaths(await resolve(agent.accessToken, c.id, { summary: 'Paid', remedy: 'REFUND', amount: '-5.00' }))).toEqual(['amount']);
    // remedy_amount is numeric(20,2): a third decimal is refused rather than rounded away.
    const third = await resolve(agent.accessToken, c.id, { summary: 'Paid', remedy: 'REFUND', amount: '5.005' });
    expect(third.errors?.[0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', fieldErrors: [{ path: 'amount', message: 'must have at most 2 decimals' }] });
    expect((await resolve(agent.accessToken, c.id, { summary: 'Paid', remedy: 'REFUND', amount: '5.10' })).data!.resolveComplaint).toMatchObject({ resolution: { amount: '5.10' } });
  });

  it('takes feedback 1–5 only after resolution; 0, 6 and 3.5 are refused; ≤ 2 raises LOW_SATISFACTION', async () => {
    const cust = await customer(agent.accessToken);
    const c = await fileOk(agent.accessToken, { customerId: cust });
    expect(codeOf(await feedback(agent.accessToken, c.id, { satisfaction: 4 }))).toBe('INVALID_TRANSITION');
    await actOk(agent.accessToken, 'acknowledgeComplaint', c.id);
    await actOk(agent.accessToken, 'startInvestigation', c.id);
    await resolve(agent.accessToken, c.id);
    for (const satisfaction of [0, 6, -1]) {
      const res = await feedback(agent.accessToken, c.id, { satisfaction });
      expect(codeOf(res)).toBe('BAD_USER_INPUT');
      expect(fieldPaths(res)).toEqual(['satisfaction']);
    }
    expect(codeOf(await feedback(agent.accessToken, c.id, { satisfaction: 3.5 }))).toBe('BAD_USER_INPUT');
    expect(codeOf(await t.gql(`mutation { recordComplaintFeedback(id: "${c.id}", input: {satisfaction: 2.5}) { id } }`, undefined, { token: agent.accessToken }))).toMatch(/BAD_USER_INPUT|GRAPHQL_VALIDATION_FAILED/);
    expect((await sql.query(`SELECT 1 FROM early_warning WHERE customer_id = $1`, [cust])).rowCount).toBe(0);

    const rated = (await feedback(agent.accessToken, c.id, { satisfaction: 2, comment: 'Took far too long' })).data!.recordComplaintFeedback;
    expect(rated.feedback).toMatchObject({ satisfaction: 2, comment: 'Took far too long' });
    expect(rated.timeline.at(-1)).toMatchObject({ kind: 'FEEDBACK_RECORDED', detail: { satisfaction: 2 }, note: 'Took far too long' });
    const warning = await sql.query(`SELECT type, status, detail FROM early_warning WHERE customer_id = $1`, [cust]);
    expect(warning.rows).toEqual([{ type: 'LOW_SATISFACTION', status: 'OPEN', detail: { satisfaction: 2, threshold: 2, complaintId: c.id } }]);
    // A satisfied verdict raises nothing more.
    const other = await fileOk(agent.accessToken, { customerId: await customer(agent.accessToken) });
    await actOk(agent.accessToken, 'acknowledgeComplaint', other.id);
    await actOk(agent.accessToken, 'startInvestigation', other.id);
    await resolve(agent.accessToken, other.id);
    await actOk(agent.accessToken, 'closeComplaint', other.id);
    expect((await feedback(agent.accessToken, other.id, { satisfaction: 5 })).data!.recordComplaintFeedback.feedback).toMatchObject({ satisfaction: 5, comment: null });
    expect((await sql.query(`SELECT 1 FROM early_warning WHERE customer_id = $1`, [other.customerId])).rowCount).toBe(0);
  });

  it('the SLA job escalates missed deadlines once, notifies and raises SLA_BREACH alerts (controllable clock)', async () => {
    const job = t.app.get(ComplaintSlaJob);
    const cust = await customer(agent.accessToken);
    const c = await fileOk(agent.accessToken, { customerId: cust, severity: 'CRITICAL' });
    const received = Date.parse(c.receivedAt);
    // Everything else filed so far is reported too when the clock jumps; count only this complaint's effects.
    const alertsOf = async () => (await sql.query(`SELECT kind, severity, customer_id FROM alert WHERE customer_id = $1 AND kind = 'SLA_BREACH'`, [cust])).rows;
    const notes = async (userId: string) => (await sql.query(`SELECT kind, alert_id FROM notification WHERE user_id = $1 AND customer_id = $2`, [userId, cust])).rows;

    await job.sweep(new Date(received + 30 * 60_000));
    expect((await one(agent.accessToken, c.id)).data!.complaint!.escalated).toBe(false);

    const first = await job.sweep(new Date(received + 61 * 60_000));
    expect(first.breaches).toBeGreaterThanOrEqual(1);
    let now = (await one(agent.accessToken, c.id)).data!.complaint!;
    expect(now.escalated).toBe(true);
    expect(now.timeline.at(-1)).toMatchObject({ kind: 'ESCALATED', actorType: 'SYSTEM', actorId: null, detail: { missed: 'ACKNOWLEDGE', deadline: c.acknowledgeBy } });
    expect(await alertsOf()).toEqual([{ kind: 'SLA_BREACH', severity: 'CRITICAL', customer_id: cust }]);
    // Unassigned: every compliance officer hears of it.
    expect(await notes(co.userId)).toHaveLength(1);
    expect(await notes(co2.userId)).toHaveLength(1);
    expect(await notes(agent.userId)).toHaveLength(0);
    const myNotes = await gqlOk<{ myNotifications: { nodes: Array<{ kind: string; alertId: string }> } }>(t.gql, '{ myNotifications { nodes { kind alertId } } }', undefined, co.accessToken);
    expect(myNotes.myNotifications.nodes.map((x) => x.kind)).toContain('COMPLAINT_SLA_BREACH');

    // Idempotent: the same clock again finds nothing new for it.
    await job.sweep(new Date(received + 61 * 60_000));
    expect(await alertsOf()).toHaveLength(1);

    // Assigned and acknowledged, then the resolve deadline passes: the assignee alone is notified.
    await actOk(co.accessToken, 'assignComplaint', c.id, ', assigneeId: $assigneeId', { assigneeId: agent.userId });
    await actOk(agent.accessToken, 'acknowledgeComplaint', c.id);
    await job.sweep(new Date(received + 25 * H));
    now = (await one(agent.accessToken, c.id)).data!.complaint!;
    expect(now.timeline.filter((e) => e.kind === 'ESCALATED').map((e) => e.detail.missed)).toEqual(['ACKNOWLEDGE', 'RESOLVE']);
    expect(await alertsOf()).toHaveLength(2);
    expect(await notes(agent.userId)).toHaveLength(1);
    expect(await notes(co.userId)).toHaveLength(1);
    await job.sweep(new Date(received + 48 * H));
    expect(await alertsOf()).toHaveLength(2);

    const alertsApi = await gqlOk<{ alerts: { nodes: Array<{ kind: string; rule: unknown; customer: { id: string } }> } }>(t.gql, 'query($c: ID!) { alerts(filter: {customerId: $c}) { nodes { kind rule { code } customer { id } } } }', { c: cust }, co.accessToken);
    expect(alertsApi.alerts.nodes).toEqual([{ kind: 'SLA_BREACH', rule: null, customer: { id: cust } }, { kind: 'SLA_BREACH', rule: null, customer: { id: cust } }]);
    expect((await sql.query(`SELECT actor_type FROM audit_entry WHERE action = 'complaint.escalate' AND resource_id = $1`, [c.id])).rows).toEqual([{ actor_type: 'SYSTEM' }, { actor_type: 'SYSTEM' }]);
  });

  it('the SLA sweep is a recurring job on the job queue: scheduled every minute, run by a queue worker', async () => {
    const { rows: schedules } = await sql.query(`SELECT name, cron, timezone FROM pgboss.schedule WHERE name IN ('complaint-sla-sweep', 'risk-refresh') ORDER BY name`);
    expect(schedules).toEqual([
      { name: 'complaint-sla-sweep', cron: '* * * * *', timezone: 'UTC' },
      { name: 'risk-refresh', cron: '7 * * * *', timezone: 'UTC' },
    ]);
    const cust = await customer(agent.accessToken);
    const c = await fileOk(agent.accessToken, { customerId: cust, severity: 'CRITICAL' });
    // Filed two hours ago: its one-hour acknowledgement deadline has passed.
    await sql.query(`UPDATE complaint SET received_at = received_at - interval '2 hours', acknowledge_by = acknowledge_by - interval '2 hours', resolve_by = resolve_by - interval '2 hours' WHERE id = $1`, [c.id]);
    // Not sweep() called here: a job on the queue, taken by this instance's worker.
    await t.app.get(RecurringJobs).runSoon('complaint-sla-sweep');
    const deadline = Date.now() + 15_000;
    while (!(await one(agent.accessToken, c.id)).data!.complaint!.escalated) {
      if (Date.now() > deadline) throw new Error('the queued sweep did not run');
      await new Promise((r) => setTimeout(r, 200));
    }
    const { rows: done } = await sql.query(`SELECT state FROM pgboss.job WHERE name = 'complaint-sla-sweep' AND state = 'completed'`);
    expect(done.length).toBeGreaterThanOrEqual(1);
  });

  it('complaints(filter: {overdue: true}) lists complaints past a deadline', async () => {
    const cust = await customer(agent.accessToken);
    const late = await fileOk(agent.accessToken, { customerId: cust, severity: 'HIGH' });
    const fresh = await fileOk(agent.accessToken, { customerId: cust, severity: 'HIGH' });
    await sql.query(`UPDATE complaint SET received_at = received_at - interval '5 hours', acknowledge_by = acknowledge_by - interval '5 hours', resolve_by = resolve_by - interval '5 hours' WHERE id = $1`, [late.id]);
    const overdue = await gqlOk<{ complaints: { nodes: Array<{ id: string; overdue: boolean }> } }>(t.gql, LIST, { f: { customerId: cust, overdue: true } }, agent.accessToken);
    expect(overdue.complaints.nodes).toEqual([expect.objectContaining({ id: late.id, overdue: true })]);
    const onTime = await gqlOk<{ complaints: { nodes: Array<{ id: string }> } }>(t.gql, LIST, { f: { customerId: cust, overdue: false } }, agent.accessToken);
    expect(onTime.complaints.nodes.map((x) => x.id)).toEqual([fresh.id]);
    // Acknowledged in time for the resolve deadline: no longer overdue.
    await actOk(agent.accessToken, 'acknowledgeComplaint', late.id);
    expect((await gqlOk<{ complaints: { totalCount: number } }>(t.gql, LIST, { f: { customerId: cust, overdue: true } }, agent.accessToken)).complaints.totalCount).toBe(0);
  });

  it('counts the complaints of a list only when the client selects totalCount', async () => {
    const cust = await customer(agent.accessToken);
    for (let i = 0; i < 3; i++) await fileOk(agent.accessToken, { customerId: cust });
    const spy = spyOnQueries(t.app);
    try {
      const page = await gqlOk<{ complaints: { nodes: unknown[] } }>(t.gql, 'query($f: ComplaintsFilter) { complaints(filter: $f, first: 2) { nodes { id } } }', { f: { customerId: cust } }, agent.accessToken);
      expect(page.complaints.nodes).toHaveLength(2);
      expect(spy.mock.calls.filter(([text]) => /count\(\*\).*FROM complaint/s.test(String(text)))).toEqual([]);
      const counted = await gqlOk<{ complaints: { totalCount: number } }>(t.gql, 'query($f: ComplaintsFilter) { complaints(filter: $f, first: 2) { totalCount } }', { f: { customerId: cust } }, agent.accessToken);
      expect(counted.complaints.totalCount).toBe(3);
      expect(spy.mock.calls.filter(([text]) => /count\(\*\).*FROM complaint/s.test(String(text)))).toHaveLength(1);
    } finally {
      spy.mockRestore();
    }
  });

  it('complaintStats groups a seeded set with hand-computed numbers (COMPLIANCE_OFFICER only)', async () => {
    const cust = await customer(agent.accessToken);
    // March 2025, far from every other complaint of this file. Columns: category, channel, severity, received, acknowledged, resolved, status, satisfaction, escalated.
    const seed: Array<[string, string, string, string, string | null, string | null, string, number | null, boolean]> = [
      ['BILLING', 'PHONE', 'HIGH', '2025-03-03T08:00:00Z', '2025-03-03T09:00:00Z', '2025-03-03T18:00:00Z', 'CLOSED', 4, false], // 10 h
      ['BILLING', 'EMAIL', 'HIGH', '2025-03-03T10:00:00Z', '2025-03-03T16:00:00Z', '2025-03-05T10:00:00Z', 'RESOLVED', 2, false], // ack late (6 h > 4 h); 48 h
      ['BILLING', 'PHONE', 'LOW', '2025-03-04T12:00:00Z', '2025-03-04T13:00:00Z', null, 'INVESTIGATING', null, false], // resolve deadline long past
      ['SERVICE', 'ONLINE', 'MEDIUM', '2025-03-04T09:00:00Z', '2025-03-04T10:00:00Z', '2025-03-04T13:00:00Z', 'RESOLVED', 5, false], // 4 h
      ['SERVICE', 'PHONE', 'MEDIUM', '2025-03-05T09:00:00Z', '2025-03-05T10:00:00Z', '2025-03-05T15:00:00Z', 'CLOSED', null, true], // 6 h, escalated
    ];
    const sla: Record<string, [number, number]> = { HIGH: [4, 72], MEDIUM: [24, 168], LOW: [48, 336] };
    for (const [category, channel, severity, received, acked, resolved, status, satisfaction, escalated] of seed) {
      await sql.query(
        `INSERT INTO complaint (customer_id, channel, category, severity, subject, filed_by_user_id, received_at, acknowledge_by, resolve_by, acknowledged_at, resolved_at, status,
                                closed_at, satisfaction, feedback_at, remedy, escalated, escalated_at)
         VALUES ($1, $2, $3, $4, 'seeded', $5, $6::timestamptz, $6::timestamptz + make_interval(hours => $7), $6::timestamptz + make_interval(hours => $8), $9, $10, $11,
                 CASE WHEN $11 = 'CLOSED' THEN $10::timestamptz END, $12, CASE WHEN $12::int IS NOT NULL THEN $10::timestamptz END, CASE WHEN $10::timestamptz IS NOT NULL THEN 'NONE' END,
                 $13, CASE WHEN $13 THEN $6::timestamptz END)`,
        [cust, channel, category, severity, agent.userId, received, sla[severity][0], sla[severity][1], acked, resolved, status, satisfaction, escalated],
      );
    }
    const stats = (groupBy: string, token = co.accessToken) =>
      t.gql<{ complaintStats: Array<Record<string, unknown>> }>('query($i: ComplaintStatsInput!) { complaintStats(input: $i) { key count open slaBreached medianHoursToResolve avgSatisfaction } }', { i: { from: '2025-03-01T00:00:00Z', to: '2025-03-08T00:00:00Z', groupBy } }, { token });
    expect((await stats('CATEGORY')).data!.complaintStats).toEqual([
      // resolved in 10 h and 48 h → median 29; satisfaction (4 + 2) / 2; breached: the late acknowledgement and the overdue LOW one.
      { key: 'BILLING', count: 3, open: 1, slaBreached: 2, medianHoursToResolve: 29, avgSatisfaction: 3 },
      // resolved in 4 h and 6 h → median 5; one satisfaction of 5; one escalated.
      { key: 'SERVICE', count: 2, open: 0, slaBreached: 1, medianHoursToResolve: 5, avgSatisfaction: 5 },
    ]);
    expect((await stats('CHANNEL')).data!.complaintStats).toEqual([
      { key: 'EMAIL', count: 1, open: 0, slaBreached: 1, medianHoursToResolve: 48, avgSatisfaction: 2 },
      { key: 'ONLINE', count: 1, open: 0, slaBreached: 0, medianHoursToResolve: 4, avgSatisfaction: 5 },
      // 10 h and 6 h → 8; the LOW one is unresolved.
      { key: 'PHONE', count: 3, open: 1, slaBreached: 2, medianHoursToResolve: 8, avgSatisfaction: 4 },
    ]);
    expect((await stats('SEVERITY')).data!.complaintStats.map((s) => [s.key, s.count, s.medianHoursToResolve])).toEqual([['HIGH', 2, 29], ['LOW', 1, null], ['MEDIUM', 2, 5]]);
    expect((await stats('DAY')).data!.complaintStats).toEqual([
      { key: '2025-03-03', count: 2, open: 0, slaBreached: 1, medianHoursToResolve: 29, avgSatisfaction: 3 },
      { key: '2025-03-04', count: 2, open: 1, slaBreached: 1, medianHoursToResolve: 4, avgSatisfaction: 5 },
      { key: '2025-03-05', count: 1, open: 0, slaBreached: 1, medianHoursToResolve: 6, avgSatisfaction: null },
    ]);
    for (const token of [agent.accessToken, am.accessToken, auditor.accessToken, partnerA.token]) expect(codeOf(await stats('CATEGORY', token))).toBe('FORBIDDEN');
    const backwards = await t.gql('query { complaintStats(input: {from: "2025-03-08T00:00:00Z", to: "2025-03-01T00:00:00Z", groupBy: DAY}) { key } }', undefined, { token: co.accessToken });
    expect(fieldPaths(backwards)).toEqual(['to']);
  });

  it('repeatComplainants lists customers with at least minComplaints in the window', async () => {
    const frequent = await customer(agent.accessToken);
    const once = await customer(agent.accessToken);
    for (const category of ['OTHER', 'RETURN_REFUND', 'OTHER']) await fileOk(agent.accessToken, { customerId: frequent, category });
    await fileOk(agent.accessToken, { customerId: once, category: 'OTHER' });
    const old = await fileOk(agent.accessToken, { customerId: once, category: 'OTHER' });
    await sql.query(`UPDATE complaint SET received_at = received_at - interval '40 days', acknowledge_by = acknowledge_by - interval '40 days', resolve_by = resolve_by - interval '40 days' WHERE id = $1`, [old.id]);
    const repeat = (input: Record<string, unknown>, token = co.accessToken) =>
      t.gql<{ repeatComplainants: Array<{ customerId: string; complaints: number; categories: string[]; customer: { id: string } | null }> }>('query($i: RepeatComplainantsInput!) { repeatComplainants(input: $i) { customerId complaints categories firstReceivedAt lastReceivedAt customer { id } } }', { i: input }, { token });
    const rows = (await repeat({ minComplaints: 2, window: 'P30D' })).data!.repeatComplainants;
    expect(rows.find((r) => r.customerId === frequent)).toEqual(expect.objectContaining({ complaints: 3, categories: ['OTHER', 'RETURN_REFUND'], customer: { id: frequent } }));
    expect(rows.find((r) => r.customerId === once)).toBeUndefined();
    expect((await repeat({ minComplaints: 2, window: 'P60D' })).data!.repeatComplainants.find((r) => r.customerId === once)).toMatchObject({ complaints: 2 });
    expect((await repeat({ minComplaints: 4, window: 'P30D' })).data!.repeatComplainants.find((r) => r.customerId === frequent)).toBeUndefined();
    expect(fieldPaths(await repeat({ minComplaints: 2, window: 'P1M' }))).toEqual(['window']);
    expect(fieldPaths(await repeat({ minComplaints: 1, window: 'P30D' }))).toEqual(['minComplaints']);
    expect(codeOf(await repeat({ minComplaints: 2, window: 'P30D' }, agent.accessToken))).toBe('FORBIDDEN');
  });

  it('raises one SYSTEMIC alert for a category spike, not one below the threshold, and not again while it runs', async () => {
    const cust = await customer(agent.accessToken);
    const systemic = async () => (await sql.query(`SELECT id, occurrences, customer_id, rule_id, severity FROM alert WHERE kind = 'SYSTEMIC' ORDER BY created_at`)).rows;
    const before = (await systemic()).length;
    // BILLING: 14 complaints in the 7 days before the last 24 h (a daily average of 2), 5 in the last 24 h.
    await sql.query(
      `INSERT INTO complaint (customer_id, channel, category, severity, subject, filed_by_user_id, received_at, acknowledge_by, resolve_by)
       SELECT $1, 'PHONE', 'BILLING', 'LOW', 'seeded', $2, at, at + interval '48 hours', at + interval '14 days'
         FROM (SELECT now() - make_interval(hours => 30 + 11 * g) AS at FROM generate_series(0, 13) g
               UNION ALL SELECT now() - make_interval(hours => 1 + g) FROM generate_series(0, 4) g) s`,
      [cust, agent.userId],
    );
    // 6 in 24 h is not more than 3 × 2.
    await fileOk(agent.accessToken, { customerId: cust, category: 'BILLING' });
    expect(await systemic()).toHaveLength(before);
    // The 7th is.
    const spiking = await fileOk(agent.accessToken, { customerId: cust, category: 'BILLING' });
    const raised = await systemic();
    expect(raised).toHaveLength(before + 1);
    expect(raised.at(-1)).toMatchObject({ customer_id: null, rule_id: null, severity: 'HIGH', occurrences: 1 });
    expect(spiking.timeline[0].detail).toMatchObject({ systemicAlertId: raised.at(-1).id });
    // Still spiking: the same alert counts another occurrence.
    await fileOk(agent.accessToken, { customerId: cust, category: 'BILLING' });
    expect(await systemic()).toHaveLength(before + 1);
    expect((await systemic()).at(-1)).toMatchObject({ occurrences: 2 });
    const api = await gqlOk<{ alerts: { nodes: Array<{ kind: string; rule: unknown; customer: unknown }> } }>(t.gql, '{ alerts(first: 100) { nodes { kind rule { code } customer { id } } } }', undefined, co.accessToken);
    expect(api.alerts.nodes.filter((a) => a.kind === 'SYSTEMIC').length).toBe(before + 1);
    expect(api.alerts.nodes.find((a) => a.kind === 'SYSTEMIC')).toMatchObject({ rule: null, customer: null });

    // No history at all: the minimum count of 5 decides.
    for (let i = 0; i < 4; i++) await fileOk(agent.accessToken, { customerId: cust, category: 'DATA_PRIVACY' });
    expect(await systemic()).toHaveLength(before + 1);
    await fileOk(agent.accessToken, { customerId: cust, category: 'DATA_PRIVACY' });
    expect(await systemic()).toHaveLength(before + 2);
  });

  it('a FRAUD_REPORT complaint becomes a SYSTEM COMPLAINT event in the same transaction', async () => {
    const cust = await customer(agent.accessToken);
    const c = await fileOk(agent.accessToken, { customerId: cust, category: 'FRAUD_REPORT', severity: 'HIGH', description: 'Card used abroad without consent' });
    const events = await sql.query(`SELECT id, source, attributes FROM event WHERE customer_id = $1 AND type = 'COMPLAINT'`, [cust]);
    expect(events.rows).toEqual([expect.objectContaining({ source: 'SYSTEM', attributes: { complaintId: c.id, category: 'FRAUD_REPORT', channel: 'PHONE', severity: 'HIGH' } })]);
    expect(c.timeline[0].detail).toMatchObject({ eventId: events.rows[0].id });
    await fileOk(agent.accessToken, { customerId: cust, category: 'PRODUCT_QUALITY' });
    expect((await sql.query(`SELECT 1 FROM event WHERE customer_id = $1 AND type = 'COMPLAINT'`, [cust])).rowCount).toBe(1);
  });

  it('scopes partners to their own customers and to the complaints they filed', async () => {
    const custA = await customer(partnerA.token);
    const custB = await customer(partnerB.token);
    const custW = await customer(writeOnly.token);
    await gqlOk(t.gql, 'mutation($i: CreateWebhookInput!) { createWebhook(input: $i) { webhook { id } } }', { i: { partnerId: partnerA.id, url: 'http://127.0.0.1:9/hook', eventTypes: ['complaint.updated'] } }, admin.accessToken);
    const mine = await fileOk(partnerA.token, { customerId: custA, channel: 'PARTNER' });
    expect(mine).toMatchObject({ filedByPartnerId: partnerA.id, channel: 'PARTNER', description: 'The customer says staff were rude.' });
    expect(mine.timeline[0]).toMatchObject({ actorType: 'PARTNER', actorId: partnerA.id });
    const theirs = await fileOk(partnerB.token, { customerId: custB, channel: 'PARTNER' });
    // A customer of another partner is absent, and so is another partner's complaint.
    expect(codeOf(await file(partnerA.token, { customerId: custB }))).toBe('NOT_FOUND');
    expect(codeOf(await file(partnerA.token, { customerId: custB, category: 'NOT_A_CATEGORY' }))).toBe('NOT_FOUND');
    const foreign = await one(partnerA.token, theirs.id);
    expect(codeOf(foreign)).toBe('NOT_FOUND');
    expect(foreign.data?.complaint ?? null).toBeNull();
    expect(codeOf(await feedback(partnerA.token, theirs.id, { satisfaction: 1 }))).toBe('NOT_FOUND');
    // Staff filing for partner A's customer: the complaint is not partner A's to see.
    const staffFiled = await fileOk(agent.accessToken, { customerId: custA });
    const listed = await gqlOk<{ complaints: { totalCount: number; nodes: Array<{ id: string }> } }>(t.gql, LIST, { first: 100 }, partnerA.token);
    expect(listed.complaints.nodes.map((x) => x.id)).toEqual([mine.id]);
    expect(listed.complaints.totalCount).toBe(1);
    expect(codeOf(await one(partnerA.token, staffFiled.id))).toBe('NOT_FOUND');
    const nested = await gqlOk<{ customer: { complaints: { totalCount: number; nodes: Array<{ id: string }> } } }>(t.gql, 'query($id: ID!) { customer(id: $id) { complaints { totalCount nodes { id } } } }', { id: custA }, partnerA.token);
    expect(nested.customer.complaints).toEqual({ totalCount: 1, nodes: [{ id: mine.id }] });

    // Partners do not handle complaints, but record the customer's feedback on what they filed.
    expect(codeOf(await act(partnerA.token, 'acknowledgeComplaint', mine.id))).toBe('FORBIDDEN');
    expect(codeOf(await act(partnerA.token, 'addComplaintNote', mine.id, ', note: $note', { note: 'x' }))).toBe('FORBIDDEN');
    // Refused before its input is looked at (authorization before validation): FORBIDDEN, never BAD_USER_INPUT.
    expect(codeOf(await act(partnerA.token, 'addComplaintNote', mine.id, ', note: $note', { note: '   ' }))).toBe('FORBIDDEN');
    expect(codeOf(await act(partnerA.token, 'reopenComplaint', mine.id, ', reason: $reason', { reason: 'x'.repeat(5000) }))).toBe('FORBIDDEN');
    expect(codeOf(await resolve(partnerA.token, mine.id, { summary: '   ', remedy: 'REFUND', amount: '1.005' }))).toBe('FORBIDDEN');
    await actOk(agent.accessToken, 'acknowledgeComplaint', mine.id);
    await actOk(agent.accessToken, 'startInvestigation', mine.id);
    await resolve(agent.accessToken, mine.id);
    const rated = (await feedback(partnerA.token, mine.id, { satisfaction: 4, comment: 'Fine now' })).data!.recordComplaintFeedback;
    expect(rated.timeline.at(-1)).toMatchObject({ kind: 'FEEDBACK_RECORDED', actorType: 'PARTNER', actorId: partnerA.id });

    // complaint.updated reaches the filing partner's webhook outbox, without the complaint's text.
    const outbox = await sql.query(`SELECT o.payload FROM webhook_outbox o JOIN webhook w ON w.id = o.webhook_id WHERE w.partner_id = $1 AND o.event_type = 'complaint.updated' ORDER BY o.created_at`, [partnerA.id]);
    expect(outbox.rows.map((r) => r.payload.change)).toEqual(['FILED', 'ACKNOWLEDGED', 'INVESTIGATION_STARTED', 'RESOLVED', 'FEEDBACK_RECORDED']);
    expect(outbox.rows[0].payload).toMatchObject({ complaintId: mine.id, customerId: custA, status: 'RECEIVED', previousStatus: null });
    expect(JSON.stringify(outbox.rows)).not.toMatch(/rude|Fine now/);

    // A token without complaints:read files, but cannot list.
    const w = await fileOk(writeOnly.token, { customerId: custW, channel: 'PARTNER' });
    expect(w.filedByPartnerId).toBe(writeOnly.id);
    expect(codeOf(await t.gql(LIST, {}, { token: writeOnly.token }))).toBe('FORBIDDEN');
    expect(codeOf(await file(writeOnly.token, { customerId: custA }))).toBe('NOT_FOUND');
  });

  it('scopes account managers to their customers and refuses auditors and analysts', async () => {
    const own = await customer(am.accessToken);
    const other = await customer(agent.accessToken, { accountManagerId: am2.userId });
    const mine = await fileOk(am.accessToken, { customerId: own });
    expect(codeOf(await file(am.accessToken, { customerId: other }))).toBe('NOT_FOUND');
    const foreign = await fileOk(agent.accessToken, { customerId: other });
    expect(codeOf(await one(am.accessToken, foreign.id))).toBe('NOT_FOUND');
    expect(codeOf(await act(am.accessToken, 'acknowledgeComplaint', foreign.id))).toBe('NOT_FOUND');
    expect((await actOk(am.accessToken, 'acknowledgeComplaint', mine.id)).status).toBe('ACKNOWLEDGED');
    const listed = (await gqlOk<{ complaints: { nodes: Array<{ id: string }> } }>(t.gql, LIST, { first: 100 }, am.accessToken)).complaints.nodes.map((x) => x.id);
    expect(listed).toContain(mine.id);
    expect(listed).not.toContain(foreign.id);
    const managed = await sql.query(`SELECT k.id FROM complaint k JOIN customer c ON c.id = k.customer_id WHERE c.account_manager_id = $1`, [am.userId]);
    expect([...listed].sort()).toEqual(managed.rows.map((r) => r.id).sort());
    // Agents and compliance officers see every complaint.
    expect((await one(agent.accessToken, foreign.id)).data!.complaint!.id).toBe(foreign.id);
    expect((await one(co.accessToken, mine.id)).data!.complaint!.description).toBe('The customer says staff were rude.');
    // Customer.complaints: batched across a page of customers, same permission as `complaints`.
    const page = await gqlOk<{ customers: { nodes: Array<{ id: string; complaints: { totalCount: number } }> } }>(t.gql, '{ customers(first: 100) { nodes { id complaints(first: 1) { totalCount nodes { id } } } } }', undefined, co.accessToken);
    expect(page.customers.nodes.find((x) => x.id === own)!.complaints.totalCount).toBe(1);
    expect(page.customers.nodes.filter((x) => x.complaints.totalCount > 0).length).toBeGreaterThan(5);

    for (const token of [auditor.accessToken, analyst.accessToken]) {
      expect(codeOf(await t.gql(LIST, {}, { token }))).toBe('FORBIDDEN');
      expect(codeOf(await one(token, mine.id))).toBe('FORBIDDEN');
      expect(codeOf(await file(token, { customerId: own }))).toBe('FORBIDDEN');
      expect(codeOf(await act(token, 'acknowledgeComplaint', mine.id))).toBe('FORBIDDEN');
    }
    const nested = await t.gql<{ customer: { complaints: unknown } }>('query($id: ID!) { customer(id: $id) { id complaints { totalCount } } }', { id: own }, { token: analyst.accessToken });
    expect(nested.data!.customer.complaints).toBeNull();
    expect(codeOf(nested)).toBe('FORBIDDEN');
    expect(codeOf(await t.gql(LIST, {}))).toBe('UNAUTHENTICATED');
  });

  it('audits every full-value read of complaint free text under the customer, naming the fields, and no other read', async () => {
    const c = await customer(agent.accessToken);
    const filed = await fileOk(agent.accessToken, { customerId: c });
    await actOk(co.accessToken, 'addComplaintNote', filed.id, ', note: $note', { note: 'Called back, waiting for the branch' });
    await actOk(co.accessToken, 'acknowledgeComplaint', filed.id);
    await actOk(co.accessToken, 'startInvestigation', filed.id);
    expect((await resolve(co.accessToken, filed.id)).errors).toBeUndefined();
    const reads = async () =>
      (await sql.query(`SELECT actor_id, fields FROM audit_entry WHERE action = 'customer.read_pii' AND customer_id = $1 ORDER BY id`, [c])).rows as Array<{ actor_id: string; fields: string[] }>;
    const before = (await reads()).length;
    // Only structured fields: nothing is read in full, nothing is audited.
    await gqlOk(t.gql, 'query($id: ID!) { complaint(id: $id) { id status subject timeline { kind } resolution { remedy } } }', { id: filed.id }, co.accessToken);
    expect(await reads()).toHaveLength(before);
    await gqlOk(t.gql, 'query($id: ID!) { complaint(id: $id) { description timeline { note } resolution { summary } } }', { id: filed.id }, co2.accessToken);
    const after = await reads();
    expect(after).toHaveLength(before + 1);
    expect(after[after.length - 1]).toEqual({ actor_id: co2.userId, fields: ['Complaint.description', 'ComplaintResolution.summary', 'ComplaintTimelineEntry.note'] });
    // A list of complaints: one entry per customer whose text was read.
    await gqlOk(t.gql, 'query($f: ComplaintsFilter) { complaints(filter: $f) { nodes { description } } }', { f: { customerId: c } }, co2.accessToken);
    expect((await reads()).slice(-1)[0]).toEqual({ actor_id: co2.userId, fields: ['Complaint.description'] });
  });

  it('keeps descriptions, notes, summaries, comments and reasons out of the database in clear', async () => {
    const markers = { description: 'MARKER-DESC-8c1f Mrs Quill lost 400 at Elm St', note: 'MARKER-NOTE-77ab called her at home', summary: 'MARKER-SUMMARY-31d0 refunded', comment: 'MARKER-COMMENT-5e5e still angry', reason: 'MARKER-REASON-90ff refund bounced' };
    const cust = await customer(agent.accessToken);
    const c = await fileOk(agent.accessToken, { customerId: cust, description: markers.description });
    await actOk(agent.accessToken, 'addComplaintNote', c.id, ', note: $note', { note: markers.note });
    await actOk(agent.accessToken, 'acknowledgeComplaint', c.id);
    await actOk(agent.accessToken, 'startInvestigation', c.id);
    await resolve(agent.accessToken, c.id, { summary: markers.summary, remedy: 'REFUND', amount: '400.00' });
    await feedback(agent.accessToken, c.id, { satisfaction: 1, comment: markers.comment });
    await actOk(agent.accessToken, 'reopenComplaint', c.id, ', reason: $reason', { reason: markers.reason });
    const read = (await one(co.accessToken, c.id)).data!.complaint!;
    expect(read.description).toBe(markers.description);
    expect(read.timeline.map((e) => e.note).filter(Boolean)).toEqual([markers.note, markers.summary, markers.comment, markers.reason]);
    expect(read.feedback!.comment).toBe(markers.comment);

    const dump = execFileSync('pg_dump', ['--data-only', '--no-owner', t.db.url], { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
    expect(dump).toContain(c.id);
    for (const [field, value] of Object.entries(markers)) {
      for (const piece of [value, value.split(' ')[0], value.split(' ').slice(1).join(' ')]) expect({ field, piece, inDump: dump.includes(piece) }).toEqual({ field, piece, inDump: false });
    }
    // A ciphertext moved to another row no longer opens (AAD binds table, column and row).
    const other = await fileOk(agent.accessToken, { customerId: cust });
    await sql.query(`UPDATE complaint SET description = (SELECT description FROM complaint WHERE id = $1) WHERE id = $2`, [c.id, other.id]);
    const moved = await one(co.accessToken, other.id);
    expect(codeOf(moved)).toBe('INTERNAL_SERVER_ERROR');
    expect(JSON.stringify(moved.errors)).not.toContain('MARKER');
  });
});
