import { createStaff, gqlOk, startAppWithAdmin, stopAppWithAdmin, type AppWithAdmin, type SignedIn } from '../helpers/auth';

type Res = { errors?: Array<{ extensions?: Record<string, unknown> }>; data?: unknown };
const codeOf = (res: Res) => res.errors?.[0]?.extensions?.code;
const fieldErrorsOf = (res: Res) => (res.errors?.[0]?.extensions?.fieldErrors ?? []) as Array<{ path: string; message: string }>;
const future = (days: number) => new Date(Date.now() + days * 86_400_000).toISOString();

/**
 * Update inputs: a field left out keeps its value; null clears it where the thing may lack it, and where it
 * may not (a name, a role, a URL) null is BAD_USER_INPUT at that field — never a silent "done" that changed nothing.
 */
describe('update inputs: null on a field that cannot be empty is refused, not passed over', () => {
  let f: AppWithAdmin;
  let co: SignedIn, analyst: SignedIn;
  let partnerId: string, ruleId: string, webhookId: string, customerId: string;

  beforeAll(async () => {
    f = await startAppWithAdmin();
    co = await createStaff(f.t, f.admin, 'COMPLIANCE_OFFICER');
    analyst = await createStaff(f.t, f.admin, 'ANALYST');
    partnerId = (await gqlOk<{ createPartner: { id: string } }>(f.t.gql, 'mutation($i: CreatePartnerInput!) { createPartner(input: $i) { id } }', {
      i: { name: 'Null Bank', contactEmail: 'null@bank.test', trustLevel: 'EXTERNAL', allowedScopes: ['events:write'], agreementSignedAt: future(-1), agreementExpiresAt: future(365), eventsPerMinute: 500 },
    }, f.admin.accessToken)).createPartner.id;
    ruleId = (await gqlOk<{ createRule: { id: string } }>(f.t.gql, 'mutation($i: CreateRuleInput!) { createRule(input: $i) { id } }', {
      i: { code: 'NULL_INPUTS', name: 'Null inputs', eventTypes: ['TRANSACTION'], severity: 'LOW', actions: ['RAISE_ALERT'], condition: { compare: { left: { field: 'channel' }, op: 'eq', right: { value: 'ATM' } } } },
    }, analyst.accessToken)).createRule.id;
    webhookId = (await gqlOk<{ createWebhook: { webhook: { id: string } } }>(f.t.gql, 'mutation($i: CreateWebhookInput!) { createWebhook(input: $i) { webhook { id } } }', {
      i: { partnerId, url: 'http://127.0.0.1:9/hook', eventTypes: ['hold.placed'] },
    }, f.admin.accessToken)).createWebhook.webhook.id;
    customerId = (await gqlOk<{ createCustomer: { id: string } }>(f.t.gql, 'mutation($i: CreateCustomerInput!) { createCustomer(input: $i) { id } }', {
      i: { externalRef: 'null-inputs-1', fullName: 'Nora Null' },
    }, co.accessToken)).createCustomer.id;
  }, 120_000);
  afterAll(() => stopAppWithAdmin(f));

  const cases: Array<{ operation: string; field: string; mutation: string; id: () => string; token: () => string; also: Record<string, unknown>; stored: () => Promise<unknown> }> = [
    {
      operation: 'updateUser', field: 'role', mutation: 'mutation($id: ID!, $i: UpdateUserInput!) { updateUser(id: $id, input: $i) { id } }',
      id: () => analyst.userId, token: () => f.admin.accessToken, also: { displayName: 'Not Applied' },
      stored: async () => (await f.sql.query(`SELECT role, display_name FROM app_user WHERE id = $1`, [analyst.userId])).rows[0],
    },
    {
      operation: 'updatePartner', field: 'name', mutation: 'mutation($id: ID!, $i: UpdatePartnerInput!) { updatePartner(id: $id, input: $i) { id } }',
      id: () => partnerId, token: () => f.admin.accessToken, also: { contactEmail: 'changed@bank.test' },
      stored: async () => (await f.sql.query(`SELECT name, contact_email FROM partner WHERE id = $1`, [partnerId])).rows[0],
    },
    {
      operation: 'updateRule', field: 'severity', mutation: 'mutation($id: ID!, $i: UpdateRuleInput!) { updateRule(id: $id, input: $i) { id } }',
      id: () => ruleId, token: () => analyst.accessToken, also: { name: 'Not Applied' },
      stored: async () => (await f.sql.query(`SELECT name, severity FROM rule WHERE code = 'NULL_INPUTS' ORDER BY version`)).rows,
    },
    {
      operation: 'updateRule', field: 'condition', mutation: 'mutation($id: ID!, $i: UpdateRuleInput!) { updateRule(id: $id, input: $i) { id } }',
      id: () => ruleId, token: () => analyst.accessToken, also: { name: 'Not Applied' },
      stored: async () => (await f.sql.query(`SELECT name, condition FROM rule WHERE code = 'NULL_INPUTS' ORDER BY version`)).rows,
    },
    {
      operation: 'updateWebhook', field: 'url', mutation: 'mutation($id: ID!, $i: UpdateWebhookInput!) { updateWebhook(id: $id, input: $i) { id } }',
      id: () => webhookId, token: () => f.admin.accessToken, also: { active: false },
      stored: async () => (await f.sql.query(`SELECT url, active FROM webhook WHERE id = $1`, [webhookId])).rows[0],
    },
    {
      operation: 'updateCustomer', field: 'externalRef', mutation: 'mutation($id: ID!, $i: UpdateCustomerInput!) { updateCustomer(id: $id, input: $i) { id } }',
      id: () => customerId, token: () => co.accessToken, also: { lifecycleStage: 'ACTIVE' },
      stored: async () => (await f.sql.query(`SELECT external_ref, lifecycle_stage FROM customer WHERE id = $1`, [customerId])).rows[0],
    },
  ];

  it.each(cases.map((c) => [`${c.operation} ${c.field}`, c] as const))('%s: null is BAD_USER_INPUT at the field; nothing of the call is written', async (_name, c) => {
    const before = await c.stored();
    const res = await f.t.gql(c.mutation, { id: c.id(), i: { [c.field]: null, ...c.also } }, { token: c.token() });
    expect(codeOf(res)).toBe('BAD_USER_INPUT');
    expect(fieldErrorsOf(res)).toEqual([{ path: c.field, message: 'cannot be null: leave it out to keep the current value' }]);
    expect(await c.stored()).toEqual(before);
  });

  it('authorization still comes first: a role that may not make the change is FORBIDDEN, whatever the input holds', async () => {
    const res = await f.t.gql('mutation($id: ID!, $i: UpdateUserInput!) { updateUser(id: $id, input: $i) { id } }', { id: co.userId, i: { role: null } }, { token: analyst.accessToken });
    expect(codeOf(res)).toBe('FORBIDDEN');
  });

  it('null clears where the thing may lack the value: a partner\'s own event rate goes back to its trust level\'s default', async () => {
    const RATE = 'mutation($id: ID!, $i: UpdatePartnerInput!) { updatePartner(id: $id, input: $i) { eventsPerMinute } }';
    expect((await gqlOk<{ updatePartner: { eventsPerMinute: number } }>(f.t.gql, RATE, { id: partnerId, i: { eventsPerMinute: 750 } }, f.admin.accessToken)).updatePartner.eventsPerMinute).toBe(750);
    // Left out, it stays.
    expect((await gqlOk<{ updatePartner: { eventsPerMinute: number } }>(f.t.gql, RATE, { id: partnerId, i: { contactEmail: 'rate@bank.test' } }, f.admin.accessToken)).updatePartner.eventsPerMinute).toBe(750);
    expect((await gqlOk<{ updatePartner: { eventsPerMinute: number } }>(f.t.gql, RATE, { id: partnerId, i: { eventsPerMinute: null } }, f.admin.accessToken)).updatePartner.eventsPerMinute).toBe(100_000);
    expect((await f.sql.query(`SELECT events_per_minute FROM partner WHERE id = $1`, [partnerId])).rows[0].events_per_minute).toBeNull();
  });
});
