import { Client } from 'pg';
import { startTestApp, type TestApp } from '../helpers/app';
import { inSideTransaction, lockWaiters } from '../helpers/postgres';
import { createStaff, freshCode, gqlOk, signInAdmin, type SignedIn } from '../helpers/auth';
import { ingest, partnerWithToken } from '../helpers/monitoring';

const codeOf = (res: { errors?: Array<{ extensions?: Record<string, unknown> }> }) => res.errors?.[0]?.extensions?.code;

type AlertNode = { id: string; severity: string; lastSeenAt: string; createdAt: string };

describe('alerts: ordering, assignee, triggering event, activity and notes, dedup and concurrency', () => {
  let t: TestApp;
  let sql: Client;
  let admin: SignedIn, co: SignedIn, analyst: SignedIn, am: SignedIn, agent: SignedIn;
  let core: { id: string; token: string };
  let n = 0;

  const customer = async () =>
    (await gqlOk<{ createCustomer: { id: string } }>(t.gql, 'mutation($i: CreateCustomerInput!) { createCustomer(input: $i) { id } }', { i: { externalRef: `al-${++n}`, fullName: 'Alma Alertmarker', accountManagerId: am.userId, transactionLimit: '1000.00', dailyLimit: '50000.00' } }, co.accessToken)).createCustomer.id;
  /** One LARGE_TRANSACTION alert (HIGH) for a new customer; returns the alert's and the event's ids. */
  const largeAlert = async (occurredAt = new Date()) => {
    const c = await customer();
    const res = await ingest(t, core.token, [{ customerId: c, type: 'TRANSACTION', amount: '1500.00', currency: 'EUR', occurredAt: occurredAt.toISOString() }]);
    const eventId = res.data!.ingestEvents[0]!.event!.id;
    const { rows } = await sql.query(`SELECT a.id FROM alert a JOIN rule r ON r.id = a.rule_id WHERE a.customer_id = $1 AND r.code = 'LARGE_TRANSACTION'`, [c]);
    return { customerId: c, eventId, alertId: rows[0].id as string };
  };

  beforeAll(async () => {
    t = await startTestApp();
    sql = new Client({ connectionString: t.db.url });
    await sql.connect();
    admin = await signInAdmin(t);
    [co, analyst, am, agent] = [await createStaff(t, admin, 'COMPLIANCE_OFFICER'), await createStaff(t, admin, 'ANALYST'), await createStaff(t, admin, 'ACCOUNT_MANAGER'), await createStaff(t, admin, 'AGENT')];
    core = await partnerWithToken(t, admin, 'INTERNAL');
  }, 120_000);
  afterAll(async () => {
    await sql.end();
    await t.close();
  });

  it('orders by severity, last seen or creation, in both directions, across pages', async () => {
    const made = [await largeAlert(), await largeAlert(), await largeAlert(), await largeAlert()];
    // Severities and sightings set by hand so every order differs from creation order.
    const setup: Array<[string, string]> = [['LOW', '2026-01-04'], ['CRITICAL', '2026-01-01'], ['MEDIUM', '2026-01-03'], ['CRITICAL', '2026-01-02']];
    for (const [i, [severity, seen]] of setup.entries()) {
      await sql.query(`UPDATE alert SET severity = $2, last_seen_at = $3 WHERE id = $1`, [made[i].alertId, severity, `${seen}T00:00:00Z`]);
    }
    const ids = made.map((m) => m.alertId);
    const walk = async (orderBy: string) => {
      const seen: string[] = [];
      let after: string | null = null;
      for (let page = 0; page < 5; page++) {
        const res: { alerts: { nodes: AlertNode[]; pageInfo: { hasNextPage: boolean; endCursor: string | null } } } = await gqlOk(
          t.gql, `query($after: String) { alerts(first: 3, after: $after${orderBy ? `, orderBy: ${orderBy}` : ''}) { nodes { id severity lastSeenAt createdAt } pageInfo { hasNextPage endCursor } } }`, { after }, analyst.accessToken,
        );
        seen.push(...res.alerts.nodes.map((a) => a.id).filter((id) => ids.includes(id)));
        if (!res.alerts.pageInfo.hasNextPage) break;
        after = res.alerts.pageInfo.endCursor;
      }
      return seen.map((id) => ids.indexOf(id));
    };
    expect(await walk('')).toEqual([3, 2, 1, 0]);
    expect(await walk('{field: CREATED_AT, direction: ASC}')).toEqual([0, 1, 2, 3]);
    // CRITICAL (newest first within it), MEDIUM, LOW.
    expect(await walk('{field: SEVERITY, direction: DESC}')).toEqual([3, 1, 2, 0]);
    expect(await walk('{field: SEVERITY, direction: ASC}')).toEqual([0, 2, 1, 3]);
    expect(await walk('{field: LAST_SEEN_AT, direction: DESC}')).toEqual([0, 2, 3, 1]);
    expect(codeOf(await t.gql('{ alerts(orderBy: {field: AMOUNT}) { totalCount } }', undefined, { token: analyst.accessToken }))).toBe('GRAPHQL_VALIDATION_FAILED');
  });

  it('shows the assignee, the triggering event and the activity trail with notes decrypted for readers', async () => {
    const { alertId, eventId, customerId } = await largeAlert();
    await gqlOk(t.gql, 'mutation($id: ID!, $a: ID!) { assignAlert(id: $id, assigneeId: $a) { id } }', { id: alertId, a: analyst.userId }, co.accessToken);
    await gqlOk(t.gql, 'mutation($id: ID!) { transitionAlert(id: $id, input: {to: INVESTIGATING, note: "Alma called back about the transfer"}) { status } }', { id: alertId }, analyst.accessToken);
    const noted = await gqlOk<{ addAlertNote: { status: string } }>(t.gql, 'mutation($id: ID!) { addAlertNote(id: $id, note: "  Second call: invoice shown  ") { status } }', { id: alertId }, analyst.accessToken);
    expect(noted.addAlertNote.status).toBe('INVESTIGATING');

    const QUERY = 'query($id: ID!) { alert(id: $id) { assignee { id role } event { id amount type } activity { kind fromStatus toStatus actorId assigneeId note } } }';
    const expected = {
      assignee: { id: analyst.userId, role: 'ANALYST' },
      event: { id: eventId, amount: '1500.00', type: 'TRANSACTION' },
      activity: [
        { kind: 'ASSIGNED', fromStatus: 'OPEN', toStatus: 'OPEN', actorId: co.userId, assigneeId: analyst.userId, note: null },
        { kind: 'TRANSITION', fromStatus: 'OPEN', toStatus: 'INVESTIGATING', actorId: analyst.userId, assigneeId: null, note: 'Alma called back about the transfer' },
        { kind: 'NOTE', fromStatus: 'INVESTIGATING', toStatus: 'INVESTIGATING', actorId: analyst.userId, assigneeId: null, note: 'Second call: invoice shown' },
      ],
    };
    expect((await gqlOk<{ alert: unknown }>(t.gql, QUERY, { id: alertId }, analyst.accessToken)).alert).toEqual(expected);
    // The customer's account manager reads the same alert (own customer), notes included.
    expect((await gqlOk<{ alert: unknown }>(t.gql, QUERY, { id: alertId }, am.accessToken)).alert).toEqual(expected);

    // Notes are ciphertext at rest, and the audit entry names the note, not its text.
    const { rows } = await sql.query(`SELECT note FROM alert_activity WHERE alert_id = $1 AND note IS NOT NULL`, [alertId]);
    expect(rows).toHaveLength(2);
    for (const r of rows) expect(r.note).toMatch(/^e1\./);
    const audit = await sql.query(`SELECT details::text AS details, customer_id FROM audit_entry WHERE action = 'alert.note' AND resource_id = $1`, [alertId]);
    expect(audit.rows).toHaveLength(1);
    expect(audit.rows[0].customer_id).toBe(customerId);
    expect(audit.rows[0].details).not.toMatch(/invoice/);
    // Each full read of the notes is audited under the customer (the analyst's and the account manager's).
    const reads = await sql.query(`SELECT actor_id, fields FROM audit_entry WHERE action = 'customer.read_pii' AND customer_id = $1 ORDER BY id`, [customerId]);
    expect(reads.rows).toEqual([{ actor_id: analyst.userId, fields: ['AlertActivity.note'] }, { actor_id: am.userId, fields: ['AlertActivity.note'] }]);
  });

  it('validates notes and keeps them to those who may triage alerts', async () => {
    const { alertId } = await largeAlert();
    const add = (token: string, note: string) => t.gql('mutation($id: ID!, $n: String!) { addAlertNote(id: $id, note: $n) { id } }', { id: alertId, n: note }, { token });
    expect((await add(analyst.accessToken, '   ')).errors?.[0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', fieldErrors: [{ path: 'note' }] });
    expect(codeOf(await add(analyst.accessToken, 'x'.repeat(2001)))).toBe('BAD_USER_INPUT');
    expect(codeOf(await add(agent.accessToken, 'hello'))).toBe('FORBIDDEN');
    expect(codeOf(await add(am.accessToken, 'hello'))).toBe('FORBIDDEN');
    expect(codeOf(await t.gql('mutation { addAlertNote(id: "00000000-0000-0000-0000-000000000000", note: "x") { id } }', undefined, { token: analyst.accessToken }))).toBe('NOT_FOUND');
  });

  it('keeps notes on an alert without a customer under a key of its own, made once by its first note', async () => {
    // A SYSTEMIC alert (a complaint spike) has neither rule nor customer.
    const systemic = async () =>
      (await sql.query(`INSERT INTO alert (kind, customer_id, severity, first_seen_at, last_seen_at) VALUES ('SYSTEMIC', NULL, 'HIGH', now(), now()) RETURNING id`)).rows[0].id as string;
    const alertId = await systemic();
    const ADD = 'mutation($id: ID!, $n: String!) { addAlertNote(id: $id, note: $n) { id } }';
    // Two first notes at once: both kept, under one key.
    await Promise.all(['Spike traced to the billing run of 3 May', 'Card scheme outage confirmed'].map((n) => gqlOk(t.gql, ADD, { id: alertId, n }, analyst.accessToken)));
    await gqlOk(t.gql, 'mutation($id: ID!) { transitionAlert(id: $id, input: {to: ESCALATED, note: "Escalated to operations"}) { status } }', { id: alertId }, co.accessToken);
    const { rows: [stored] } = await sql.query(`SELECT data_key FROM alert WHERE id = $1`, [alertId]);
    expect(stored.data_key).toMatch(/^v\d+:/);

    const read = await gqlOk<{ alert: { customer: unknown; activity: Array<{ kind: string; note: string | null }> } }>(
      t.gql, 'query($id: ID!) { alert(id: $id) { customer { id } activity { kind note } } }', { id: alertId }, co.accessToken,
    );
    expect(read.alert.customer).toBeNull();
    expect(read.alert.activity.map((a) => a.note).sort()).toEqual(['Card scheme outage confirmed', 'Escalated to operations', 'Spike traced to the billing run of 3 May']);
    // Ciphertext at rest.
    const notes = (await sql.query(`SELECT id, note FROM alert_activity WHERE alert_id = $1 AND note IS NOT NULL ORDER BY created_at, id`, [alertId])).rows;
    expect(notes).toHaveLength(3);
    for (const n of notes) expect(n.note).toMatch(/^e1\./);
    expect(JSON.stringify(notes)).not.toMatch(/billing|outage|operations/);
    // Another customer-less alert gets its own key: this one's notes do not open under it.
    const other = await systemic();
    await gqlOk(t.gql, ADD, { id: other, n: 'unrelated' }, analyst.accessToken);
    expect((await sql.query(`SELECT data_key FROM alert WHERE id = $1`, [other])).rows[0].data_key).not.toBe(stored.data_key);
    // The key column is only for alerts without a customer.
    const { alertId: customerAlert } = await largeAlert();
    await expect(sql.query(`UPDATE alert SET data_key = $2 WHERE id = $1`, [customerAlert, stored.data_key])).rejects.toThrow(/alert_data_key_only_without_customer/);
    // The note's entry names the alert, not the text.
    const audit = await sql.query(`SELECT details::text AS details, customer_id FROM audit_entry WHERE action = 'alert.note' AND resource_id = $1`, [alertId]);
    expect(audit.rows).toHaveLength(2);
    for (const r of audit.rows) expect(r).toMatchObject({ customer_id: null, details: expect.not.stringMatching(/billing|outage/) });
  });

  it('counts alerts and events for totalCount only when it is selected, and then before the cursor', async () => {
    const { customerId } = await largeAlert();
    await largeAlert();
    const counts: string[] = [];
    const query = Client.prototype.query;
    const spy = jest.spyOn(Client.prototype, 'query').mockImplementation(function (this: Client, ...args: unknown[]) {
      const text = typeof args[0] === 'string' ? args[0] : (args[0] as { text?: string } | undefined)?.text;
      if (text && /^SELECT count\(\*\)::int AS total FROM (alert|event)/.test(text)) counts.push(text);
      return (query as (...a: unknown[]) => unknown).apply(this, args);
    } as never);
    try {
      await gqlOk(t.gql, '{ alerts(first: 1) { nodes { id } } events(first: 1) { nodes { id } } }', undefined, analyst.accessToken);
      expect(counts).toEqual([]);
      // Second page, with the count: it counts every match, not what lies after the cursor.
      const first = await gqlOk<{ events: { pageInfo: { endCursor: string } } }>(t.gql, 'query($c: ID!) { events(first: 1, filter: {customerId: $c}) { pageInfo { endCursor } } }', { c: customerId }, analyst.accessToken);
      const second = await gqlOk<{ events: { totalCount: number; nodes: unknown[] }; alerts: { totalCount: number } }>(
        t.gql, 'query($c: ID!, $after: String) { events(first: 1, after: $after, filter: {customerId: $c}) { totalCount nodes { id } } alerts(filter: {customerId: $c}) { totalCount } }',
        { c: customerId, after: first.events.pageInfo.endCursor }, analyst.accessToken,
      );
      expect(second.events).toMatchObject({ totalCount: 1, nodes: [] });
      expect(second.alerts.totalCount).toBe(1);
      expect(counts).toHaveLength(2);
    } finally {
      spy.mockRestore();
    }
  });

  it('tells the new assignee of an assignment, and every other compliance officer of an escalation', async () => {
    const co2 = await createStaff(t, admin, 'COMPLIANCE_OFFICER');
    const { alertId } = await largeAlert();
    const ref = `al-${n}`;
    type Notice = { kind: string; title: string; alertId: string | null; customerId: string | null };
    const notices = async (who: SignedIn, kind: string) =>
      (await gqlOk<{ myNotifications: { nodes: Notice[] } }>(t.gql, 'query { myNotifications(first: 100) { nodes { kind title alertId customerId } } }', undefined, who.accessToken))
        .myNotifications.nodes.filter((x) => x.kind === kind && x.alertId === alertId);
    const ASSIGN = 'mutation($id: ID!, $a: ID!) { assignAlert(id: $id, assigneeId: $a) { id } }';
    const TRANSITION = 'mutation($id: ID!, $to: AlertTarget!) { transitionAlert(id: $id, input: {to: $to}) { status } }';

    await gqlOk(t.gql, ASSIGN, { id: alertId, a: analyst.userId }, co.accessToken);
    expect(await notices(analyst, 'ALERT_ASSIGNED')).toEqual([{ kind: 'ALERT_ASSIGNED', title: `Alert LARGE_TRANSACTION (HIGH) for customer ${ref} assigned to you`, alertId, customerId: expect.any(String) }]);
    // The same assignee again, or someone taking the alert themselves: nobody is told what they know.
    await gqlOk(t.gql, ASSIGN, { id: alertId, a: analyst.userId }, co.accessToken);
    await gqlOk(t.gql, ASSIGN, { id: alertId, a: co2.userId }, co2.accessToken);
    expect(await notices(analyst, 'ALERT_ASSIGNED')).toHaveLength(1);
    expect(await notices(co2, 'ALERT_ASSIGNED')).toEqual([]);
    expect(await notices(co, 'ALERT_ASSIGNED')).toEqual([]);

    // The analyst escalates: both compliance officers hear of it, the analyst does not.
    expect((await gqlOk<{ transitionAlert: { status: string } }>(t.gql, TRANSITION, { id: alertId, to: 'ESCALATED' }, analyst.accessToken)).transitionAlert.status).toBe('ESCALATED');
    for (const officer of [co, co2]) {
      expect(await notices(officer, 'ALERT_ESCALATED')).toEqual([{ kind: 'ALERT_ESCALATED', title: `Alert LARGE_TRANSACTION (HIGH) for customer ${ref} escalated`, alertId, customerId: expect.any(String) }]);
    }
    expect(await notices(analyst, 'ALERT_ESCALATED')).toEqual([]);
    // Escalated again by an officer (back to INVESTIGATING first): the other officer is told, the one escalating is not.
    await gqlOk(t.gql, TRANSITION, { id: alertId, to: 'INVESTIGATING' }, co.accessToken);
    await gqlOk(t.gql, TRANSITION, { id: alertId, to: 'ESCALATED' }, co.accessToken);
    expect(await notices(co, 'ALERT_ESCALATED')).toHaveLength(1);
    expect(await notices(co2, 'ALERT_ESCALATED')).toHaveLength(2);
    // Other transitions tell nobody.
    await gqlOk(t.gql, TRANSITION, { id: alertId, to: 'INVESTIGATING' }, co.accessToken);
    expect((await sql.query(`SELECT count(*)::int AS n FROM notification WHERE alert_id = $1 AND kind IN ('ALERT_ASSIGNED', 'ALERT_ESCALATED')`, [alertId])).rows[0].n).toBe(4);
  });

  it('refuses to assign an alert that was closed while the assignment waited', async () => {
    const { alertId } = await largeAlert();
    await inSideTransaction(t.db.url, async (side) => {
      await side.query('SELECT 1 FROM alert WHERE id = $1 FOR UPDATE', [alertId]);
      const assigning = t.gql('mutation($id: ID!, $a: ID!) { assignAlert(id: $id, assigneeId: $a) { id } }', { id: alertId, a: analyst.userId }, { token: co.accessToken });
      expect(await lockWaiters(side, 1)).toBeGreaterThanOrEqual(1);
      // What a transitionAlert(CLOSED) committing first leaves.
      await side.query(`UPDATE alert SET status = 'CLOSED', disposition = 'FALSE_POSITIVE', closed_at = now() WHERE id = $1`, [alertId]);
      await side.query('COMMIT');
      expect(codeOf(await assigning)).toBe('INVALID_TRANSITION');
    });
    const { rows } = await sql.query(`SELECT a.assignee_id, (SELECT count(*)::int FROM alert_activity x WHERE x.alert_id = a.id AND x.kind = 'ASSIGNED') AS assigned FROM alert a WHERE a.id = $1`, [alertId]);
    expect(rows[0]).toEqual({ assignee_id: null, assigned: 0 });
  });

  it('names the state an alert or hold moved to while a transition or resolution waited', async () => {
    const { alertId, eventId } = await largeAlert();
    await inSideTransaction(t.db.url, async (side) => {
      await side.query('SELECT 1 FROM alert WHERE id = $1 FOR UPDATE', [alertId]);
      await side.query('SELECT 1 FROM event WHERE id = $1 FOR UPDATE', [eventId]);
      const moving = t.gql('mutation($id: ID!) { transitionAlert(id: $id, input: {to: INVESTIGATING}) { status } }', { id: alertId }, { token: analyst.accessToken });
      const resolving = t.gql('mutation($id: ID!) { resolveHold(eventId: $id, input: {release: true}) { holdStatus } }', { id: eventId }, { token: analyst.accessToken });
      expect(await lockWaiters(side, 2)).toBeGreaterThanOrEqual(2);
      // What another analyst's close and rejection, committing first, leave.
      await side.query(`UPDATE alert SET status = 'CLOSED', disposition = 'FALSE_POSITIVE', closed_at = now() WHERE id = $1`, [alertId]);
      await side.query(`UPDATE event SET hold_status = 'REJECTED' WHERE id = $1`, [eventId]);
      await side.query('COMMIT');
      expect((await moving).errors?.[0]?.extensions).toMatchObject({ code: 'INVALID_TRANSITION', from: 'CLOSED', to: 'INVESTIGATING' });
      expect((await resolving).errors?.[0]?.extensions).toMatchObject({ code: 'INVALID_TRANSITION', from: 'REJECTED', to: 'RELEASED' });
    });
  });

  it('takes a transition\'s locks in screening\'s order (customer, then alert), so the two never deadlock', async () => {
    const { alertId, customerId } = await largeAlert();
    // What a screening call of this customer does: its customer row first, then the open alerts it repeats.
    await inSideTransaction(t.db.url, async (side) => {
      await side.query('SELECT id FROM customer WHERE id = $1 FOR UPDATE', [customerId]);
      const moving = t.gql('mutation($id: ID!) { transitionAlert(id: $id, input: {to: INVESTIGATING}) { status } }', { id: alertId }, { token: analyst.accessToken });
      expect(await lockWaiters(side, 1)).toBeGreaterThanOrEqual(1);
      await side.query(`SET LOCAL lock_timeout = '5s'`);
      await expect(side.query('SELECT id FROM alert WHERE id = $1 FOR UPDATE', [alertId])).resolves.toMatchObject({ rowCount: 1 });
      await side.query('COMMIT');
      const res = await moving;
      expect(res.errors).toBeUndefined();
      expect(res.data).toEqual({ transitionAlert: { status: 'INVESTIGATING' } });
    });
  });

  it('opens a new alert once the dedup window has passed, and repeats inside it', async () => {
    const c = await customer();
    const day = 24 * 3600_000;
    const at = (msAgo: number) => new Date(Date.now() - msAgo).toISOString();
    // LARGE_TRANSACTION deduplicates for P1D: 3 days ago, then 2 h later, then now.
    for (const occurredAt of [at(3 * day), at(3 * day - 2 * 3600_000), at(0)]) {
      expect((await ingest(t, core.token, [{ customerId: c, type: 'TRANSACTION', amount: '1500.00', occurredAt }])).errors).toBeUndefined();
    }
    const { rows } = await sql.query(`SELECT a.occurrences FROM alert a JOIN rule r ON r.id = a.rule_id WHERE a.customer_id = $1 AND r.code = 'LARGE_TRANSACTION' ORDER BY a.first_seen_at`, [c]);
    expect(rows.map((r) => r.occurrences)).toEqual([2, 1]);
  });

  it('deduplicates back-filled hits by the alert\'s span, whatever the order of arrival', async () => {
    const day = 24 * 3600_000;
    const at = (msAgo: number) => new Date(Date.now() - msAgo).toISOString();
    const alertsOf = async (c: string) =>
      (await sql.query(`SELECT a.occurrences, a.first_seen_at, a.last_seen_at FROM alert a JOIN rule r ON r.id = a.rule_id WHERE a.customer_id = $1 AND r.code = 'LARGE_TRANSACTION' ORDER BY a.first_seen_at`, [c]))
        .rows as Array<{ occurrences: number; first_seen_at: Date; last_seen_at: Date }>;
    // Now, then back-filled 3 days ago and 2 h after that: the old hit is not inside the window of today's
    // alert (P1D), so it opens its own, which the third hit repeats — as in time order ([2, 1] above).
    const oneByOne = await customer();
    for (const occurredAt of [at(0), at(3 * day), at(3 * day - 2 * 3600_000)]) {
      expect((await ingest(t, core.token, [{ customerId: oneByOne, type: 'TRANSACTION', amount: '1500.00', occurredAt }])).errors).toBeUndefined();
    }
    expect((await alertsOf(oneByOne)).map((a) => a.occurrences)).toEqual([2, 1]);
    // The same three in one call (deduplicated in memory).
    const inOneCall = await customer();
    expect((await ingest(t, core.token, [at(0), at(3 * day), at(3 * day - 2 * 3600_000)].map((occurredAt) => ({ customerId: inOneCall, type: 'TRANSACTION', amount: '1500.00', occurredAt })))).errors).toBeUndefined();
    expect((await alertsOf(inOneCall)).map((a) => a.occurrences)).toEqual([2, 1]);
    // A late event inside the window before the span repeats the alert and moves its first sighting back.
    const late = await customer();
    const firstHit = at(0);
    const backFilled = at(20 * 3600_000);
    for (const occurredAt of [firstHit, backFilled]) {
      expect((await ingest(t, core.token, [{ customerId: late, type: 'TRANSACTION', amount: '1500.00', occurredAt }])).errors).toBeUndefined();
    }
    const [only, ...none] = await alertsOf(late);
    expect(none).toEqual([]);
    expect(only.occurrences).toBe(2);
    expect(only.first_seen_at.toISOString()).toBe(backFilled);
    expect(only.last_seen_at.toISOString()).toBe(firstHit);
  });

  it('refuses a note it can no longer keep (customer erased) with CONFLICT, rolling the transition or resolution back, and raises no early warning', async () => {
    const { customerId, eventId, alertId } = await largeAlert();
    await gqlOk(t.gql, 'mutation($c: String!) { stepUp(code: $c) { expiresAt } }', { c: await freshCode(co.secret) }, co.accessToken);
    await gqlOk(t.gql, 'mutation($id: ID!) { eraseCustomer(id: $id, reason: "GDPR art. 17 request") { id } }', { id: customerId }, co.accessToken);
    const TRANSITION = 'mutation($id: ID!, $i: TransitionAlertInput!) { transitionAlert(id: $id, input: $i) { status } }';
    const RESOLVE = 'mutation($id: ID!, $i: ResolveHoldInput!) { resolveHold(eventId: $id, input: $i) { holdStatus } }';
    const withNote = await t.gql(TRANSITION, { id: alertId, i: { to: 'INVESTIGATING', note: 'checked the branch records' } }, { token: analyst.accessToken });
    expect(withNote.errors?.[0]?.extensions).toMatchObject({ code: 'CONFLICT', field: 'note' });
    const held = await t.gql(RESOLVE, { id: eventId, i: { release: true, note: 'customer called' } }, { token: analyst.accessToken });
    expect(held.errors?.[0]?.extensions).toMatchObject({ code: 'CONFLICT', field: 'note' });
    const { rows } = await sql.query(
      `SELECT (SELECT status FROM alert WHERE id = $1) AS alert, (SELECT hold_status FROM event WHERE id = $2) AS hold,
              (SELECT count(*)::int FROM alert_activity WHERE alert_id = $1) AS activity, (SELECT count(*)::int FROM hold_action WHERE event_id = $2 AND outcome <> 'PLACED') AS actions`,
      [alertId, eventId],
    );
    expect(rows[0]).toEqual({ alert: 'OPEN', hold: 'PENDING', activity: 0, actions: 0 });
    // The level the customer had before its alert, and the RISK_ESCALATION the alert raised then resolved: the
    // transition's recompute below sees the level rise from LOW again, and warns nobody about an erased customer.
    await sql.query(`UPDATE customer SET risk_score = 0, risk_level = 'LOW' WHERE id = $1`, [customerId]);
    await sql.query(`UPDATE early_warning SET status = 'RESOLVED', resolved_at = now() WHERE customer_id = $1`, [customerId]);
    // Without a note both go through.
    expect((await gqlOk<{ transitionAlert: { status: string } }>(t.gql, TRANSITION, { id: alertId, i: { to: 'INVESTIGATING' } }, analyst.accessToken)).transitionAlert.status).toBe('INVESTIGATING');
    expect((await gqlOk<{ resolveHold: { holdStatus: string } }>(t.gql, RESOLVE, { id: eventId, i: { release: true } }, analyst.accessToken)).resolveHold.holdStatus).toBe('RELEASED');
    const risk = await sql.query(
      `SELECT c.risk_level, (SELECT count(*)::int FROM early_warning w WHERE w.customer_id = c.id AND w.status = 'OPEN') AS open_warnings FROM customer c WHERE c.id = $1`,
      [customerId],
    );
    expect(risk.rows[0]).toEqual({ risk_level: 'MEDIUM', open_warnings: 0 });
  });

  it('never opens two alerts for one rule and customer under concurrent screening', async () => {
    const c = await customer();
    const results = await Promise.all(Array.from({ length: 8 }, () => ingest(t, core.token, [{ customerId: c, type: 'TRANSACTION', amount: '1500.00' }])));
    expect(results.every((r) => !r.errors && r.data!.ingestEvents[0]!.decision === 'HOLD')).toBe(true);
    const { rows } = await sql.query(`SELECT a.occurrences FROM alert a JOIN rule r ON r.id = a.rule_id WHERE a.customer_id = $1 AND r.code = 'LARGE_TRANSACTION'`, [c]);
    expect(rows).toEqual([{ occurrences: 8 }]);
  });

  it('records SHADOW hits without an alert or a decision', async () => {
    const rule = await gqlOk<{ createRule: { id: string } }>(t.gql, 'mutation($i: CreateRuleInput!) { createRule(input: $i) { id } }', {
      i: { code: 'SHADOW_BRANCH', name: 'Branch channel', eventTypes: ['TRANSACTION'], severity: 'HIGH', actions: ['RAISE_ALERT', 'HOLD_TRANSACTION'], mode: 'SHADOW', condition: { compare: { left: { field: 'channel' }, op: 'eq', right: { value: 'BRANCH' } } } },
    }, analyst.accessToken);
    await gqlOk(t.gql, 'mutation($id: ID!) { activateRule(id: $id) { status } }', { id: rule.createRule.id }, co.accessToken);
    const c = await customer();
    const res = await ingest(t, core.token, [{ customerId: c, type: 'TRANSACTION', amount: '10.00', channel: 'BRANCH' }]);
    expect(res.data!.ingestEvents[0]!.decision).toBe('ALLOW');
    expect((await sql.query(`SELECT count(*)::int AS n FROM rule_hit WHERE rule_id = $1 AND mode = 'SHADOW'`, [rule.createRule.id])).rows[0].n).toBe(1);
    expect((await sql.query(`SELECT count(*)::int AS n FROM alert WHERE rule_id = $1`, [rule.createRule.id])).rows[0].n).toBe(0);
  });

  it('orders events by occurrence or by receipt', async () => {
    const c = await customer();
    const old = new Date(Date.now() - 5 * 24 * 3600_000).toISOString();
    const first = await ingest(t, core.token, [{ customerId: c, type: 'TRANSACTION', amount: '1.00' }]);
    const backfilled = await ingest(t, core.token, [{ customerId: c, type: 'TRANSACTION', amount: '2.00', occurredAt: old }]);
    const [a, b] = [first.data!.ingestEvents[0]!.event!.id, backfilled.data!.ingestEvents[0]!.event!.id];
    const order = async (orderBy: string) =>
      (await gqlOk<{ events: { nodes: Array<{ id: string }> } }>(t.gql, `query($c: ID!) { events(filter: {customerId: $c}, orderBy: ${orderBy}) { nodes { id } } }`, { c }, analyst.accessToken)).events.nodes.map((e) => e.id);
    expect(await order('{field: OCCURRED_AT, direction: DESC}')).toEqual([a, b]);
    expect(await order('{field: RECEIVED_AT, direction: DESC}')).toEqual([b, a]);
    expect(await order('{direction: ASC}')).toEqual([b, a]);
  });

  it('lets an analyst lift a login lock: later logins are screened normally again (audited, once)', async () => {
    const c = await customer();
    const failures = Array.from({ length: 5 }, () => ({ customerId: c, type: 'LOGIN', attributes: { outcome: 'FAILURE' } }));
    expect((await ingest(t, core.token, failures)).errors).toBeUndefined();
    const login = async () => (await ingest(t, core.token, [{ customerId: c, type: 'LOGIN', attributes: { outcome: 'SUCCESS' } }])).data!.ingestEvents[0]!.decision;
    expect(await login()).toBe('BLOCK');

    const LOCK = 'query($c: ID!) { customer(id: $c) { loginLock { active lockedSince lockedUntil liftedAt liftedById ruleId } } }';
    const before = await gqlOk<{ customer: { loginLock: { active: boolean; lockedSince: string; lockedUntil: string; liftedAt: string | null } } }>(t.gql, LOCK, { c }, am.accessToken);
    expect(before.customer.loginLock).toMatchObject({ active: true, liftedAt: null });
    expect(new Date(before.customer.loginLock.lockedUntil).getTime()).toBeGreaterThan(Date.now() + 25 * 60_000);
    expect(new Date(before.customer.loginLock.lockedUntil).getTime() - new Date(before.customer.loginLock.lockedSince).getTime()).toBe(30 * 60_000);

    const lift = (token: string) => t.gql<{ liftLoginLock: { active: boolean; liftedById: string } }>('mutation($c: ID!) { liftLoginLock(customerId: $c) { active liftedById } }', { c }, { token });
    expect(codeOf(await lift(agent.accessToken))).toBe('FORBIDDEN');
    expect(codeOf(await lift(am.accessToken))).toBe('FORBIDDEN');
    expect((await lift(analyst.accessToken)).data!.liftLoginLock).toEqual({ active: false, liftedById: analyst.userId });
    expect((await lift(analyst.accessToken)).errors?.[0].extensions).toMatchObject({ code: 'INVALID_TRANSITION', from: 'LIFTED', to: 'LIFTED' });
    expect(await login()).toBe('ALLOW');
    const audit = await sql.query(`SELECT actor_id FROM audit_entry WHERE action = 'login_lock.lift' AND customer_id = $1`, [c]);
    expect(audit.rows).toEqual([{ actor_id: analyst.userId }]);

    // No lock ever placed: nothing to lift; a partner cannot see locks.
    const quiet = await customer();
    expect((await t.gql('mutation($c: ID!) { liftLoginLock(customerId: $c) { active } }', { c: quiet }, { token: analyst.accessToken })).errors?.[0].extensions).toMatchObject({ code: 'INVALID_TRANSITION', from: 'NONE' });
    expect((await gqlOk<{ customer: { loginLock: null } }>(t.gql, 'query($c: ID!) { customer(id: $c) { loginLock { active } } }', { c: quiet }, analyst.accessToken)).customer.loginLock).toBeNull();
    const shop = await partnerWithToken(t, admin, 'EXTERNAL', ['customers:read', 'customers:write', 'events:write']);
    const own = (await gqlOk<{ createCustomer: { id: string } }>(t.gql, 'mutation { createCustomer(input: {externalRef: "al-shop-1"}) { id } }', undefined, shop.token)).createCustomer.id;
    const seen = await t.gql('query($c: ID!) { customer(id: $c) { id loginLock { active } } }', { c: own }, { token: shop.token });
    expect(seen.errors?.map((e) => `${e.path!.join('.')}:${e.extensions!.code}`)).toEqual(['customer.loginLock:FORBIDDEN']);
  });

  it('shows an account manager which rule is behind its alerts, never its logic', async () => {
    const { alertId } = await largeAlert();
    const query = 'query($id: ID!) { alert(id: $id) { id rule { id code name version severity condition actions dedupWindow } } }';
    const res = await t.gql<{ alert: { id: string; rule: Record<string, unknown> } }>(query, { id: alertId }, { token: am.accessToken });
    expect(res.data!.alert.rule).toMatchObject({ code: 'LARGE_TRANSACTION', name: expect.any(String), version: expect.any(Number), severity: 'HIGH', condition: null, actions: null, dedupWindow: null });
    expect(res.data!.alert.rule.id).toEqual(expect.any(String));
    expect(res.errors!.map((e) => `${e.path!.join('.')}:${e.extensions!.code}`).sort()).toEqual(['alert.rule.actions:FORBIDDEN', 'alert.rule.condition:FORBIDDEN', 'alert.rule.dedupWindow:FORBIDDEN']);
    // The list says the same, and the rules themselves stay closed to the role.
    const list = await t.gql<{ alerts: { nodes: Array<{ rule: { condition: unknown } }> } }>('{ alerts(first: 5) { nodes { rule { code condition } } } }', undefined, { token: am.accessToken });
    expect(list.data!.alerts.nodes.length).toBeGreaterThan(0);
    expect(list.data!.alerts.nodes.every((a) => a.rule.condition === null)).toBe(true);
    expect(new Set(list.errors!.map((e) => e.extensions!.code))).toEqual(new Set(['FORBIDDEN']));
    for (const q of ['{ rules { totalCount } }', `{ rule(id: "${(res.data!.alert.rule as { id: string }).id}") { code } }`]) {
      expect(codeOf(await t.gql(q, undefined, { token: am.accessToken }))).toBe('FORBIDDEN');
    }
    // An analyst reads the whole rule.
    const full = await gqlOk<{ alert: { rule: { condition: unknown; actions: string[] } } }>(t.gql, query, { id: alertId }, analyst.accessToken);
    expect(full.alert.rule.condition).toEqual(expect.any(Object));
    expect(full.alert.rule.actions).toContain('RAISE_ALERT');
  });

  it('keeps an account manager to the alerts and events of its own customers: another manager\'s and customer-less alerts stay out of reach', async () => {
    // SPEC §4/§5: an ACCOUNT_MANAGER reads alerts and events of its own customers only ("read own"); rows out
    // of scope are absent from lists and NOT_FOUND by id. Another manager with a customer, an event and an alert:
    const otherAm = await createStaff(t, admin, 'ACCOUNT_MANAGER');
    const theirs = (await gqlOk<{ createCustomer: { id: string } }>(t.gql, 'mutation($i: CreateCustomerInput!) { createCustomer(input: $i) { id } }', { i: { externalRef: `al-other-${++n}`, fullName: 'Otto Othermanager', accountManagerId: otherAm.userId, transactionLimit: '1000.00', dailyLimit: '50000.00' } }, co.accessToken)).createCustomer.id;
    const ingested = await ingest(t, core.token, [{ customerId: theirs, type: 'TRANSACTION', amount: '1500.00', currency: 'EUR' }]);
    expect(ingested.data!.ingestEvents[0]!.decision).toBe('HOLD');
    const theirEvent = ingested.data!.ingestEvents[0]!.event!.id;
    const { rows: [theirRow] } = await sql.query(`SELECT id FROM alert WHERE customer_id = $1`, [theirs]);
    const theirAlert = theirRow.id as string;
    // One alert and event of the first manager's own, so its lists cannot pass by being empty.
    const mine = await largeAlert();
    // A customer-less SYSTEMIC alert (a complaint spike): no customer, so no account manager's.
    const systemic = (await sql.query(`INSERT INTO alert (kind, customer_id, severity, first_seen_at, last_seen_at) VALUES ('SYSTEMIC', NULL, 'HIGH', now(), now()) RETURNING id`)).rows[0].id as string;

    // The other manager reads its own alert and event: the refusals below are about scope, not about the rows.
    const ownRead = await gqlOk<{ alert: { id: string }; event: { id: string } }>(t.gql, 'query($a: ID!, $e: ID!) { alert(id: $a) { id } event(id: $e) { id } }', { a: theirAlert, e: theirEvent }, otherAm.accessToken);
    expect(ownRead).toEqual({ alert: { id: theirAlert }, event: { id: theirEvent } });

    // By id: NOT_FOUND, never a hint the row exists.
    for (const [field, id] of [['alert', theirAlert], ['event', theirEvent], ['alert', systemic]] as const) {
      const res = await t.gql(`query($id: ID!) { ${field}(id: $id) { id } }`, { id }, { token: am.accessToken });
      expect(codeOf(res)).toBe('NOT_FOUND');
      expect(res.data).toEqual({ [field]: null });
    }
    // Filtering on the other manager's customer finds nothing either.
    const filtered = await gqlOk<{ alerts: { totalCount: number }; events: { totalCount: number } }>(t.gql, 'query($c: ID!) { alerts(filter: {customerId: $c}) { totalCount } events(filter: {customerId: $c}) { totalCount } }', { c: theirs }, am.accessToken);
    expect(filtered).toEqual({ alerts: { totalCount: 0 }, events: { totalCount: 0 } });

    // Lists, every page: only rows of the manager's own customers, all of them, and never a customer-less alert.
    const own = new Set((await sql.query(`SELECT id FROM customer WHERE account_manager_id = $1`, [am.userId])).rows.map((r: { id: string }) => r.id));
    expect(own.has(mine.customerId)).toBe(true);
    expect(own.has(theirs)).toBe(false);
    type Node = { id: string; kind?: string; customerId?: string | null; customer: { id: string } | null };
    const walk = async (list: 'alerts' | 'events', selection: string) => {
      const nodes: Node[] = [];
      let after: string | null = null;
      let totalCount = -1;
      do {
        const page: Record<string, { totalCount: number; nodes: Node[]; pageInfo: { hasNextPage: boolean; endCursor: string | null } }> = await gqlOk(
          t.gql, `query($after: String) { ${list}(first: 100, after: $after) { totalCount nodes { ${selection} } pageInfo { hasNextPage endCursor } } }`, { after }, am.accessToken,
        );
        nodes.push(...page[list].nodes);
        totalCount = page[list].totalCount;
        after = page[list].pageInfo.hasNextPage ? page[list].pageInfo.endCursor : null;
      } while (after);
      return { nodes, totalCount };
    };
    const alerts = await walk('alerts', 'id kind customer { id }');
    expect(alerts.nodes.length).toBeGreaterThan(0);
    for (const a of alerts.nodes) {
      expect(a.kind).not.toBe('SYSTEMIC');
      expect(own.has(a.customer?.id ?? '')).toBe(true);
    }
    const alertIds = alerts.nodes.map((a) => a.id);
    expect(alertIds).toContain(mine.alertId);
    expect(alertIds).not.toContain(theirAlert);
    expect(alertIds).not.toContain(systemic);
    const ownAlerts = (await sql.query(`SELECT count(*)::int AS n FROM alert a JOIN customer c ON c.id = a.customer_id WHERE c.account_manager_id = $1`, [am.userId])).rows[0].n as number;
    expect(alerts.totalCount).toBe(ownAlerts);
    expect(alerts.nodes).toHaveLength(ownAlerts);

    const events = await walk('events', 'id customerId customer { id }');
    expect(events.nodes.length).toBeGreaterThan(0);
    for (const e of events.nodes) {
      expect(own.has(e.customerId ?? '')).toBe(true);
      expect(e.customer?.id).toBe(e.customerId);
    }
    const eventIds = events.nodes.map((e) => e.id);
    expect(eventIds).toContain(mine.eventId);
    expect(eventIds).not.toContain(theirEvent);
    const ownEvents = (await sql.query(`SELECT count(*)::int AS n FROM event e JOIN customer c ON c.id = e.customer_id WHERE c.account_manager_id = $1`, [am.userId])).rows[0].n as number;
    expect(events.totalCount).toBe(ownEvents);
    expect(events.nodes).toHaveLength(ownEvents);
  });
});
