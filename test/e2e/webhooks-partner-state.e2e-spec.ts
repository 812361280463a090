import { Client } from 'pg';
import { WebhookRetryPolicy } from '../../src/modules/monitoring/webhooks/webhooks.settings';
import { startTestApp, type TestApp } from '../helpers/app';
import { createStaff, freshCode, gqlOk, signInAdmin, type SignedIn } from '../helpers/auth';
import { ingest, partnerWithToken } from '../helpers/monitoring';
import { Receiver, verifySignature as verify } from '../helpers/webhooks';

/**
 * Webhooks follow the partner's standing (SPEC §5, §8): a partner that is suspended (by an ADMIN or by a
 * FAIL assessment), whose agreement is not in force, or that no longer holds the scope an event type needs,
 * is sent nothing — neither new messages (nothing is addressed to it) nor messages queued before the cut.
 */

const ALL_SCOPES = ['customers:read', 'customers:write', 'events:write', 'complaints:read', 'complaints:write'];
const CREATE_WEBHOOK = 'mutation($i: CreateWebhookInput!) { createWebhook(input: $i) { secret webhook { id } } }';
const FILE = 'mutation($i: FileComplaintInput!) { fileComplaint(input: $i) { id } }';
const NOTE = 'mutation($id: ID!, $note: String!) { addComplaintNote(id: $id, note: $note) { id } }';
const ASSESS = 'mutation($i: RecordPartnerAssessmentInput!) { recordPartnerAssessment(input: $i) { suspended } }';
const UPDATE_PARTNER = 'mutation($id: ID!, $i: UpdatePartnerInput!) { updatePartner(id: $id, input: $i) { suspended allowedScopes } }';
const DELIVERIES = 'query($id: ID!) { webhook(id: $id) { deliveries(first: 50) { nodes { deliveryId eventType attempt status statusCode error } } } }';
const ERASE = 'mutation($id: ID!) { eraseCustomer(id: $id, reason: "erasure request") { id } }';

type Delivery = { deliveryId: string; eventType: string; attempt: number; status: string; statusCode: number | null; error: string | null };

interface Setup {
  partner: { id: string; token: string };
  hook: Receiver;
  secret: string;
  webhookId: string;
  customers: string[];
  complaintId: string;
}

