import { Client } from 'pg';
import { startTestApp, type TestApp } from '../helpers/app';
import { createStaff, freshCode, gqlOk, sessionIdOf, signIn, signInAdmin, type SignedIn, startAppWithAdmin, stopAppWithAdmin } from '../helpers/auth';

describe('customers: nested monitoring connections need the top-level permission', () => {
  let t: TestApp;
  let admin: SignedIn;
  let partnerToken: string;
  let customerId: string;

  beforeAll(async () => {
    t = await startTestApp();
    admin = await signInAdmin(t);
    const partner = await gqlOk<{ createPartner: { id: string } }>(t.gql, `mutation { createPartner(input: {name: "Scope Bank", contactEmail: "s@bank.test", trustLevel: EXTERNAL, allowedScopes: ["customers:read", "customers:write"], agreementSignedAt: "${new Date(Date.now() - 86_400_000).toISOString()}", agreementExpiresAt: "${new Date(Date.now() + 365 * 86_400_000).toISOString()}"}) { id } }`, undefined, admin.accessToken);
    partnerToken = (await gqlOk<{ issuePartnerToken: { token: string } }>(t.gql, `mutation($p: ID!) { issuePartnerToken(input: {partnerId: $p, name: "s", scopes: ["customers:read", "customers:write"], expiresAt: "${new Date(Date.now() + 30 * 86_400_000).toISOString()}"}) { token } }`, { p: partner.createPartner.id }, admin.accessToken)).issuePartnerToken.token;
    customerId = (await gqlOk<{ createCustomer: { id: string } }>(t.gql, 'mutation($i: CreateCustomerInput!) { createCustomer(input: $i) { id } }', { i: { externalRef: 'scope-1', fullName: 'Scope One', email: 'scope.one@example.test' } }, partnerToken)).createCustomer.id;
  });
  afterAll(() => t.close());

  it.each(['events', 'alerts'])('a partner with customers:read gets FORBIDDEN (null) for customer { %s }', async (field) => {
    const res = await t.gql<{ customer: Record<string, unknown> }>(`query($id: ID!) { customer(id: $id) { id ${field} { totalCount nodes { id } } } }`, { id: customerId }, { token: partnerToken });
    expect(res.data?.customer.id).toBe(customerId);
    expect(res.data?.customer[field]).toBeNull();
    const err = res.errors?.find((e) => e.path?.join('.') === `customer.${field}`);
    expect(err?.extensions?.code).toBe('FORBIDDEN');
  });

  it('staff allowed to read events still get the nested connections', async () => {
    const co = await createStaff(t, admin, 'COMPLIANCE_OFFICER');
    const res = await gqlOk<{ customer: { events: { totalCount: number }; alerts: { totalCount: number } } }>(t.gql, 'query($id: ID!) { customer(id: $id) { events { totalCount } alerts { totalCount } } }', { id: customerId }, co.accessToken);
    expect(res.customer.events.totalCount).toBe(0);
    expect(res.customer.alerts.totalCount).toBe(0);
  });
});

