import { Client } from 'pg';
import { WebhookCircuits } from '../../src/modules/monitoring/webhooks/webhook-circuits';
import { WebhookDispatcher } from '../../src/modules/monitoring/webhooks/webhook-dispatcher.service';
import { WebhookSecrets } from '../../src/modules/monitoring/webhooks/webhook-secrets';
import { WebhookRetryPolicy } from '../../src/modules/monitoring/webhooks/webhooks.settings';
import { PiiVault } from '../../src/common/crypto/pii-vault.service';
import { startTestApp, type TestApp } from '../helpers/app';
import { createStaff, freshCode, gqlOk, signInAdmin, type SignedIn } from '../helpers/auth';
import { ingest, partnerWithToken } from '../helpers/monitoring';
import { Receiver, verifySignature as verify } from '../helpers/webhooks';

const codeOf = (res: { errors?: Array<{ extensions?: Record<string, unknown> }> }) => res.errors?.[0]?.extensions?.code;

const CREATE = 'mutation($i: CreateWebhookInput!) { createWebhook(input: $i) { secret webhook { id partnerId url eventTypes active } } }';
const DELIVERIES = 'query($id: ID!) { webhook(id: $id) { deliveries(first: 50) { totalCount nodes { deliveryId eventType attempt status statusCode error durationMs createdAt } } } }';

type Delivery = { deliveryId: string; eventType: string; attempt: number; status: string; statusCode: number | null; error: string | null };

