import { startTestApp, type TestApp } from '../helpers/app';
import { createStaff, gqlOk, signInAdmin, type SignedIn } from '../helpers/auth';
import { ingest, partnerWithToken } from '../helpers/monitoring';

/** A well-formed cursor (base64url of a JSON array), holding whatever values a client cares to put in it. */
const cursor = (...values: unknown[]) => Buffer.from(JSON.stringify(values), 'utf8').toString('base64url');

const AT = '2026-01-01T00:00:00.000Z';
const ID = '00000000-0000-4000-8000-000000000000';
/** For keys of a timestamp and a uuid: right length, wrong types (30 February passes `Date.parse`, not PostgreSQL). */
const NOT_AT_AND_ID = [cursor('x', 'y'), cursor(AT, 'not-a-uuid'), cursor(1, 2), cursor('2026-02-30T00:00:00.000Z', ID)];
/** For a bigint key. */
const NOT_BIGINT = [cursor('x'), cursor(1.5), cursor('99999999999999999999'), cursor(AT)];

const REFUSED = { code: 'BAD_USER_INPUT', fieldErrors: [{ path: 'after', message: 'is not a valid cursor' }] };
const ANOTHER_ORDER = { code: 'BAD_USER_INPUT', fieldErrors: [{ path: 'after', message: 'was issued under another orderBy; page again from the start' }] };

type Role = 'admin' | 'co' | 'auditor';
interface Page<N> {
  nodes: N[];
  pageInfo: { hasNextPage: boolean; endCursor: string | null };
}

