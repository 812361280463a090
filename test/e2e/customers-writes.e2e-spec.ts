import { Client } from 'pg';
import { startTestApp, type TestApp } from '../helpers/app';
import { ERASE_CUSTOMER_SQL, inSideTransaction, lockWaiters } from '../helpers/postgres';
import { createStaff, gqlOk, signInAdmin, type SignedIn } from '../helpers/auth';

type Res = { errors?: Array<{ path?: Array<string | number>; extensions?: Record<string, unknown> }>; data?: unknown };
const codeOf = (res: Res) => res.errors?.[0]?.extensions?.code;
const fieldPaths = (res: Res) => ((res.errors?.[0]?.extensions?.fieldErrors ?? []) as Array<{ path: string }>).map((e) => e.path);
const CREATE = 'mutation($i: CreateCustomerInput!) { createCustomer(input: $i) { id } }';
const UPDATE = 'mutation($id: ID!, $i: UpdateCustomerInput!) { updateCustomer(id: $id, input: $i) { id transactionLimit dailyLimit accountManager { id } } }';
const CONSENT = 'mutation($i: RecordConsentInput!) { recordConsent(input: $i) { id } }';
const future = (days: number) => new Date(Date.now() + days * 86_400_000).toISOString();

describe('customers: writes — limits, national ids, concurrent changes, the partner write scope', () => {
  let t: TestApp;
  let sql: Client;
  let admin: SignedIn, co: SignedIn, agent: SignedIn, am1: SignedIn, am2: SignedIn;
  let seq = 0;
  const create = async (token: string, extra: Record<string, unknown> = {}) =>
    (await gqlOk<{ createCustomer: { id: string } }>(t.gql, CREATE, { i: { externalRef: `writes-${++seq}`, fullName: `Writes Person${seq}`, ...extra } }, token)).createCustomer.id;
  type Updated = { updateCustomer: { transactionLimit: string | null; dailyLimit: string | null; accountManager: { id: string } | null } };
  const update = (token: string, id: string, input: Record<string, unknown>) => t.gql<Updated>(UPDATE, { id, i: input }, { token });
  const profileChanges = async (id: string) =>
    (await gqlOk<{ customer: { profileChanges: { nodes: Array<{ fields: string[] }> } } }>(t.gql, 'query($id: ID!) { customer(id: $id) { profileChanges { nodes { fields } } } }', { id }, co.accessToken)).customer.profileChanges.nodes.map((n) => n.fields);
  const profileChangeEvents = async (id: string) =>
    (await sql.query(`SELECT attributes->'fields' AS fields FROM event WHERE customer_id = $1 AND type = 'PROFILE_CHANGE' ORDER BY occurred_at, id`, [id])).rows.map((r) => r.fields as string[]);
  /** The `fields` of each customer.update audit entry, chained or not yet. */
  const auditedUpdates = async (id: string) =>
    (await sql.query(
      `SELECT fields FROM (SELECT occurred_at, fields FROM audit_entry WHERE action = 'customer.update' AND customer_id = $1
                           UNION ALL SELECT occurred_at, fields FROM audit_entry_pending WHERE action = 'customer.update' AND customer_id = $1) e ORDER BY occurred_at`,
      [id],
    )).rows.map((r) => r.fields as string[]);
  const stored = async (id: string) =>
    (await sql.query(`SELECT transaction_limit::text AS "transactionLimit", daily_limit::text AS "dailyLimit", account_manager_id AS "accountManagerId" FROM customer WHERE id = $1`, [id])).rows[0];

  beforeAll(async () => {
    t = await startTestApp();
    sql = new Client({ connectionString: t.db.url });
    await sql.connect();
    admin = await signInAdmin(t);
    [co, agent, am1, am2] = [
      await createStaff(t, admin, 'COMPLIANCE_OFFICER'),
      await createStaff(t, admin, 'AGENT'),
      await createStaff(t, admin, 'ACCOUNT_MANAGER'),
      await createStaff(t, admin, 'ACCOUNT_MANAGER'),
    ];
  }, 120_000);
  afterAll(async () => {
    await sql.end();
    await t.close();
  });

  describe('limits (SPEC §5 limits ≥ 0, §8 only a COMPLIANCE_OFFICER changes them after creation)', () => {
    it('stores a limit of 0 on a customer without one: a change, with a PROFILE_CHANGE event naming the field', async () => {
      const id = await create(agent.accessToken);
      const res = await update(co.accessToken, id, { transactionLimit: '0', dailyLimit: '0.00' });
      expect(res.errors).toBeUndefined();
      expect(res.data!.updateCustomer).toMatchObject({ transactionLimit: '0.00', dailyLimit: '0.00' });
      expect(await stored(id)).toMatchObject({ transactionLimit: '0.00', dailyLimit: '0.00' });
      expect(await profileChanges(id)).toEqual([['transactionLimit', 'dailyLimit']]);
      expect(await profileChangeEvents(id)).toEqual([['transactionLimit', 'dailyLimit']]);
      expect(await auditedUpdates(id)).toEqual([['transactionLimit', 'dailyLimit']]);
    });

    it('null clears a limit or the account manager (a recorded change); left out keeps it; others are refused null too', async () => {
      const id = await create(agent.accessToken, { transactionLimit: '500.00', dailyLimit: '900.00', accountManagerId: am1.userId });
      // The write rules apply to null as to any value: FORBIDDEN naming the field, nothing written.
      for (const [field, token] of [['transactionLimit', agent.accessToken], ['dailyLimit', am1.accessToken], ['accountManagerId', agent.accessToken]] as const) {
        const refused = await update(token, id, { [field]: null, fullName: 'Not Applied' });
        expect([field, refused.errors?.[0]?.extensions]).toEqual([field, expect.objectContaining({ code: 'FORBIDDEN', field })]);
      }
      expect(await stored(id)).toEqual({ transactionLimit: '500.00', dailyLimit: '900.00', accountManagerId: am1.userId });
      expect(await profileChanges(id)).toEqual([]);

      const cleared = await update(co.accessToken, id, { transactionLimit: null, accountManagerId: null });
      expect(cleared.errors).toBeUndefined();
      expect(cleared.data!.updateCustomer).toMatchObject({ transactionLimit: null, dailyLimit: '900.00', accountManager: null });
      expect(await stored(id)).toEqual({ transactionLimit: null, dailyLimit: '900.00', accountManagerId: null });
      expect(await profileChanges(id)).toEqual([['accountManagerId', 'transactionLimit']]);
      expect(await profileChangeEvents(id)).toEqual([['accountManagerId', 'transactionLimit']]);
      // The account manager no longer has the customer.
      expect(codeOf(await t.gql('query($id: ID!) { customer(id: $id) { id } }', { id }, { token: am1.accessToken }))).toBe('NOT_FOUND');
    });

    it('the same value in another spelling changes nothing; large limits compare exactly, not as floats', async () => {
      const id = await create(agent.accessToken, { transactionLimit: '500.00' });
      const same = await update(co.accessToken, id, { transactionLimit: '500', dailyLimit: null, accountManagerId: null });
      expect(same.errors).toBeUndefined();
      expect(await profileChanges(id)).toEqual([]);
      expect(await profileChangeEvents(id)).toEqual([]);
      expect(await auditedUpdates(id)).toEqual([[]]);

      // 2^53 and 2^53 + 1 are one double: as decimals they differ.
      await gqlOk(t.gql, UPDATE, { id, i: { transactionLimit: '9007199254740992' } }, co.accessToken);
      const next = await update(co.accessToken, id, { transactionLimit: '9007199254740993' });
      expect(next.errors).toBeUndefined();
      expect(next.data!.updateCustomer.transactionLimit).toBe('9007199254740993.00');
      expect((await stored(id)).transactionLimit).toBe('9007199254740993.00');
      expect(await profileChanges(id)).toEqual([['transactionLimit'], ['transactionLimit']]);
    });
  });

  it('refuses null for externalRef or lifecycleStage (neither can be cleared) with BAD_USER_INPUT at the field; nothing of the call applied', async () => {
    const id = await create(agent.accessToken, { lifecycleStage: 'ACTIVE' });
    for (const field of ['externalRef', 'lifecycleStage']) {
      const refused = await update(agent.accessToken, id, { [field]: null, fullName: 'Not Applied' });
      expect([field, codeOf(refused), fieldPaths(refused)]).toEqual([field, 'BAD_USER_INPUT', [field]]);
    }
    const row = (await sql.query(`SELECT external_ref, lifecycle_stage FROM customer WHERE id = $1`, [id])).rows[0];
    expect(row).toEqual({ external_ref: `writes-${seq}`, lifecycle_stage: 'ACTIVE' });
    expect(await profileChanges(id)).toEqual([]);
    expect(await profileChangeEvents(id)).toEqual([]);
    // Left out, they are kept, and the rest of the input applies.
    const kept = await update(agent.accessToken, id, { fullName: 'Applied Person' });
    expect(kept.errors).toBeUndefined();
    expect(await profileChanges(id)).toEqual([['fullName']]);
  });

  it('refuses a nationalId of only spaces and dashes with BAD_USER_INPUT at nationalId, on create and on update', async () => {
    for (const nationalId of ['-', '- -', ' -- ']) {
      const created = await t.gql(CREATE, { i: { externalRef: 'writes-dashes', nationalId } }, { token: agent.accessToken });
      expect([nationalId, codeOf(created), fieldPaths(created)]).toEqual([nationalId, 'BAD_USER_INPUT', ['nationalId']]);
    }
    expect((await sql.query(`SELECT 1 FROM customer WHERE external_ref = 'writes-dashes'`)).rowCount).toBe(0);
    const id = await create(agent.accessToken, { nationalId: 'AB-12 34' });
    for (const nationalId of ['-', '- -']) {
      const updated = await update(agent.accessToken, id, { nationalId });
      expect([nationalId, codeOf(updated), fieldPaths(updated)]).toEqual([nationalId, 'BAD_USER_INPUT', ['nationalId']]);
    }
    expect(await profileChanges(id)).toEqual([]);
    // Dashes and spaces inside an id are fine: they are ignored by the lookup.
    expect((await update(agent.accessToken, id, { nationalId: 'CD-56 78' })).errors).toBeUndefined();
  });

  describe('writes re-checked on the locked row (SPEC §4 row scope, §8 writes to a TERMINATED or erased customer)', () => {
    it("refuses an account manager's update that waited while the customer was reassigned (NOT_FOUND, nothing written)", async () => {
      const id = await create(am1.accessToken);
      await inSideTransaction(t.db.url, async (side) => {
        await side.query('SELECT id FROM customer WHERE id = $1 FOR UPDATE', [id]);
        const waiting = update(am1.accessToken, id, { fullName: 'Renamed Meanwhile' });
        expect(await lockWaiters(side, 1)).toBe(1);
        await side.query('UPDATE customer SET account_manager_id = $2 WHERE id = $1', [id, am2.userId]);
        await side.query('COMMIT');
        expect(codeOf(await waiting)).toBe('NOT_FOUND');
      });
      expect(await profileChanges(id)).toEqual([]);
      expect(await profileChangeEvents(id)).toEqual([]);
      const name = await gqlOk<{ customer: { fullName: string } }>(t.gql, 'query($id: ID!) { customer(id: $id) { fullName } }', { id }, am2.accessToken);
      expect(name.customer.fullName).toMatch(/^Writes Person\d+$/);
    });

    it('refuses a consent that waited while its customer was erased (CONFLICT) or reassigned (NOT_FOUND); nothing recorded', async () => {
      const cases: Array<[string, string, (id: string) => [string, unknown[]], string]> = [
        ['erased', agent.accessToken, (id) => [ERASE_CUSTOMER_SQL, [id]], 'CONFLICT'],
        ['reassigned', am1.accessToken, (id) => ['UPDATE customer SET account_manager_id = $2 WHERE id = $1', [id, am2.userId]], 'NOT_FOUND'],
      ];
      for (const [name, token, change, code] of cases) {
        const id = await create(am1.accessToken);
        await inSideTransaction(t.db.url, async (side) => {
          await side.query('SELECT id FROM customer WHERE id = $1 FOR UPDATE', [id]);
          const waiting = t.gql(CONSENT, { i: { customerId: id, purpose: 'MARKETING_EMAIL', granted: true } }, { token });
          expect([name, await lockWaiters(side, 1)]).toEqual([name, 1]);
          const [text, values] = change(id);
          await side.query(text, values);
          await side.query('COMMIT');
          expect([name, codeOf(await waiting)]).toEqual([name, code]);
        });
        const { rows } = await sql.query(`SELECT count(*)::int AS n FROM customer_consent WHERE customer_id = $1`, [id]);
        expect([name, rows[0].n]).toEqual([name, 0]);
      }
    });
  });

  describe('a partner token with customers:write but not customers:read', () => {
    let writeOnly: string;
    beforeAll(async () => {
      const partner = await gqlOk<{ createPartner: { id: string } }>(
        t.gql,
        'mutation($i: CreatePartnerInput!) { createPartner(input: $i) { id } }',
        { i: { name: 'Write Only Bank', contactEmail: 'w@bank.test', trustLevel: 'EXTERNAL', allowedScopes: ['customers:read', 'customers:write'], agreementSignedAt: future(-1), agreementExpiresAt: future(365) } },
        admin.accessToken,
      );
      writeOnly = (await gqlOk<{ issuePartnerToken: { token: string } }>(t.gql, 'mutation($p: ID!, $e: DateTime!) { issuePartnerToken(input: {partnerId: $p, name: "w", scopes: ["customers:write"], expiresAt: $e}) { token } }', { p: partner.createPartner.id, e: future(30) }, admin.accessToken)).issuePartnerToken.token;
    });

    it('learns the id and externalRef of the customer it creates or updates, and nothing more', async () => {
      const created = await t.gql<{ createCustomer: { id: string; externalRef: string; status: string | null } }>('mutation { createCustomer(input: {externalRef: "write-only-1", fullName: "Wanda Only"}) { id externalRef status } }', undefined, { token: writeOnly });
      expect(created.data?.createCustomer).toEqual({ id: expect.stringMatching(/^[0-9a-f-]{36}$/), externalRef: 'write-only-1', status: null });
      expect(created.errors?.map((e) => [e.path?.join('.'), e.extensions?.code])).toEqual([['createCustomer.status', 'FORBIDDEN']]);
      const id = created.data!.createCustomer.id;
      const updated = await t.gql('mutation($id: ID!) { updateCustomer(id: $id, input: {fullName: "Wanda Written"}) { id externalRef fullName } }', { id }, { token: writeOnly });
      expect(updated.data).toEqual({ updateCustomer: { id, externalRef: 'write-only-1', fullName: null } });
      expect(updated.errors?.map((e) => [e.path?.join('.'), e.extensions?.code])).toEqual([['updateCustomer.fullName', 'FORBIDDEN']]);
      // Another partner's customer (or staff's) stays out of reach.
      const staffs = await create(agent.accessToken);
      expect(codeOf(await t.gql('mutation($id: ID!) { updateCustomer(id: $id, input: {fullName: "X Y"}) { id } }', { id: staffs }, { token: writeOnly }))).toBe('NOT_FOUND');
    });

    it('still may not query customers (SPEC §8: customer and customers need customers:read)', async () => {
      const id = (await gqlOk<{ createCustomer: { id: string } }>(t.gql, 'mutation { createCustomer(input: {externalRef: "write-only-2"}) { id } }', undefined, writeOnly)).createCustomer.id;
      const byId = await t.gql('query($id: ID!) { customer(id: $id) { id externalRef } }', { id }, { token: writeOnly });
      expect(codeOf(byId)).toBe('FORBIDDEN');
      expect(byId.data).toEqual({ customer: null });
      const list = await t.gql('{ customers { totalCount nodes { id } } }', undefined, { token: writeOnly });
      expect(codeOf(list)).toBe('FORBIDDEN');
      expect(list.data ?? null).toBeNull();
    });
  });
});