describe('webhooks follow the partner: suspension, agreement and scopes cut deliveries off', () => {
  let t: TestApp;
  let sql: Client;
  let admin: SignedIn, agent: SignedIn, co: SignedIn;
  const receivers: Receiver[] = [];
  let n = 0;
  let retry: WebhookRetryPolicy;
  const fastRetry = { baseDelayMs: 50, factor: 2, maxAttempts: 4 };

  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

  /**
   * A partner with a webhook for complaint.updated and customer.status_changed, two customers it onboarded
   * and a complaint it filed on the first (whose FILED message is the webhook's first).
   */
  const setup = async (respond?: (n: number) => number | Promise<number>, eventTypes = ['complaint.updated', 'customer.status_changed']): Promise<Setup> => {
    const partner = await partnerWithToken(t, admin, 'EXTERNAL', ALL_SCOPES);
    const hook = await new Receiver(respond, { waitMs: 30_000 }).start();
    receivers.push(hook);
    const created = (await gqlOk<{ createWebhook: { secret: string; webhook: { id: string } } }>(t.gql, CREATE_WEBHOOK, { i: { partnerId: partner.id, url: hook.url, eventTypes } }, admin.accessToken)).createWebhook;
    const customers: string[] = [];
    for (let k = 0; k < 2; k++) {
      customers.push((await gqlOk<{ createCustomer: { id: string } }>(t.gql, 'mutation($i: CreateCustomerInput!) { createCustomer(input: $i) { id } }', { i: { externalRef: `wps-${++n}`, transactionLimit: '100.00' } }, partner.token)).createCustomer.id);
    }
    const complaintId = (await gqlOk<{ fileComplaint: { id: string } }>(t.gql, FILE, {
      i: { customerId: customers[0], channel: 'PARTNER', category: 'SERVICE', severity: 'MEDIUM', subject: 'Slow answer', description: 'Waited for an hour.' },
    }, partner.token)).fileComplaint.id;
    return { partner, hook, secret: created.secret, webhookId: created.webhook.id, customers, complaintId };
  };

  /** A staff change of the complaint: one complaint.updated for the filing partner, when it may receive it. */
  const note = (s: Setup) => gqlOk(t.gql, NOTE, { id: s.complaintId, note: `note ${++n}` }, agent.accessToken);
  const outboxCount = async (webhookId: string, type?: string) =>
    (await sql.query(`SELECT count(*)::int AS n FROM webhook_outbox WHERE webhook_id = $1 AND ($2::text IS NULL OR event_type = $2)`, [webhookId, type ?? null])).rows[0].n as number;
  const assess = (partnerId: string, result: 'PASS' | 'CONDITIONAL' | 'FAIL') => gqlOk<{ recordPartnerAssessment: { suspended: boolean } }>(t.gql, ASSESS, { i: { partnerId, result, notes: 'breach at the partner' } }, admin.accessToken);
  const updatePartner = (id: string, i: Record<string, unknown>) => gqlOk<{ updatePartner: { suspended: boolean; allowedScopes: string[] } }>(t.gql, UPDATE_PARTNER, { id, i }, admin.accessToken);
  const deliveries = async (webhookId: string, count: number, timeoutMs = 20_000): Promise<Delivery[]> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const nodes = (await gqlOk<{ webhook: { deliveries: { nodes: Delivery[] } } }>(t.gql, DELIVERIES, { id: webhookId }, admin.accessToken)).webhook.deliveries.nodes;
      if (nodes.length >= count || Date.now() > deadline) return [...nodes].sort((a, b) => a.attempt - b.attempt);
      await sleep(50);
    }
  };
  let steppedUp = false;
  const erase = async (customerId: string) => {
    // One step-up lasts 10 minutes, longer than this file; a second one would wait for a fresh TOTP code.
    if (!steppedUp) await gqlOk(t.gql, 'mutation($c: String!) { stepUp(code: $c) { expiresAt } }', { c: await freshCode(co.secret) }, co.accessToken);
    steppedUp = true;
    await gqlOk(t.gql, ERASE, { id: customerId }, co.accessToken);
  };

  /** Nothing new reaches the receiver, and no outbox row is written for the webhook. */
  const expectNothingPublished = async (s: Setup, change: () => Promise<unknown>, type = 'complaint.updated') => {
    const [rows, received] = [await outboxCount(s.webhookId, type), s.hook.requests.length];
    await change();
    expect(await outboxCount(s.webhookId, type)).toBe(rows);
    await sleep(600);
    expect(s.hook.requests).toHaveLength(received);
  };

  /**
   * A message already queued when the partner is cut off: attempt 1 reaches the receiver, which holds its
   * answer (a 503) until `cutOff` has committed, so the cut falls between attempt 1 and the retry however
   * long the mutation takes. Attempt 2 must not be sent: dead-lettered with `reason`.
   */
  const queuedThenCutOff = async (cutOff: (s: Setup) => Promise<unknown>, reason: string) => {
    Object.assign(retry, { baseDelayMs: 1_500, factor: 1, maxAttempts: 4 });
    let answer!: () => void;
    const cutOffCommitted = new Promise<void>((resolve) => (answer = resolve));
    try {
      const s = await setup((k) => (k === 1 ? cutOffCommitted.then(() => 503) : 200));
      await s.hook.waitFor(1);
      try {
        await cutOff(s);
      } finally {
        answer(); // attempt 1 fails now; the retry is queued after it
      }
      const log = await deliveries(s.webhookId, 2);
      expect(log.map(({ attempt, status, statusCode, error, eventType }) => ({ attempt, status, statusCode, error, eventType }))).toEqual([
        { attempt: 1, status: 'FAILED', statusCode: 503, error: 'HTTP 503', eventType: 'complaint.updated' },
        { attempt: 2, status: 'DEAD', statusCode: null, error: reason, eventType: 'complaint.updated' },
      ]);
      const { rows } = await sql.query(`SELECT status, last_error FROM webhook_outbox WHERE webhook_id = $1`, [s.webhookId]);
      expect(rows).toEqual([{ status: 'DEAD', last_error: reason }]);
      await sleep(1_800);
      expect(s.hook.requests).toHaveLength(1);
    } finally {
      answer(); // never leave the receiver holding a request (its server could not close)
      Object.assign(retry, fastRetry);
    }
  };

  beforeAll(async () => {
    t = await startTestApp();
    retry = t.app.get(WebhookRetryPolicy);
    Object.assign(retry, fastRetry);
    sql = new Client({ connectionString: t.db.url });
    await sql.connect();
    admin = await signInAdmin(t);
    [agent, co] = [await createStaff(t, admin, 'AGENT'), await createStaff(t, admin, 'COMPLIANCE_OFFICER')];
  }, 120_000);

  afterAll(async () => {
    await sql?.end();
    await t?.close();
    await Promise.all(receivers.map((r) => r.close()));
  });

  it('(a) delivers signed complaint.updated normally; after a FAIL assessment nothing is published or sent; a PASS resumes without replay', async () => {
    const s = await setup();
    const [filed] = await s.hook.waitFor(1, 'complaint.updated');
    verify(s.secret, filed);
    expect(JSON.parse(filed.body).data).toMatchObject({ complaintId: s.complaintId, customerId: s.customers[0], change: 'FILED' });
    await note(s);
    const [, noted] = await s.hook.waitFor(2, 'complaint.updated');
    verify(s.secret, noted);
    expect(JSON.parse(noted.body).data).toMatchObject({ complaintId: s.complaintId, change: 'NOTE_ADDED' });

    expect((await assess(s.partner.id, 'FAIL')).recordPartnerAssessment.suspended).toBe(true);
    await expectNothingPublished(s, () => note(s));
    // customer.status_changed is cut off too.
    await expectNothingPublished(s, () => erase(s.customers[1]), 'customer.status_changed');

    // A passing assessment lifts the suspension: later changes flow again; what happened meanwhile is not replayed.
    expect((await assess(s.partner.id, 'PASS')).recordPartnerAssessment.suspended).toBe(false);
    await note(s);
    const all = await s.hook.waitFor(3);
    await sleep(500);
    expect(s.hook.requests).toHaveLength(3);
    verify(s.secret, all[2]);
    expect(JSON.parse(all[2].body)).toMatchObject({ type: 'complaint.updated', data: { change: 'NOTE_ADDED' } });
    expect(await outboxCount(s.webhookId)).toBe(3);
  });

  it('(a) a manually suspended partner is not told of the hold it sent being resolved', async () => {
    const partner = await partnerWithToken(t, admin, 'EXTERNAL', ALL_SCOPES);
    const hook = await new Receiver(undefined, { waitMs: 30_000 }).start();
    receivers.push(hook);
    const { webhook } = (await gqlOk<{ createWebhook: { webhook: { id: string } } }>(t.gql, CREATE_WEBHOOK, { i: { partnerId: partner.id, url: hook.url, eventTypes: ['hold.placed', 'hold.resolved'] } }, admin.accessToken)).createWebhook;
    const customerId = (await gqlOk<{ createCustomer: { id: string } }>(t.gql, 'mutation { createCustomer(input: {externalRef: "wps-hold", transactionLimit: "100.00"}) { id } }', undefined, partner.token)).createCustomer.id;
    const res = await ingest(t, partner.token, [{ customerId, type: 'TRANSACTION', amount: '500.00', currency: 'EUR' }]);
    expect(res.data!.ingestEvents[0]!.decision).toBe('HOLD');
    await hook.waitFor(1, 'hold.placed');

    expect((await updatePartner(partner.id, { suspended: true })).updatePartner.suspended).toBe(true);
    const before = hook.requests.length;
    await gqlOk(t.gql, 'mutation($id: ID!) { resolveHold(eventId: $id, input: {release: true}) { holdStatus } }', { id: res.data!.ingestEvents[0]!.event!.id }, co.accessToken);
    expect(await outboxCount(webhook.id, 'hold.resolved')).toBe(0);
    await sleep(600);
    expect(hook.requests).toHaveLength(before);
  });

  it('(b) a message queued before a FAIL assessment is dead-lettered, not sent, with the reason in the delivery log', async () => {
    await queuedThenCutOff((s) => assess(s.partner.id, 'FAIL'), 'partner suspended');
  });

  it('(b) the same after a manual suspension', async () => {
    await queuedThenCutOff((s) => updatePartner(s.partner.id, { suspended: true }), 'partner suspended');
  });

  it('(c) removing complaints:read stops complaint.updated (and only it); removing customers:read stops customer.status_changed', async () => {
    const s = await setup();
    await s.hook.waitFor(1, 'complaint.updated');
    await updatePartner(s.partner.id, { allowedScopes: ALL_SCOPES.filter((x) => x !== 'complaints:read') });
    await expectNothingPublished(s, () => note(s));

    // customers:read is still allowed: the erasure of its customer is reported.
    await erase(s.customers[1]);
    const [changed] = await s.hook.waitFor(1, 'customer.status_changed');
    verify(s.secret, changed);
    expect(JSON.parse(changed.body).data).toMatchObject({ customerId: s.customers[1], status: 'ERASED' });

    await updatePartner(s.partner.id, { allowedScopes: ['customers:write', 'events:write', 'complaints:write'] });
    await expectNothingPublished(s, () => erase(s.customers[0]), 'customer.status_changed');
  });

  it('(c) a complaint.updated queued before complaints:read is removed is dead-lettered', async () => {
    await queuedThenCutOff((s) => updatePartner(s.partner.id, { allowedScopes: ALL_SCOPES.filter((x) => x !== 'complaints:read') }), 'partner lacks the complaints:read scope');
  });

  it('(d) an expired agreement stops publications and queued deliveries', async () => {
    const s = await setup();
    await s.hook.waitFor(1, 'complaint.updated');
    // The API cannot change agreement dates: the agreement runs out.
    await sql.query(`UPDATE partner SET agreement_expires_at = now() - interval '1 second' WHERE id = $1`, [s.partner.id]);
    await expectNothingPublished(s, () => note(s));

    await queuedThenCutOff((q) => sql.query(`UPDATE partner SET agreement_expires_at = now() - interval '1 second' WHERE id = $1`, [q.partner.id]), 'partner agreement not in force');
  });

  const UPDATE_WEBHOOK = 'mutation($id: ID!, $i: UpdateWebhookInput!) { updateWebhook(id: $id, input: $i) { active eventTypes } }';

  it('(e) a type taken off the webhook is not sent when already queued', async () => {
    await queuedThenCutOff((s) => gqlOk(t.gql, UPDATE_WEBHOOK, { id: s.webhookId, i: { eventTypes: ['customer.status_changed'] } }, admin.accessToken), 'webhook no longer subscribed to complaint.updated');
  });

  it('(e) deactivating a webhook lets the attempt in flight end and be logged, then refuses its retry', async () => {
    await queuedThenCutOff((s) => gqlOk(t.gql, UPDATE_WEBHOOK, { id: s.webhookId, i: { active: false } }, admin.accessToken), 'webhook deleted or deactivated');
  });

  it('(e) deactivating a webhook dead-letters a message waiting for its retry, with an entry in the delivery log', async () => {
    Object.assign(retry, { baseDelayMs: 60_000, factor: 1, maxAttempts: 4 });
    try {
      const s = await setup(() => 503);
      await deliveries(s.webhookId, 1);
      await gqlOk(t.gql, UPDATE_WEBHOOK, { id: s.webhookId, i: { active: false } }, admin.accessToken);
      const log = await deliveries(s.webhookId, 2);
      expect(log.map(({ attempt, status, statusCode, error }) => ({ attempt, status, statusCode, error }))).toEqual([
        { attempt: 1, status: 'FAILED', statusCode: 503, error: 'HTTP 503' },
        { attempt: 2, status: 'DEAD', statusCode: null, error: 'webhook deactivated' },
      ]);
      const { rows } = await sql.query(`SELECT status, last_error FROM webhook_outbox WHERE webhook_id = $1`, [s.webhookId]);
      expect(rows).toEqual([{ status: 'DEAD', last_error: 'webhook deactivated' }]);
    } finally {
      Object.assign(retry, fastRetry);
    }
  });
});