describe('customers: ordering and filtering are no oracle', () => {
  let t: TestApp;
  let admin: SignedIn;

  beforeAll(async () => {
    t = await startTestApp();
    admin = await signInAdmin(t);
  });
  afterAll(() => t.close());

  it.each(['ADMIN', 'AGENT', 'AUDITOR'])('%s may not order by RISK_SCORE (FORBIDDEN naming the field)', async (role) => {
    const token = role === 'ADMIN' ? admin.accessToken : (await createStaff(t, admin, role)).accessToken;
    const res = await t.gql('{ customers(first: 5, orderBy: {field: RISK_SCORE, direction: DESC}) { totalCount } }', undefined, { token });
    expect(res.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    expect(JSON.stringify(res.errors?.[0]?.extensions)).toContain('orderBy.field');
    const plain = await t.gql('{ customers(first: 5, orderBy: {field: CREATED_AT, direction: DESC}) { totalCount } }', undefined, { token });
    expect(plain.errors).toBeUndefined();
  });

  it('an analyst (may read riskScore) may order by RISK_SCORE', async () => {
    const analyst = await createStaff(t, admin, 'ANALYST');
    const res = await t.gql('{ customers(first: 5, orderBy: {field: RISK_SCORE, direction: DESC}) { totalCount } }', undefined, { token: analyst.accessToken });
    expect(res.errors).toBeUndefined();
  });

  it('a compliance officer needs step-up to search by nationalId; then the lookup works', async () => {
    const agent = await createStaff(t, admin, 'AGENT');
    await gqlOk(t.gql, 'mutation($i: CreateCustomerInput!) { createCustomer(input: $i) { id } }', { i: { externalRef: 'nid-1', fullName: 'Nid One', nationalId: 'ZX123456' } }, agent.accessToken);
    const co = await createStaff(t, admin, 'COMPLIANCE_OFFICER');
    const q = '{ customers(first: 5, filter: {nationalId: "zx 123456"}) { totalCount } }';
    const before = await t.gql<{ customers: unknown }>(q, undefined, { token: co.accessToken });
    expect(before.errors?.[0]?.extensions?.code).toBe('STEP_UP_REQUIRED');
    expect(before.data?.customers ?? null).toBeNull();
    await gqlOk(t.gql, 'mutation($c: String!) { stepUp(code: $c) { expiresAt } }', { c: await freshCode(co.secret) }, co.accessToken);
    const after = await gqlOk<{ customers: { totalCount: number } }>(t.gql, q, undefined, co.accessToken);
    expect(after.customers.totalCount).toBe(1);
  });
});

describe('customers: the erasure reason is a PII-free compliance record', () => {
  let t: TestApp;
  let admin: SignedIn;

  beforeAll(async () => {
    t = await startTestApp();
    admin = await signInAdmin(t);
  });
  afterAll(() => t.close());

  it('refuses a reason holding an e-mail or a phone/id number (BAD_USER_INPUT, nothing erased); accepts a legal ground', async () => {
    const agent = await createStaff(t, admin, 'AGENT');
    const co = await createStaff(t, admin, 'COMPLIANCE_OFFICER');
    const id = (await gqlOk<{ createCustomer: { id: string } }>(t.gql, 'mutation($i: CreateCustomerInput!) { createCustomer(input: $i) { id } }', { i: { externalRef: 'erase-r', fullName: 'Erase Reason', email: 'erase.reason@example.test' } }, agent.accessToken)).createCustomer.id;
    await gqlOk(t.gql, 'mutation($c: String!) { stepUp(code: $c) { expiresAt } }', { c: await freshCode(co.secret) }, co.accessToken);
    const erase = 'mutation($id: ID!, $r: String!) { eraseCustomer(id: $id, reason: $r) { id status } }';
    for (const reason of ['request from erase.reason@example.test', 'caller +86 139 0000 4321 asked']) {
      const res = await t.gql(erase, { id, r: reason }, { token: co.accessToken });
      expect(res.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
      expect(JSON.stringify(res.errors?.[0]?.extensions?.fieldErrors)).toContain('reason');
    }
    const still = await gqlOk<{ customer: { status: string } }>(t.gql, 'query($id: ID!) { customer(id: $id) { status } }', { id }, co.accessToken);
    expect(still.customer.status).not.toBe('ERASED');
    const ok = await gqlOk<{ eraseCustomer: { status: string } }>(t.gql, erase, { id, r: 'GDPR art. 17 request of 2026-11-30, ticket DPO-42' }, co.accessToken);
    expect(ok.eraseCustomer.status).toBe('ERASED');
  });

  it('asks for the step-up before it looks at the reason (authorization before validation)', async () => {
    const agent = await createStaff(t, admin, 'AGENT');
    const co = await createStaff(t, admin, 'COMPLIANCE_OFFICER'); // no step-up
    const id = (await gqlOk<{ createCustomer: { id: string } }>(t.gql, 'mutation($i: CreateCustomerInput!) { createCustomer(input: $i) { id } }', { i: { externalRef: 'erase-s' } }, agent.accessToken)).createCustomer.id;
    const res = await t.gql('mutation($id: ID!, $r: String!) { eraseCustomer(id: $id, reason: $r) { id } }', { id, r: '   ' }, { token: co.accessToken });
    expect(res.errors?.[0]?.extensions?.code).toBe('STEP_UP_REQUIRED');
  });
});

describe('customers: write rules, lookup rate limit and audit', () => {
  let t: TestApp;
  let admin: SignedIn;
  let sql: Client;
  let agent: SignedIn;

  beforeAll(async () => {
    t = await startTestApp();
    admin = await signInAdmin(t);
    agent = await createStaff(t, admin, 'AGENT');
    sql = new Client({ connectionString: t.db.url });
    await sql.connect();
  });
  afterAll(async () => {
    await sql.end();
    await t.close();
  });
  const create = async (ref: string) => (await gqlOk<{ createCustomer: { id: string } }>(t.gql, 'mutation($i: CreateCustomerInput!) { createCustomer(input: $i) { id } }', { i: { externalRef: ref, fullName: 'Write Rule', email: `${ref}@example.test` } }, agent.accessToken)).createCustomer.id;
  const update = 'mutation($id: ID!, $i: UpdateCustomerInput!) { updateCustomer(id: $id, input: $i) { id } }';

  it.each([['accountManagerId', '00000000-0000-4000-8000-000000000001'], ['transactionLimit', '5.00'], ['dailyLimit', '7.00']])('a non-officer changing %s gets FORBIDDEN naming the field', async (field, value) => {
    const id = await create(`w-${field}`);
    const row = async () => (await sql.query('SELECT account_manager_id, transaction_limit, daily_limit, updated_at FROM customer WHERE id = $1', [id])).rows;
    const before = await row();
    const res = await t.gql(update, { id, i: { [field]: value } }, { token: agent.accessToken });
    expect(res.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    expect(JSON.stringify(res.errors?.[0])).toContain(field);
    expect(res.data?.updateCustomer ?? null).toBeNull();
    // Refused, not written: a field that grants row access above all must not change on the way to the error.
    expect(await row()).toEqual(before);
  });

  it('the profile-change history records which fields, who and when — never the values', async () => {
    const id = await create('w-hist');
    const before = Date.now();
    await gqlOk(t.gql, update, { id, i: { fullName: 'History Marker Name' } }, agent.accessToken);
    const co = await createStaff(t, admin, 'COMPLIANCE_OFFICER');
    const res = await gqlOk<{ customer: { profileChanges: { nodes: Array<{ fields: string[]; actorType: string; actorId: string; changedAt: string }> } } }>(t.gql, 'query($id: ID!) { customer(id: $id) { profileChanges { nodes { fields actorType actorId changedAt } } } }', { id }, co.accessToken);
    const change = res.customer.profileChanges.nodes.find((n) => n.fields.includes('fullName'))!;
    expect(change).toMatchObject({ actorType: 'USER', actorId: agent.userId });
    expect(new Date(change.changedAt).getTime()).toBeGreaterThanOrEqual(before - 5_000);
    expect(new Date(change.changedAt).getTime()).toBeLessThanOrEqual(Date.now() + 5_000);
    const { rows } = await sql.query('SELECT * FROM customer_profile_change WHERE customer_id = $1', [id]);
    expect(JSON.stringify(rows)).not.toContain('History Marker');
  });

  it('writes to a TERMINATED customer are CONFLICT', async () => {
    const id = await create('w-term');
    await sql.query(`UPDATE customer SET status = 'TERMINATED' WHERE id = $1`, [id]);
    const stored = async () => (await sql.query('SELECT full_name, updated_at, (SELECT count(*)::int FROM customer_consent WHERE customer_id = $1) AS consents FROM customer WHERE id = $1', [id])).rows;
    const before = await stored();
    const res = await t.gql(update, { id, i: { fullName: 'New Name' } }, { token: agent.accessToken });
    expect(res.errors?.[0]?.extensions?.code).toBe('CONFLICT');
    const consent = await t.gql('mutation($i: RecordConsentInput!) { recordConsent(input: $i) { id } }', { i: { customerId: id, purpose: 'SMS', granted: true } }, { token: agent.accessToken });
    expect(consent.errors?.[0]?.extensions?.code).toBe('CONFLICT');
    expect(await stored()).toEqual(before);
  });

  it('the 61st lookup in a minute is RATE_LIMITED with retryAfterSeconds; lookups are audited by field name, never value', async () => {
    const searcher = await createStaff(t, admin, 'AGENT');
    const q = 'query($v: String!) { customers(filter: {email: $v}) { totalCount } }';
    for (let i = 0; i < 60; i++) {
      const res = await t.gql(q, { v: 'rate.limit.marker@example.test' }, { token: searcher.accessToken });
      expect(res.errors).toBeUndefined();
    }
    const limited = await t.gql(q, { v: 'rate.limit.marker@example.test' }, { token: searcher.accessToken });
    expect(limited.errors?.[0]?.extensions?.code).toBe('RATE_LIMITED');
    expect(limited.errors?.[0]?.extensions?.retryAfterSeconds).toEqual(expect.any(Number));
    const { rows } = await sql.query(`SELECT * FROM audit_entry WHERE action = 'customer.lookup' AND actor_id = $1`, [searcher.userId]);
    expect(rows.length).toBeGreaterThanOrEqual(60);
    expect(JSON.stringify(rows)).toContain('email');
    expect(JSON.stringify(rows)).not.toContain('rate.limit.marker');
  });
});

describe('customers: a step-up expires, and belongs to the session that made it', () => {
  let t: TestApp;
  let admin: SignedIn;
  let sql: Client;

  beforeAll(async () => ({ t, admin, sql } = await startAppWithAdmin()));
  afterAll(() => stopAppWithAdmin({ t, sql }));

  const NATIONAL_ID = 'QX908172';
  const READ = 'query($id: ID!) { customer(id: $id) { id status nationalId } }';
  const ERASE = 'mutation($id: ID!, $r: String!) { eraseCustomer(id: $id, reason: $r) { id status } }';
  const REASON = 'GDPR art. 17 request of 2026-11-30, ticket DPO-77';

  /** nationalId (S for a COMPLIANCE_OFFICER, no mask) is null with STEP_UP_REQUIRED at its path; the rest is delivered; nothing of the value leaks. */
  async function expectStepUpRequired(token: string, id: string): Promise<void> {
    const res = await t.gql<{ customer: { id: string; status: string; nationalId: string | null } }>(READ, { id }, { token });
    expect(res.data?.customer).toEqual({ id, status: 'ACTIVE', nationalId: null });
    expect(res.errors?.map((e) => [e.path?.join('.'), e.extensions?.code])).toEqual([['customer.nationalId', 'STEP_UP_REQUIRED']]);
    expect(JSON.stringify(res.body)).not.toContain(NATIONAL_ID);
    expect(JSON.stringify(res.body)).not.toContain('*8172');
  }

  async function expectEraseRefused(token: string, id: string): Promise<void> {
    const res = await t.gql(ERASE, { id, r: REASON }, { token });
    expect([res.errors?.length, res.errors?.[0]?.extensions?.code, res.data ?? null]).toEqual([1, 'STEP_UP_REQUIRED', null]);
  }

  it('full nationalId and erasure while stepped up; a second session of the same officer gets STEP_UP_REQUIRED; once expired, so does the first', async () => {
    const agent = await createStaff(t, admin, 'AGENT');
    const id = (await gqlOk<{ createCustomer: { id: string } }>(t.gql, 'mutation($i: CreateCustomerInput!) { createCustomer(input: $i) { id } }', { i: { externalRef: 'step-up-expiry', fullName: 'Step Expiry', nationalId: NATIONAL_ID } }, agent.accessToken)).createCustomer.id;
    const co = await createStaff(t, admin, 'COMPLIANCE_OFFICER');
    const first = sessionIdOf(co.accessToken);
    await expectStepUpRequired(co.accessToken, id);

    await gqlOk(t.gql, 'mutation($c: String!) { stepUp(code: $c) { expiresAt } }', { c: await freshCode(co.secret) }, co.accessToken);
    const full = await gqlOk<{ customer: { nationalId: string } }>(t.gql, READ, { id }, co.accessToken);
    expect(full.customer.nationalId).toBe(NATIONAL_ID);

    // Binding: the same officer signs in again (freshCode waits for the next TOTP step if it must). The new
    // session has no step-up of its own, and the first one's does not carry over.
    const second = await signIn(t, co.email, co.password, co.secret);
    expect(second.userId).toBe(co.userId);
    expect(sessionIdOf(second.accessToken)).not.toBe(first);
    await expectStepUpRequired(second.accessToken, id);
    await expectEraseRefused(second.accessToken, id);
    // …while the first session is still stepped up.
    expect((await gqlOk<{ customer: { nationalId: string } }>(t.gql, READ, { id }, co.accessToken)).customer.nationalId).toBe(NATIONAL_ID);

    // Expiry: the same token, one second past the step-up's end.
    const expired = await sql.query(`UPDATE auth_session SET step_up_until = now() - interval '1 second' WHERE id = $1 AND user_id = $2`, [first, co.userId]);
    expect(expired.rowCount).toBe(1);
    await expectStepUpRequired(co.accessToken, id);
    await expectEraseRefused(co.accessToken, id);

    // Nothing was erased: the row still holds its status and its ciphertexts.
    const { rows } = await sql.query(`SELECT status, erased_at, national_id IS NOT NULL AS has_nid, data_key IS NOT NULL AS has_key FROM customer WHERE id = $1`, [id]);
    expect(rows).toEqual([{ status: 'ACTIVE', erased_at: null, has_nid: true, has_key: true }]);
  });
});