describe('cursors: a well-formed cursor with values of the wrong type is BAD_USER_INPUT', () => {
  let t: TestApp;
  let signedIn: Record<Role, SignedIn>;
  let core: { id: string; token: string };
  let webhookId: string;
  let customerId: string;

  const token = (role: Role) => signedIn[role].accessToken;
  const customer = async (externalRef: string) =>
    (await gqlOk<{ createCustomer: { id: string } }>(t.gql, 'mutation($i: CreateCustomerInput!) { createCustomer(input: $i) { id } }', { i: { externalRef, transactionLimit: '1000.00', dailyLimit: '5000.00' } }, token('co'))).createCustomer.id;

  beforeAll(async () => {
    t = await startTestApp();
    const admin = await signInAdmin(t);
    signedIn = { admin, co: await createStaff(t, admin, 'COMPLIANCE_OFFICER'), auditor: await createStaff(t, admin, 'AUDITOR') };
    core = await partnerWithToken(t, admin, 'INTERNAL');
    webhookId = (await gqlOk<{ createWebhook: { webhook: { id: string } } }>(
      t.gql,
      'mutation($i: CreateWebhookInput!) { createWebhook(input: $i) { webhook { id } } }',
      { i: { partnerId: core.id, url: 'http://127.0.0.1:9/hook', eventTypes: ['hold.placed'] } },
      admin.accessToken,
    )).createWebhook.webhook.id;
    customerId = await customer('cur-1');
  }, 120_000);
  afterAll(async () => {
    await t.close();
  });

  const PAGE = 'pageInfo { endCursor }';
  const CUSTOMER_CONNECTIONS = ['events', 'alerts', 'complaints', 'consents', 'creditHistory', 'riskHistory', 'profileChanges', 'verifications'];

  // [what, who asks, document taking $after, other variables, cursors]
  const cases: Array<[string, Role, string, () => Record<string, unknown>, string[]]> = [
    ['users', 'admin', `query($after: String) { users(after: $after) { ${PAGE} } }`, () => ({}), NOT_AT_AND_ID],
    ['partners', 'admin', `query($after: String) { partners(after: $after) { ${PAGE} } }`, () => ({}), NOT_AT_AND_ID],
    ['partner.tokens', 'admin', `query($after: String, $id: ID!) { partner(id: $id) { tokens(after: $after) { ${PAGE} } } }`, () => ({ id: core.id }), NOT_AT_AND_ID],
    ['webhooks', 'admin', `query($after: String) { webhooks(after: $after) { ${PAGE} } }`, () => ({}), NOT_AT_AND_ID],
    ['webhook.deliveries', 'admin', `query($after: String, $id: ID!) { webhook(id: $id) { deliveries(after: $after) { ${PAGE} } } }`, () => ({ id: webhookId }), NOT_BIGINT],
    ['customers', 'co', `query($after: String) { customers(after: $after) { ${PAGE} } }`, () => ({}), NOT_AT_AND_ID],
    ['customers by UPDATED_AT', 'co', `query($after: String) { customers(after: $after, orderBy: {field: UPDATED_AT}) { ${PAGE} } }`, () => ({}), NOT_AT_AND_ID],
    ['customers by RISK_SCORE', 'co', `query($after: String) { customers(after: $after, orderBy: {field: RISK_SCORE}) { ${PAGE} } }`, () => ({}), [cursor('x', ID), cursor(AT, ID), cursor(2 ** 31, ID), cursor(50, 'y')]],
    ['customers by EXTERNAL_REF', 'co', `query($after: String) { customers(after: $after, orderBy: {field: EXTERNAL_REF, direction: DESC}) { ${PAGE} } }`, () => ({}), [cursor(1, ID), cursor('ref\u0000', ID), cursor('ref', 'y')]],
    ['events', 'co', `query($after: String) { events(after: $after) { ${PAGE} } }`, () => ({}), NOT_AT_AND_ID],
    ['events by RECEIVED_AT', 'co', `query($after: String) { events(after: $after, orderBy: {field: RECEIVED_AT, direction: ASC}) { ${PAGE} } }`, () => ({}), NOT_AT_AND_ID],
    ['alerts', 'co', `query($after: String) { alerts(after: $after) { ${PAGE} } }`, () => ({}), NOT_AT_AND_ID],
    ['alerts by LAST_SEEN_AT', 'co', `query($after: String) { alerts(after: $after, orderBy: {field: LAST_SEEN_AT}) { ${PAGE} } }`, () => ({}), NOT_AT_AND_ID],
    ['alerts by SEVERITY', 'co', `query($after: String) { alerts(after: $after, orderBy: {field: SEVERITY}) { ${PAGE} } }`, () => ({}), [cursor('x', AT, ID), cursor(3, 'x', ID), cursor(3, AT, 'y'), cursor(2 ** 31, AT, ID)]],
    ['complaints', 'co', `query($after: String) { complaints(after: $after) { ${PAGE} } }`, () => ({}), NOT_AT_AND_ID],
    ['earlyWarnings', 'co', `query($after: String) { earlyWarnings(after: $after) { ${PAGE} } }`, () => ({}), NOT_AT_AND_ID],
    ['myNotifications', 'co', `query($after: String) { myNotifications(after: $after) { ${PAGE} } }`, () => ({}), NOT_AT_AND_ID],
    ['rules', 'co', `query($after: String) { rules(after: $after) { ${PAGE} } }`, () => ({}), [cursor('x', 'y'), cursor('LARGE_TRANSACTION', 2 ** 31), cursor('LARGE_TRANSACTION', 1.5), cursor(1, 2)]],
    ['watchlists', 'co', `query($after: String) { watchlists(after: $after) { ${PAGE} } }`, () => ({}), [cursor('A\u0000'), cursor(1)]],
    ['watchlist.entries', 'co', `query($after: String) { watchlist(code: "SANCTIONED_COUNTERPARTIES") { entries(after: $after) { ${PAGE} } } }`, () => ({}), [cursor('a\u0000', ''), cursor(1, '')]],
    ...CUSTOMER_CONNECTIONS.map((field): [string, Role, string, () => Record<string, unknown>, string[]] => [
      `customer.${field}`, 'co', `query($after: String, $id: ID!) { customer(id: $id) { ${field}(after: $after) { ${PAGE} } } }`, () => ({ id: customerId }), NOT_AT_AND_ID,
    ]),
    ['auditLog', 'auditor', `query($after: String) { auditLog(after: $after) { ${PAGE} } }`, () => ({}), NOT_BIGINT],
    ['securityAlerts', 'auditor', `query($after: String) { securityAlerts(after: $after) { ${PAGE} } }`, () => ({}), NOT_AT_AND_ID],
  ];

  it.each(cases)('%s', async (_what, role, document, variables, cursors) => {
    // Without a cursor the same request is fine: what follows is about the cursor alone.
    expect((await t.gql(document, variables(), { token: token(role) })).errors).toBeUndefined();
    const answers: unknown[] = [];
    // An empty cursor is no cursor at all, not "from the start".
    cursors = [...cursors, ''];
    for (const after of cursors) {
      const res = await t.gql(document, { ...variables(), after }, { token: token(role) });
      answers.push(res.errors?.map((e) => ({ code: e.extensions?.code, fieldErrors: e.extensions?.fieldErrors })));
    }
    expect(answers).toEqual(cursors.map(() => [REFUSED]));
  });

  describe('a real endCursor still pages', () => {
    const CUSTOMERS = 'query($first: Int, $after: String, $orderBy: CustomerOrder) { customers(first: $first, after: $after, orderBy: $orderBy) { nodes { id externalRef } pageInfo { hasNextPage endCursor } } }';
    const customers = async (variables: Record<string, unknown>) =>
      (await gqlOk<{ customers: Page<{ id: string; externalRef: string }> }>(t.gql, CUSTOMERS, variables, token('co'))).customers;
    /** The first page of two and the rest after its endCursor, and the whole list in one page. */
    const twoPages = async <N>(list: (variables: Record<string, unknown>) => Promise<Page<N>>, variables: Record<string, unknown> = {}) => {
      const first = await list({ ...variables, first: 2 });
      const rest = await list({ ...variables, first: 100, after: first.pageInfo.endCursor });
      const whole = await list({ ...variables, first: 100 });
      return { first, rest, whole };
    };
    let refs: string[];

    beforeAll(async () => {
      refs = ['cur-m', 'cur-c', 'cur-x', 'cur-a', 'cur-q'];
      for (const ref of refs) await customer(ref);
    });

    it('customers, by creation and by external reference', async () => {
      const byCreation = await twoPages(customers);
      expect(byCreation.whole.nodes.map((c) => c.externalRef)).toEqual(['cur-1', ...refs]);
      expect(byCreation.first.pageInfo.hasNextPage).toBe(true);
      expect([...byCreation.first.nodes, ...byCreation.rest.nodes]).toEqual(byCreation.whole.nodes);
      expect(byCreation.rest.pageInfo.hasNextPage).toBe(false);

      const byRef = await twoPages(customers, { orderBy: { field: 'EXTERNAL_REF', direction: 'DESC' } });
      expect(byRef.whole.nodes.map((c) => c.externalRef)).toEqual(['cur-x', 'cur-q', 'cur-m', 'cur-c', 'cur-a', 'cur-1']);
      expect(byRef.rest.nodes.map((c) => c.externalRef)).toEqual(['cur-m', 'cur-c', 'cur-a', 'cur-1']);
    });

    it('customers refuse a cursor issued under another field or direction, even when its values would fit', async () => {
      const endCursor = async (field: string, direction = 'ASC') => (await customers({ first: 2, orderBy: { field, direction } })).pageInfo.endCursor;
      const reuse = async (after: string | null, orderBy?: Record<string, unknown>) =>
        (await t.gql(CUSTOMERS, { first: 2, after, orderBy }, { token: token('co') })).errors?.map((e) => ({ code: e.extensions?.code, fieldErrors: e.extensions?.fieldErrors }));
      expect(await reuse(await endCursor('EXTERNAL_REF'))).toEqual([ANOTHER_ORDER]);
      expect(await reuse(await endCursor('EXTERNAL_REF'), { field: 'UPDATED_AT', direction: 'ASC' })).toEqual([ANOTHER_ORDER]);
      expect(await reuse(await endCursor('RISK_SCORE'))).toEqual([ANOTHER_ORDER]);
      expect(await reuse(await endCursor('RISK_SCORE'), { field: 'EXTERNAL_REF', direction: 'ASC' })).toEqual([ANOTHER_ORDER]);
      expect(await reuse(await endCursor('CREATED_AT'), { field: 'RISK_SCORE', direction: 'ASC' })).toEqual([ANOTHER_ORDER]);
      // Two timestamps and an id each: the values fit, the position does not.
      expect(await reuse(await endCursor('UPDATED_AT'))).toEqual([ANOTHER_ORDER]);
      expect(await reuse(await endCursor('CREATED_AT'), { field: 'CREATED_AT', direction: 'DESC' })).toEqual([ANOTHER_ORDER]);
      // The default order and the same order spelled out are one order.
      expect(await reuse(await endCursor('CREATED_AT'))).toBeUndefined();
      expect(await reuse(await endCursor('EXTERNAL_REF', 'DESC'), { field: 'EXTERNAL_REF', direction: 'DESC' })).toBeUndefined();
    });

    it('events, alerts and complaints refuse a cursor issued under another order', async () => {
      const c = await customer('cur-orders');
      // Over the transaction limit, then over the daily limit too: two alerts of two rules.
      for (const amount of ['2000.00', '4000.00']) expect((await ingest(t, core.token, [{ customerId: c, type: 'TRANSACTION', amount, currency: 'EUR' }])).errors).toBeUndefined();
      const agent = await createStaff(t, signedIn.admin, 'AGENT');
      for (const subject of ['First', 'Second']) {
        await gqlOk(t.gql, 'mutation($i: FileComplaintInput!) { fileComplaint(input: $i) { id } }', { i: { customerId: c, channel: 'PHONE', category: 'SERVICE', severity: 'LOW', subject, description: 'Slow answer.' } }, agent.accessToken);
      }
      const lists: Array<[string, string, Record<string, unknown>, Record<string, unknown>]> = [
        ['events', 'EventOrder', { field: 'OCCURRED_AT', direction: 'DESC' }, { field: 'RECEIVED_AT', direction: 'DESC' }],
        ['alerts', 'AlertOrder', { field: 'CREATED_AT', direction: 'DESC' }, { field: 'LAST_SEEN_AT', direction: 'DESC' }],
        ['complaints', 'ComplaintOrder', { field: 'RECEIVED_AT', direction: 'DESC' }, { field: 'RECEIVED_AT', direction: 'ASC' }],
      ];
      for (const [list, orderType, defaultOrder, otherOrder] of lists) {
        const document = `query($c: ID!, $after: String, $orderBy: ${orderType}) { ${list}(filter: {customerId: $c}, first: 1, after: $after, orderBy: $orderBy) { nodes { id } pageInfo { hasNextPage endCursor } } }`;
        const page = async (variables: Record<string, unknown>) => t.gql<Record<string, Page<{ id: string }>>>(document, { c, ...variables }, { token: token('co') });
        const first = (await page({})).data![list];
        expect([list, first.pageInfo.hasNextPage]).toEqual([list, true]);
        const after = first.pageInfo.endCursor;
        const refusals = async (orderBy?: Record<string, unknown>) => (await page({ after, orderBy })).errors?.map((e) => ({ code: e.extensions?.code, fieldErrors: e.extensions?.fieldErrors }));
        expect([list, await refusals(otherOrder)]).toEqual([list, [ANOTHER_ORDER]]);
        expect([list, await refusals(defaultOrder)]).toEqual([list, undefined]);
        const second = (await page({ after })).data![list];
        expect(second.nodes).toHaveLength(1);
        expect(second.nodes[0].id).not.toBe(first.nodes[0].id);
      }
    });

    it('still reads a cursor issued before cursors carried their order', async () => {
      const whole = await customers({ first: 100, orderBy: { field: 'EXTERNAL_REF', direction: 'DESC' } });
      const [, second, ...rest] = whole.nodes;
      // What the list issued for the second row before: its values alone.
      const legacy = cursor(second.externalRef, second.id);
      const page = await customers({ first: 100, after: legacy, orderBy: { field: 'EXTERNAL_REF', direction: 'DESC' } });
      expect(page.nodes).toEqual(rest);
    });

    it('rules (a text and an int key)', async () => {
      const rules = async (variables: Record<string, unknown>) =>
        (await gqlOk<{ rules: Page<{ code: string; version: number }> }>(t.gql, 'query($first: Int, $after: String) { rules(first: $first, after: $after) { nodes { code version } pageInfo { hasNextPage endCursor } } }', variables, token('co'))).rules;
      const { first, rest, whole } = await twoPages(rules);
      expect(whole.nodes.length).toBeGreaterThan(2);
      expect(rest.nodes).toHaveLength(whole.nodes.length - 2);
      expect([...first.nodes, ...rest.nodes]).toEqual(whole.nodes);
    });

    it('events, newest first and by receipt, at top level and under a customer', async () => {
      const c = await customer('cur-events');
      for (let i = 0; i < 3; i++) {
        const res = await ingest(t, core.token, [{ customerId: c, type: 'TRANSACTION', amount: `${10 + i}.00`, currency: 'EUR' }]);
        expect(res.errors).toBeUndefined();
      }
      const events = async (variables: Record<string, unknown>) =>
        (await gqlOk<{ events: Page<{ id: string }> }>(t.gql, 'query($c: ID!, $first: Int, $after: String, $orderBy: EventOrder) { events(filter: {customerId: $c}, first: $first, after: $after, orderBy: $orderBy) { nodes { id } pageInfo { hasNextPage endCursor } } }', { c, ...variables }, token('co'))).events;
      for (const orderBy of [undefined, { field: 'RECEIVED_AT', direction: 'ASC' }]) {
        const { first, rest, whole } = await twoPages(events, { orderBy });
        expect(whole.nodes).toHaveLength(3);
        expect(rest.nodes).toHaveLength(1);
        expect([...first.nodes, ...rest.nodes]).toEqual(whole.nodes);
      }
      const ofCustomer = async (variables: Record<string, unknown>) =>
        (await gqlOk<{ customer: { events: Page<{ id: string }> } }>(t.gql, 'query($c: ID!, $first: Int, $after: String) { customer(id: $c) { events(first: $first, after: $after) { nodes { id } pageInfo { hasNextPage endCursor } } } }', { c, ...variables }, token('co'))).customer.events;
      const nested = await twoPages(ofCustomer);
      expect(nested.rest.nodes).toHaveLength(1);
      expect([...nested.first.nodes, ...nested.rest.nodes]).toEqual(nested.whole.nodes);
      expect(nested.whole.nodes).toEqual((await events({ first: 100 })).nodes);
    });

    it('the audit log (a bigint key), newest first', async () => {
      const auditLog = async (variables: Record<string, unknown>) =>
        (await gqlOk<{ auditLog: Page<{ id: string }> }>(t.gql, 'query($first: Int, $after: String) { auditLog(first: $first, after: $after) { nodes { id } pageInfo { hasNextPage endCursor } } }', variables, token('auditor'))).auditLog;
      const first = await auditLog({ first: 2 });
      const rest = await auditLog({ first: 3, after: first.pageInfo.endCursor });
      // New entries (this query's own, say) arrive on top while paging; the next page continues below.
      const ids = [...first.nodes, ...rest.nodes].map((e) => BigInt(e.id));
      expect(ids).toHaveLength(5);
      expect(ids).toEqual([...ids].sort((a, b) => (a > b ? -1 : a < b ? 1 : 0)));
      expect(new Set(ids).size).toBe(5);
    });
  });
});