describe('webhooks: signed, retried, dead-lettered, logged, partner-owned', () => {
  let t: TestApp;
  let sql: Client;
  let admin: SignedIn, co: SignedIn, analyst: SignedIn;
  let core: { id: string; token: string }, shop: { id: string; token: string }, quiet: { id: string; token: string };
  const receivers: Receiver[] = [];
  let n = 0;

  const receiver = async (respond?: (n: number) => number) => {
    const r = await new Receiver(respond).start();
    receivers.push(r);
    return r;
  };
  const createWebhook = async (partnerId: string, url: string, eventTypes: string[]) =>
    (await gqlOk<{ createWebhook: { secret: string; webhook: { id: string; eventTypes: string[] } } }>(t.gql, CREATE, { i: { partnerId, url, eventTypes } }, admin.accessToken)).createWebhook;
  // Marker PII: none of it may appear in a webhook body.
  const customer = async () =>
    (await gqlOk<{ createCustomer: { id: string } }>(t.gql, 'mutation($i: CreateCustomerInput!) { createCustomer(input: $i) { id } }', {
      i: { externalRef: `wh-${++n}`, fullName: 'Zelda Hookmarker', email: 'zelda.hookmarker@example.test', phone: '+447700900123', transactionLimit: '1000.00', dailyLimit: '50000.00' },
    }, co.accessToken)).createCustomer.id;
  const held = async (partner: { token: string }, customerId: string, amount = '1500') => {
    const res = await ingest(t, partner.token, [{ customerId, type: 'TRANSACTION', amount, currency: 'EUR' }]);
    expect(res.errors).toBeUndefined();
    expect(res.data!.ingestEvents[0]!.decision).toBe('HOLD');
    return res.data!.ingestEvents[0]!.event!.id;
  };
  const deliveries = async (webhookId: string, count: number, timeoutMs = 45_000): Promise<Delivery[]> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const res = await gqlOk<{ webhook: { deliveries: { nodes: Delivery[] } } }>(t.gql, DELIVERIES, { id: webhookId }, admin.accessToken);
      const nodes = res.webhook.deliveries.nodes;
      if (nodes.length >= count || Date.now() > deadline) return [...nodes].sort((a, b) => a.attempt - b.attempt);
      await new Promise((r) => setTimeout(r, 50));
    }
  };

  /** The outbox row is updated after the receiver has answered: wait for the dispatcher's commit. */
  const outboxSettled = async (webhookId: string, where: string, expectedStatus: string, timeoutMs = 10_000) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const { rows } = await sql.query(`SELECT status, attempts, last_error, payload::text AS payload FROM webhook_outbox o WHERE webhook_id = $1 ${where}`, [webhookId]);
      if (rows.every((r: { status: string }) => r.status === expectedStatus) || Date.now() > deadline) return rows as Array<Record<string, unknown>>;
      await new Promise((r) => setTimeout(r, 25));
    }
  };

  beforeAll(async () => {
    t = await startTestApp();
    // Fast retries for the test: 50 ms, 100 ms, 200 ms; dead after the 4th attempt.
    Object.assign(t.app.get(WebhookRetryPolicy), { baseDelayMs: 50, factor: 2, maxAttempts: 4 });
    sql = new Client({ connectionString: t.db.url });
    await sql.connect();
    admin = await signInAdmin(t);
    [co, analyst] = [await createStaff(t, admin, 'COMPLIANCE_OFFICER'), await createStaff(t, admin, 'ANALYST')];
    [core, shop, quiet] = [await partnerWithToken(t, admin, 'INTERNAL'), await partnerWithToken(t, admin, 'EXTERNAL'), await partnerWithToken(t, admin, 'INTERNAL')];
  }, 120_000);

  afterAll(async () => {
    await sql?.end();
    await t?.close();
    await Promise.all(receivers.map((r) => r.close()));
  });

  let coreHook: Receiver, shopHook: Receiver;
  let coreSecret: string, coreWebhookId: string, shopSecret: string;
  let coreHeldEventId: string;

  it('is ADMIN business: an analyst and a partner are refused', async () => {
    for (const token of [analyst.accessToken, core.token]) {
      expect(codeOf(await t.gql(CREATE, { i: { partnerId: core.id, url: 'http://127.0.0.1:9/x', eventTypes: ['hold.placed'] } }, { token }))).toBe('FORBIDDEN');
      expect(codeOf(await t.gql('{ webhooks { totalCount } }', undefined, { token }))).toBe('FORBIDDEN');
      expect(codeOf(await t.gql('mutation { deleteWebhook(id: "00000000-0000-0000-0000-000000000000") }', undefined, { token }))).toBe('FORBIDDEN');
    }
  });

  it('validates the input: event types from the list, an http(s) URL, an existing partner', async () => {
    const bad = async (i: Record<string, unknown>) => (await t.gql(CREATE, { i: { partnerId: core.id, url: 'http://127.0.0.1:9/x', eventTypes: ['hold.placed'], ...i } }, { token: admin.accessToken })).errors?.[0];
    expect(await bad({ eventTypes: ['hold.placed', 'hold.exploded'] })).toMatchObject({ extensions: { code: 'BAD_USER_INPUT', fieldErrors: [{ path: 'eventTypes' }] } });
    expect(await bad({ eventTypes: [] })).toMatchObject({ extensions: { code: 'BAD_USER_INPUT' } });
    // An event type the partner may not hear of (core has no complaints:read) would never be delivered.
    expect(await bad({ eventTypes: ['hold.placed', 'complaint.updated'] })).toMatchObject({
      extensions: { code: 'BAD_USER_INPUT', fieldErrors: [{ path: 'eventTypes', message: 'the partner may not receive complaint.updated (needs complaints:read)' }] },
    });
    expect(await bad({ url: 'ftp://127.0.0.1/x' })).toMatchObject({ extensions: { code: 'BAD_USER_INPUT', fieldErrors: [{ path: 'url', message: 'must be an http(s) URL' }] } });
    expect(await bad({ url: 'https://user:pw@hooks.example/x' })).toMatchObject({ extensions: { code: 'BAD_USER_INPUT', fieldErrors: [{ path: 'url', message: 'must not contain credentials' }] } });
    expect(await bad({ partnerId: '00000000-0000-0000-0000-000000000000' })).toMatchObject({ extensions: { code: 'NOT_FOUND' } });
  });

  it('delivers a signed hold.placed (and alert.raised) to the INTERNAL partner that sent the event, without PII or rule codes', async () => {
    [coreHook, shopHook] = [await receiver(), await receiver()];
    // Development and tests allow http and loopback receivers.
    const created = await createWebhook(core.id, coreHook.url, ['hold.placed', 'hold.resolved', 'alert.raised']);
    expect(created.secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    [coreSecret, coreWebhookId] = [created.secret, created.webhook.id];
    shopSecret = (await createWebhook(shop.id, shopHook.url, ['alert.raised', 'hold.placed', 'hold.resolved', 'customer.status_changed'])).secret;

    const c = await customer();
    const before = Math.floor(Date.now() / 1000);
    coreHeldEventId = await held(core, c);
    const [hold] = await coreHook.waitFor(1, 'hold.placed');
    const [alert] = await coreHook.waitFor(1, 'alert.raised');

    expect(hold.headers['content-type']).toBe('application/json');
    expect(hold.headers['x-custos-delivery']).toMatch(/^[0-9a-f-]{36}$/);
    expect(hold.headers['x-custos-attempt']).toBe('1');
    const { t: signedAt } = verify(coreSecret, hold);
    expect(signedAt).toBeGreaterThanOrEqual(before - 1);
    expect(signedAt).toBeLessThanOrEqual(Math.floor(Date.now() / 1000) + 1);
    const body = JSON.parse(hold.body);
    expect(body).toEqual({
      id: hold.headers['x-custos-delivery'],
      type: 'hold.placed',
      createdAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      // The customer was onboarded by staff, not by this partner: it may send events for it (INTERNAL) but
      // reads like any partner, so the message names its event and not the customer (SPEC §4, §8).
      data: { eventId: coreHeldEventId, eventType: 'TRANSACTION', customerId: null, customerExternalRef: null, amount: '1500.00', currency: 'EUR', occurredAt: expect.any(String), holdStatus: 'PENDING' },
    });
    expect(codeOf(await t.gql('query($id: ID!) { customer(id: $id) { id } }', { id: c }, { token: core.token }))).toBe('NOT_FOUND');
    verify(coreSecret, alert);
    expect(JSON.parse(alert.body).data).toMatchObject({ eventId: coreHeldEventId, customerId: null, customerExternalRef: null, severity: 'HIGH', alertId: expect.any(String) });
    expect(JSON.parse(alert.body).data).not.toHaveProperty('rule');
    for (const r of coreHook.requests) {
      expect(r.body).not.toMatch(/Zelda|Hookmarker|hookmarker|example\.test|\+4477|LARGE_TRANSACTION/);
      expect(() => verify(shopSecret, r)).toThrow(); // signed with this webhook's secret, not another's
    }
    // The outbox row is the record: delivered once, payload without PII.
    const rows = await outboxSettled(coreWebhookId, "AND o.event_type = 'hold.placed'", 'DELIVERED');
    expect(rows).toEqual([{ status: 'DELIVERED', attempts: 1, last_error: null, payload: expect.not.stringMatching(/Zelda|hookmarker/) }]);
    // Another partner's webhook heard nothing of it.
    expect(shopHook.requests).toHaveLength(0);

    // A customer the INTERNAL partner onboarded itself is named, by id and reference.
    const own = (await gqlOk<{ createCustomer: { id: string } }>(t.gql, 'mutation { createCustomer(input: {externalRef: "core-own-1", transactionLimit: "1000.00"}) { id } }', undefined, core.token)).createCustomer.id;
    const ownEventId = await held(core, own);
    const ownHold = (await coreHook.waitFor(2, 'hold.placed')).map((r) => JSON.parse(r.body).data).find((d) => d.eventId === ownEventId);
    expect(ownHold).toMatchObject({ customerId: own, customerExternalRef: 'core-own-1', holdStatus: 'PENDING' });
  });

  it('delivers every hold and alert of a batch call once, each with its own attempt job', async () => {
    const customers = [await customer(), await customer(), await customer()];
    const before = coreHook.of('hold.placed').length;
    const res = await ingest(t, core.token, customers.map((customerId) => ({ customerId, type: 'TRANSACTION', amount: '1500', currency: 'EUR' })));
    expect(res.data!.ingestEvents.map((r) => r!.decision)).toEqual(['HOLD', 'HOLD', 'HOLD']);
    const eventIds = res.data!.ingestEvents.map((r) => r!.event!.id);
    const holds = (await coreHook.waitFor(before + 3, 'hold.placed')).slice(before).map((r) => JSON.parse(r.body).data.eventId);
    expect(holds.sort()).toEqual([...eventIds].sort());
    const jobs = await sql.query(
      `SELECT count(*)::int AS n FROM (SELECT data FROM pgboss.job UNION ALL SELECT data FROM pgboss.archive) j
         JOIN webhook_outbox o ON o.id::text = j.data->>'outboxId' WHERE o.payload->>'eventId' = ANY($1::text[])`,
      [eventIds],
    );
    expect(jobs.rows[0].n).toBe(6); // hold.placed and alert.raised for each of the three events
    const rows = await outboxSettled(coreWebhookId, `AND o.payload->>'eventId' = ANY('{${eventIds.join(',')}}')`, 'DELIVERED');
    expect(rows.map((r) => [r.status, r.attempts])).toEqual(Array(6).fill(['DELIVERED', 1]));
  });

  it('delivers to an EXTERNAL partner its own hold, and nothing to the others', async () => {
    const mine = (await gqlOk<{ createCustomer: { id: string } }>(t.gql, 'mutation { createCustomer(input: {externalRef: "shop-wh-1", transactionLimit: "100.00"}) { id } }', undefined, shop.token)).createCustomer.id;
    const coreBefore = coreHook.requests.length;
    const eventId = await held(shop, mine, '500.00');
    const [hold] = await shopHook.waitFor(1, 'hold.placed');
    verify(shopSecret, hold);
    expect(JSON.parse(hold.body).data).toMatchObject({ eventId, customerId: mine, customerExternalRef: 'shop-wh-1', amount: '500.00' });
    await shopHook.waitFor(1, 'alert.raised');
    // A partner without webhooks writes no outbox rows; the INTERNAL partner did not hear of the shop's hold.
    const quietEventId = await held(quiet, await customer());
    // Proven in the database (outbox rows are written in the screening transaction, so they exist by now if
    // at all): the shop's event is addressed to the shop's webhook only, and the quiet partner's to no one.
    const addressed = async (eventId: string) =>
      (await sql.query(`SELECT w.partner_id, o.event_type FROM webhook_outbox o JOIN webhook w ON w.id = o.webhook_id WHERE o.payload->>'eventId' = $1 ORDER BY o.event_type`, [eventId])).rows;
    expect(await addressed(eventId)).toEqual([{ partner_id: shop.id, event_type: 'alert.raised' }, { partner_id: shop.id, event_type: 'hold.placed' }]);
    expect(await addressed(quietEventId)).toEqual([]);
    const { rows } = await sql.query(`SELECT count(*)::int AS n FROM webhook_outbox o JOIN webhook w ON w.id = o.webhook_id WHERE w.partner_id = $1`, [quiet.id]);
    expect(rows[0].n).toBe(0);
    // And on the wire.
    await new Promise((r) => setTimeout(r, 700));
    expect(coreHook.requests).toHaveLength(coreBefore);
    expect(shopHook.requests.map((r) => r.headers['x-custos-event']).sort()).toEqual(['alert.raised', 'hold.placed']);
  });

  it('sends hold.resolved to the partner that sent the held event when the hold is resolved', async () => {
    await gqlOk(t.gql, 'mutation($id: ID!) { resolveHold(eventId: $id, input: {release: true, note: "Zelda called, all fine"}) { holdStatus } }', { id: coreHeldEventId }, co.accessToken);
    const [resolved] = await coreHook.waitFor(1, 'hold.resolved');
    verify(coreSecret, resolved);
    const body = JSON.parse(resolved.body);
    expect(body).toMatchObject({ type: 'hold.resolved', data: { eventId: coreHeldEventId, customerId: null, customerExternalRef: null, holdStatus: 'RELEASED', amount: '1500.00', resolvedAt: expect.any(String) } });
    expect(resolved.body).not.toMatch(/Zelda|called/);
    expect(shopHook.of('hold.resolved')).toHaveLength(0);
  });

  it('sends customer.status_changed to the partner that onboarded the customer when it is erased', async () => {
    const onboarded = (await gqlOk<{ createCustomer: { id: string } }>(t.gql, 'mutation { createCustomer(input: {externalRef: "wh-shop-erased", fullName: "Zelda Hookmarker"}) { id } }', undefined, shop.token)).createCustomer.id;
    const byStaff = await customer(); // onboarded by no partner: no one hears of it
    await gqlOk(t.gql, 'mutation($c: String!) { stepUp(code: $c) { expiresAt } }', { c: await freshCode(co.secret) }, co.accessToken);
    for (const id of [onboarded, byStaff]) await gqlOk(t.gql, 'mutation($id: ID!) { eraseCustomer(id: $id, reason: "GDPR art. 17 request") { id } }', { id }, co.accessToken);
    const [changed] = await shopHook.waitFor(1, 'customer.status_changed');
    verify(shopSecret, changed);
    expect(JSON.parse(changed.body)).toMatchObject({
      type: 'customer.status_changed',
      data: { customerId: onboarded, customerExternalRef: 'wh-shop-erased', previousStatus: 'ACTIVE', status: 'ERASED', at: expect.any(String) },
    });
    expect(changed.body).not.toMatch(/Zelda|Hookmarker|GDPR/);
    // In the database: one customer.status_changed row, for the shop's webhook and the customer it onboarded;
    // none for the customer no partner onboarded.
    const { rows } = await sql.query(
      `SELECT w.partner_id, o.payload->>'customerId' AS customer_id FROM webhook_outbox o JOIN webhook w ON w.id = o.webhook_id
        WHERE o.event_type = 'customer.status_changed' AND o.payload->>'customerId' = ANY($1::text[])`,
      [[onboarded, byStaff]],
    );
    expect(rows).toEqual([{ partner_id: shop.id, customer_id: onboarded }]);
    await new Promise((r) => setTimeout(r, 500));
    expect(shopHook.of('customer.status_changed')).toHaveLength(1);
    expect(coreHook.of('customer.status_changed')).toHaveLength(0);
  });

  it('retries with backoff: two failures then success on the third attempt, all in the delivery log', async () => {
    const flakyPartner = await partnerWithToken(t, admin, 'INTERNAL');
    const flaky = await receiver((k) => (k <= 2 ? 500 : 204));
    const { secret, webhook } = await createWebhook(flakyPartner.id, flaky.url, ['hold.placed']);
    await held(flakyPartner, await customer());
    const attempts = await flaky.waitFor(3);
    // The same message each time: same id and body, a fresh signature per attempt.
    expect(new Set(attempts.map((a) => a.headers['x-custos-delivery'])).size).toBe(1);
    expect(new Set(attempts.map((a) => a.body)).size).toBe(1);
    expect(attempts.map((a) => a.headers['x-custos-attempt'])).toEqual(['1', '2', '3']);
    attempts.forEach((a) => verify(secret, a));
    expect(attempts[1].at - attempts[0].at).toBeGreaterThanOrEqual(45);
    const log = await deliveries(webhook.id, 3);
    expect(log.map(({ attempt, status, statusCode, error, eventType }) => ({ attempt, status, statusCode, error, eventType }))).toEqual([
      { attempt: 1, status: 'FAILED', statusCode: 500, error: 'HTTP 500', eventType: 'hold.placed' },
      { attempt: 2, status: 'FAILED', statusCode: 500, error: 'HTTP 500', eventType: 'hold.placed' },
      { attempt: 3, status: 'DELIVERED', statusCode: 204, error: null, eventType: 'hold.placed' },
    ]);
    expect(new Set(log.map((d) => d.deliveryId))).toEqual(new Set([attempts[0].headers['x-custos-delivery']]));
  });

  it('dead-letters a message its receiver never accepts, visible in the delivery log; an operator can re-queue it', async () => {
    const deadPartner = await partnerWithToken(t, admin, 'INTERNAL');
    let healthy = false;
    const down = await receiver(() => (healthy ? 200 : 503));
    const { webhook } = await createWebhook(deadPartner.id, down.url, ['hold.placed']);
    await held(deadPartner, await customer());
    await down.waitFor(4);
    const log = await deliveries(webhook.id, 4);
    expect(log.map((d) => `${d.attempt}:${d.status}:${d.statusCode}`)).toEqual(['1:FAILED:503', '2:FAILED:503', '3:FAILED:503', '4:DEAD:503']);
    const rows = await outboxSettled(webhook.id, '', 'DEAD');
    expect(rows).toEqual([{ status: 'DEAD', attempts: 4, last_error: 'HTTP 503', payload: expect.any(String) }]);
    await new Promise((r) => setTimeout(r, 700));
    expect(down.requests).toHaveLength(4);

    // The documented re-send: back to PENDING and overdue; the sweeper (safety net for lost jobs) queues it.
    healthy = true;
    await sql.query(`UPDATE webhook_outbox SET status = 'PENDING', attempts = 0, next_attempt_at = now() - interval '10 minutes' WHERE webhook_id = $1`, [webhook.id]);
    expect(await t.app.get(WebhookDispatcher).sweep()).toBe(1);
    await down.waitFor(5);
    const again = await deliveries(webhook.id, 5);
    expect(again.filter((d) => d.status === 'DELIVERED')).toMatchObject([{ attempt: 1, statusCode: 200 }]);
    const after = await outboxSettled(webhook.id, '', 'DELIVERED');
    expect(after).toMatchObject([{ status: 'DELIVERED', attempts: 1 }]);
  });

  it('records an unreachable receiver as a failed attempt', async () => {
    const gonePartner = await partnerWithToken(t, admin, 'INTERNAL');
    const gone = await receiver();
    await gone.close();
    receivers.splice(receivers.indexOf(gone), 1);
    const { webhook } = await createWebhook(gonePartner.id, gone.url, ['hold.placed']);
    await held(gonePartner, await customer());
    const log = await deliveries(webhook.id, 4);
    expect(log.map((d) => d.status)).toEqual(['FAILED', 'FAILED', 'FAILED', 'DEAD']);
    expect(log[0]).toMatchObject({ statusCode: null, error: expect.stringContaining('ECONNREFUSED') });
  });

  it('holds back a failing receiver\'s attempts without spending them, while other partners\' deliveries go on', async () => {
    const circuits = t.app.get(WebhookCircuits);
    const defaults = { threshold: circuits.threshold, cooldownMs: circuits.cooldownMs, spreadMs: circuits.spreadMs };
    Object.assign(circuits, { threshold: 2, cooldownMs: 2_000, spreadMs: 50 });
    try {
      const [failingPartner, otherPartner] = [await partnerWithToken(t, admin, 'INTERNAL'), await partnerWithToken(t, admin, 'INTERNAL')];
      let recovered = false;
      const failing = await receiver(() => (recovered ? 200 : 503));
      const other = await receiver();
      const { webhook } = await createWebhook(failingPartner.id, failing.url, ['hold.placed']);
      await createWebhook(otherPartner.id, other.url, ['hold.placed']);
      const openCircuits = async () => /custos_webhook_circuits_open (\d+)/.exec((await t.http().get('/metrics')).text)?.[1];

      await held(failingPartner, await customer());
      const [, second] = await failing.waitFor(2);
      // Two failures in a row open the circuit: attempt 3 (due 100 ms later under the test's backoff) waits.
      await held(otherPartner, await customer());
      await other.waitFor(1);
      await new Promise((r) => setTimeout(r, 700));
      expect(failing.requests).toHaveLength(2);
      expect(await openCircuits()).toBe('1');
      const [row] = await outboxSettled(webhook.id, '', 'PENDING');
      expect(row).toMatchObject({ status: 'PENDING', attempts: 2 });
      const { rows: [{ waits }] } = await sql.query(`SELECT next_attempt_at > now() + interval '500 milliseconds' AS waits FROM webhook_outbox WHERE webhook_id = $1`, [webhook.id]);
      expect(waits).toBe(true);

      // Once the cool-down is over, attempt 3 goes out as the probe; delivered, it closes the circuit.
      recovered = true;
      const third = (await failing.waitFor(3))[2];
      expect(third.at - second.at).toBeGreaterThanOrEqual(1_900);
      expect(third.headers['x-custos-attempt']).toBe('3');
      const log = await deliveries(webhook.id, 3);
      expect(log.map((d) => `${d.attempt}:${d.status}`)).toEqual(['1:FAILED', '2:FAILED', '3:DELIVERED']);
      expect(await openCircuits()).toBe('0');
    } finally {
      Object.assign(circuits, defaults);
    }
  });

  it('keeps the secret encrypted, and supports update, deactivation, secret rotation and deletion (audited)', async () => {
    const { rows: [stored] } = await sql.query(`SELECT secret_enc, data_key FROM webhook WHERE id = $1`, [coreWebhookId]);
    expect(stored.secret_enc).toMatch(/^e1\./);
    expect(stored.secret_enc).not.toContain(coreSecret);
    expect(stored.data_key).toMatch(/^v1:/);

    const list = await gqlOk<{ webhooks: { totalCount: number; nodes: Array<{ id: string }> } }>(t.gql, 'query($p: ID) { webhooks(partnerId: $p) { totalCount nodes { id } } }', { p: core.id }, admin.accessToken);
    expect(list.webhooks).toEqual({ totalCount: 1, nodes: [{ id: coreWebhookId }] });

    const widened = await t.gql('mutation($id: ID!) { updateWebhook(id: $id, input: {eventTypes: ["hold.placed", "complaint.updated"]}) { eventTypes } }', { id: coreWebhookId }, { token: admin.accessToken });
    expect(widened.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', fieldErrors: [{ path: 'eventTypes' }] });
    const updated = await gqlOk<{ updateWebhook: { eventTypes: string[]; active: boolean } }>(t.gql, 'mutation($id: ID!) { updateWebhook(id: $id, input: {eventTypes: ["hold.placed"], active: false}) { eventTypes active } }', { id: coreWebhookId }, admin.accessToken);
    expect(updated.updateWebhook).toEqual({ eventTypes: ['hold.placed'], active: false });
    const quietBefore = coreHook.requests.length;
    const outboxRows = async () => (await sql.query(`SELECT count(*)::int AS n FROM webhook_outbox WHERE webhook_id = $1`, [coreWebhookId])).rows[0].n as number;
    const rowsBefore = await outboxRows();
    await held(core, await customer());
    expect(await outboxRows()).toBe(rowsBefore);

    await gqlOk(t.gql, 'mutation($id: ID!) { updateWebhook(id: $id, input: {active: true}) { active } }', { id: coreWebhookId }, admin.accessToken);
    const rotated = await gqlOk<{ rotateWebhookSecret: { secret: string } }>(t.gql, 'mutation($id: ID!) { rotateWebhookSecret(id: $id) { secret } }', { id: coreWebhookId }, admin.accessToken);
    expect(rotated.rotateWebhookSecret.secret).not.toBe(coreSecret);
    await held(core, await customer());
    const [latest] = (await coreHook.waitFor(quietBefore + 1)).slice(quietBefore);
    verify(rotated.rotateWebhookSecret.secret, latest);
    expect(() => verify(coreSecret, latest)).toThrow();

    expect(await gqlOk(t.gql, 'mutation($id: ID!) { deleteWebhook(id: $id) }', { id: coreWebhookId }, admin.accessToken)).toEqual({ deleteWebhook: true });
    expect(codeOf(await t.gql('mutation($id: ID!) { deleteWebhook(id: $id) }', { id: coreWebhookId }, { token: admin.accessToken }))).toBe('NOT_FOUND');
    expect(codeOf(await t.gql('query($id: ID!) { webhook(id: $id) { id } }', { id: coreWebhookId }, { token: admin.accessToken }))).toBe('NOT_FOUND');
    const { rows: [gone] } = await sql.query(`SELECT secret_enc, data_key, deleted_at IS NOT NULL AS deleted, active FROM webhook WHERE id = $1`, [coreWebhookId]);
    expect(gone).toEqual({ secret_enc: null, data_key: null, deleted: true, active: false });
    // The delivery log outlives the webhook.
    const { rows: kept } = await sql.query(`SELECT count(*)::int AS n FROM webhook_delivery WHERE webhook_id = $1`, [coreWebhookId]);
    expect(kept[0].n).toBeGreaterThan(0);

    const { rows: audit } = await sql.query(`SELECT action FROM audit_entry WHERE resource_id = $1 ORDER BY id`, [coreWebhookId]);
    expect(audit.map((a) => a.action)).toEqual(['webhook.create', 'webhook.update', 'webhook.update', 'webhook.rotate_secret', 'webhook.delete']);
    expect(JSON.stringify(await sql.query(`SELECT details FROM audit_entry WHERE resource_id = $1`, [coreWebhookId]).then((r) => r.rows))).not.toContain(coreSecret);
  });

  it('a retired secret\'s key leaves memory for good, even when a delivery opens it while the rotation or deletion commits', async () => {
    const secrets = t.app.get(WebhookSecrets, { strict: false });
    const inMemory = (wrapped: string) => (t.app.get(PiiVault, { strict: false }) as unknown as { cache: { get(k: string): unknown } }).cache.get(wrapped) !== undefined;
    const hook = await receiver();
    const { webhook } = await createWebhook(quiet.id, hook.url, ['hold.placed']);
    const stored = async () => (await sql.query(`SELECT secret_enc, data_key FROM webhook WHERE id = $1`, [webhook.id])).rows[0] as { secret_enc: string | null; data_key: string | null };
    // A delivery in flight read the row before the change and opens its key only now, between the change's
    // own forget and its commit: stood in for at that point.
    const openedBeside = async (change: () => Promise<unknown>, old: { secret_enc: string | null; data_key: string | null }) => {
      const forget = secrets.forget.bind(secrets);
      let reopened: boolean | undefined;
      const spy = jest.spyOn(secrets, 'forget').mockImplementation((dataKey) => {
        forget(dataKey);
        secrets.open(webhook.id, old.secret_enc!, old.data_key!);
        reopened = inMemory(old.data_key!);
      });
      try {
        await change();
      } finally {
        spy.mockRestore();
      }
      return reopened;
    };

    const first = await stored();
    secrets.open(webhook.id, first.secret_enc!, first.data_key!); // as a delivery before the rotation did
    expect(inMemory(first.data_key!)).toBe(true);
    const reopenedOnRotation = await openedBeside(() => gqlOk(t.gql, 'mutation($id: ID!) { rotateWebhookSecret(id: $id) { secret } }', { id: webhook.id }, admin.accessToken), first);
    expect(reopenedOnRotation).toBe(false);
    expect(inMemory(first.data_key!)).toBe(false);
    // Nor later: a delivery that claimed its message before the rotation and opens the old key only now.
    secrets.open(webhook.id, first.secret_enc!, first.data_key!);
    expect(inMemory(first.data_key!)).toBe(false);

    const second = await stored();
    expect(second.data_key).not.toBe(first.data_key);
    secrets.open(webhook.id, second.secret_enc!, second.data_key!);
    expect(inMemory(second.data_key!)).toBe(true);
    const reopenedOnDeletion = await openedBeside(() => gqlOk(t.gql, 'mutation($id: ID!) { deleteWebhook(id: $id) }', { id: webhook.id }, admin.accessToken), second);
    expect(reopenedOnDeletion).toBe(false);
    expect(inMemory(second.data_key!)).toBe(false);
    expect(await stored()).toEqual({ secret_enc: null, data_key: null });
  });
});

describe('webhooks in production mode', () => {
  const attempt = async (env: Record<string, string>, urls: string[]) => {
    const t = await startTestApp({ NODE_ENV: 'production', ...env });
    try {
      const admin = await signInAdmin(t);
      const partner = await partnerWithToken(t, admin, 'EXTERNAL');
      const outcomes: Record<string, string> = {};
      for (const url of urls) {
        const res = await t.gql<{ createWebhook: { webhook: { url: string } } }>(CREATE, { i: { partnerId: partner.id, url, eventTypes: ['hold.placed'] } }, { token: admin.accessToken });
        const error = res.errors?.[0] as { extensions?: { fieldErrors?: Array<{ message: string }> } } | undefined;
        outcomes[url] = error ? (error.extensions?.fieldErrors?.[0]?.message ?? 'error') : 'ok';
      }
      return outcomes;
    } finally {
      await t.close();
    }
  };

  it('refuses http and URLs on loopback, private or link-local addresses', async () => {
    const refusedPrivate = 'must not point to a loopback, private or link-local address';
    expect(await attempt({}, ['http://hooks.partner.example/x', 'https://127.0.0.1:8443/x', 'https://10.20.30.40/x', 'https://[::1]/x', 'https://169.254.169.254/latest', 'https://localhost/x'])).toEqual({
      'http://hooks.partner.example/x': 'must use https',
      'https://127.0.0.1:8443/x': refusedPrivate,
      'https://10.20.30.40/x': refusedPrivate,
      'https://[::1]/x': refusedPrivate,
      'https://169.254.169.254/latest': refusedPrivate,
      'https://localhost/x': refusedPrivate,
    });
  });

  it('WEBHOOK_ALLOW_PRIVATE=true allows private addresses, still over https', async () => {
    expect(await attempt({ WEBHOOK_ALLOW_PRIVATE: 'true' }, ['https://10.20.30.40/x', 'http://10.20.30.40/x'])).toEqual({
      'https://10.20.30.40/x': 'ok',
      'http://10.20.30.40/x': 'must use https',
    });
  });
});
