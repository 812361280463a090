import { Client } from 'pg';
import { startTestApp, TEST_ADMIN, type TestApp } from '../helpers/app';
import { createStaff, gqlOk, LOGIN, signInAdmin, type SignedIn } from '../helpers/auth';
import { ingest, partnerWithToken } from '../helpers/monitoring';

const codeOf = (res: { errors?: Array<{ extensions?: Record<string, unknown> }> }) => res.errors?.[0]?.extensions?.code;
const aliasedIngest = (n: number) => `mutation { ${Array.from({ length: n }, (_, i) => `i${i}: ingestEvents(events: []) { duplicate }`).join(' ')} }`;
const codes = (res: { errors?: Array<{ extensions?: Record<string, unknown> }> }) => (res.errors ?? []).map((e) => e.extensions?.code);
const aliasedMe = (n: number) => `query { ${Array.from({ length: n }, (_, i) => `m${i}: me { __typename }`).join(' ')} }`;
const aliasedCustomers = (n: number) => `query { ${Array.from({ length: n }, (_, i) => `c${i}: customers(first: 1) { totalCount }`).join(' ')} }`;

describe('identity: rate limits come from configuration and count operations (e2e)', () => {
  describe('staff operations per minute (RATE_LIMIT_STAFF_OPERATIONS_PER_MINUTE=3)', () => {
    let t: TestApp;
    beforeAll(async () => {
      t = await startTestApp({ RATE_LIMIT_STAFF_OPERATIONS_PER_MINUTE: '3' });
    });
    afterAll(() => t.close());

    it('counts each alias as an operation and refuses beyond the configured limit with retryAfterSeconds', async () => {
      const admin = await signInAdmin(t);
      const five = await t.gql(aliasedMe(5), undefined, { token: admin.accessToken });
      expect(codeOf(five)).toBe('RATE_LIMITED');
      expect(five.errors![0].extensions!.retryAfterSeconds).toBeGreaterThanOrEqual(1);
    });
  });

  describe('partner operations per minute (RATE_LIMIT_PARTNER_OPERATIONS_PER_MINUTE=2)', () => {
    let t: TestApp;
    let admin: SignedIn;
    beforeAll(async () => {
      t = await startTestApp({ RATE_LIMIT_PARTNER_OPERATIONS_PER_MINUTE: '2' });
      admin = await signInAdmin(t);
    });
    afterAll(() => t.close());

    it('applies the limit per token: one exhausted token does not affect another partner', async () => {
      const a = await partnerWithToken(t, admin, 'EXTERNAL');
      const b = await partnerWithToken(t, admin, 'EXTERNAL');
      // Two operations: whatever the resolver answers, the limiter lets them through.
      expect(codes(await t.gql(aliasedCustomers(2), undefined, { token: a.token }))).not.toContain('RATE_LIMITED');
      const refused = await t.gql(aliasedCustomers(1), undefined, { token: a.token });
      expect(codeOf(refused)).toBe('RATE_LIMITED');
      expect(refused.errors![0].extensions!.retryAfterSeconds).toBeGreaterThanOrEqual(1);
      expect(codes(await t.gql(aliasedCustomers(2), undefined, { token: b.token }))).not.toContain('RATE_LIMITED');
    });

    it('counts ingestEvents by its events, not as operations: a feed of single-event calls is not held to the operation limit', async () => {
      const agent = await createStaff(t, admin, 'AGENT');
      const customer = (await gqlOk<{ createCustomer: { id: string } }>(t.gql, 'mutation { createCustomer(input: {externalRef: "rate-feed-1"}) { id } }', undefined, agent.accessToken)).createCustomer.id;
      const core = await partnerWithToken(t, admin, 'INTERNAL');
      const login = { customerId: customer, type: 'LOGIN', attributes: { outcome: 'SUCCESS' } };
      for (let i = 0; i < 5; i++) expect((await ingest(t, core.token, [login])).errors).toBeUndefined();
      // A call carrying no event counts as one event, not as an operation.
      expect(codes(await t.gql(aliasedIngest(3), undefined, { token: core.token }))).not.toContain('RATE_LIMITED');
      // Refused by its policy (a token without events:write), a call is one operation like any other, so refusals
      // (each one audited) cannot go uncounted.
      const reader = await partnerWithToken(t, admin, 'INTERNAL', ['customers:read']);
      for (let i = 0; i < 2; i++) expect(codes(await t.gql(aliasedIngest(1), undefined, { token: reader.token }))).toEqual(['FORBIDDEN']);
      expect(codeOf(await t.gql(aliasedIngest(1), undefined, { token: reader.token }))).toBe('RATE_LIMITED');
    });
  });
});

describe('identity: blind-index lookups and partner events follow their configured limits (e2e)', () => {
  let t: TestApp;
  let admin: SignedIn;
  beforeAll(async () => {
    t = await startTestApp({
      RATE_LIMIT_BLIND_INDEX_LOOKUPS_PER_MINUTE: '3',
      RATE_LIMIT_PARTNER_EVENTS_EXTERNAL_PER_MINUTE: '4',
      RATE_LIMIT_PARTNER_EVENTS_INTERNAL_PER_MINUTE: '6',
    });
    admin = await signInAdmin(t);
  });
  afterAll(() => t.close());

  it('refuses the lookup beyond RATE_LIMIT_BLIND_INDEX_LOOKUPS_PER_MINUTE, per user, each searched field counting once', async () => {
    const agent = await createStaff(t, admin, 'AGENT');
    const other = await createStaff(t, admin, 'AGENT');
    const byEmail = 'query($v: String!) { customers(filter: {email: $v}) { totalCount } }';
    const byEmailAndPhone = 'query($v: String!, $p: String!) { customers(filter: {email: $v, phone: $p}) { totalCount } }';
    expect((await t.gql(byEmail, { v: 'someone@example.test' }, { token: agent.accessToken })).errors).toBeUndefined();
    expect((await t.gql(byEmailAndPhone, { v: 'someone@example.test', p: '+15550001111' }, { token: agent.accessToken })).errors).toBeUndefined();
    const refused = await t.gql(byEmail, { v: 'someone@example.test' }, { token: agent.accessToken });
    expect(codeOf(refused)).toBe('RATE_LIMITED');
    expect(refused.errors![0].extensions!.retryAfterSeconds).toBeGreaterThanOrEqual(1);
    // A list without a lookup is not counted, and another user has a budget of their own.
    expect((await t.gql('{ customers { totalCount } }', undefined, { token: agent.accessToken })).errors).toBeUndefined();
    expect((await t.gql(byEmail, { v: 'someone@example.test' }, { token: other.accessToken })).errors).toBeUndefined();
  });

  it('an EXTERNAL partner gets RATE_LIMIT_PARTNER_EVENTS_EXTERNAL_PER_MINUTE events, shown as its eventsPerMinute', async () => {
    const shop = await partnerWithToken(t, admin, 'EXTERNAL');
    const shown = await gqlOk<{ partner: { eventsPerMinute: number } }>(t.gql, 'query($id: ID!) { partner(id: $id) { eventsPerMinute } }', { id: shop.id }, admin.accessToken);
    expect(shown.partner.eventsPerMinute).toBe(4);
    const mine = (await gqlOk<{ createCustomer: { id: string } }>(t.gql, 'mutation { createCustomer(input: {externalRef: "rate-shop-1"}) { id } }', undefined, shop.token)).createCustomer.id;
    const login = { customerId: mine, type: 'LOGIN', attributes: { outcome: 'SUCCESS' } };
    expect((await ingest(t, shop.token, [login, login, login])).errors).toBeUndefined();
    const over = await ingest(t, shop.token, [login, login]);
    expect(codeOf(over)).toBe('RATE_LIMITED');
    expect(over.errors![0].extensions!.retryAfterSeconds).toBeGreaterThanOrEqual(1);
    // The refused call counted nothing: the one event left in the budget still goes through.
    expect((await ingest(t, shop.token, [login])).errors).toBeUndefined();
    expect(codeOf(await ingest(t, shop.token, [login]))).toBe('RATE_LIMITED');
  });

  it('counts every event of a call, an invalid one too, before any is looked at: a call past the limit does no work', async () => {
    const shop = await partnerWithToken(t, admin, 'EXTERNAL');
    const mine = (await gqlOk<{ createCustomer: { id: string } }>(t.gql, 'mutation { createCustomer(input: {externalRef: "rate-shop-2"}) { id } }', undefined, shop.token)).createCustomer.id;
    const login = { customerId: mine, type: 'LOGIN', attributes: { outcome: 'SUCCESS' } };
    const undated = { ...login, occurredAt: 'yesterday' };
    const answered = await ingest(t, shop.token, [undated, undated, login]);
    expect(answered.errors?.map((e) => [e.path?.join('.'), e.extensions?.code])).toEqual([['ingestEvents.0', 'BAD_USER_INPUT'], ['ingestEvents.1', 'BAD_USER_INPUT']]);
    // Three of the four events a minute are spent, the two refused ones included.
    expect(codeOf(await ingest(t, shop.token, [login, login]))).toBe('RATE_LIMITED');
    expect((await ingest(t, shop.token, [login])).errors).toBeUndefined();
  });

  it('an INTERNAL partner gets RATE_LIMIT_PARTNER_EVENTS_INTERNAL_PER_MINUTE; a partner eventsPerMinute overrides the configured default', async () => {
    const agent = await createStaff(t, admin, 'AGENT');
    const customer = (await gqlOk<{ createCustomer: { id: string } }>(t.gql, 'mutation { createCustomer(input: {externalRef: "rate-core-1"}) { id } }', undefined, agent.accessToken)).createCustomer.id;
    const login = { customerId: customer, type: 'LOGIN', attributes: { outcome: 'SUCCESS' } };
    const core = await partnerWithToken(t, admin, 'INTERNAL');
    expect(codeOf(await ingest(t, core.token, Array.from({ length: 7 }, () => login)))).toBe('RATE_LIMITED');
    expect((await ingest(t, core.token, Array.from({ length: 6 }, () => login))).errors).toBeUndefined();
    expect(codeOf(await ingest(t, core.token, [login]))).toBe('RATE_LIMITED');

    const feed = await partnerWithToken(t, admin, 'INTERNAL');
    await gqlOk(t.gql, 'mutation($id: ID!) { updatePartner(id: $id, input: {eventsPerMinute: 10}) { eventsPerMinute } }', { id: feed.id }, admin.accessToken);
    expect((await ingest(t, feed.token, Array.from({ length: 10 }, () => login))).errors).toBeUndefined();
    expect(codeOf(await ingest(t, feed.token, [login]))).toBe('RATE_LIMITED');
  });
});

describe('identity: sign-in limits and lockout come from configuration (e2e)', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({
      RATE_LIMIT_SIGN_IN_PER_IP_PER_MINUTE: '4',
      LOCKOUT_ACCOUNT_FAILURES: '3',
      LOCKOUT_IP_FAILURES: '3',
      LOCKOUT_WINDOW_MINUTES: '5',
      LOCKOUT_DURATION_MINUTES: '2',
    });
  });
  afterAll(() => t.close());

  it('RATE_LIMIT_SIGN_IN_PER_IP_PER_MINUTE caps sign-in operations from one address', async () => {
    // refreshSession is a sign-in operation whose failure is not a secret failure, so only this limit applies.
    const refresh = 'mutation { refreshSession(refreshToken: "rt_not-a-real-token") { accessToken } }';
    const ip = '192.0.2.10';
    for (let i = 0; i < 4; i++) expect(codeOf(await t.gql(refresh, undefined, { ip }))).toBe('UNAUTHENTICATED');
    const refused = await t.gql(refresh, undefined, { ip });
    expect(codeOf(refused)).toBe('RATE_LIMITED');
    expect(refused.errors![0].extensions!.retryAfterSeconds).toBeGreaterThanOrEqual(1);
    expect(codeOf(await t.gql(LOGIN, { email: 'nobody@custos.test', password: 'x'.repeat(12) }, { ip }))).toBe('RATE_LIMITED');
    expect(codeOf(await t.gql(refresh, undefined, { ip: '192.0.2.11' }))).toBe('UNAUTHENTICATED');
  });

  it('LOCKOUT_ACCOUNT_FAILURES and LOCKOUT_DURATION_MINUTES: three wrong passwords lock the account for two minutes', async () => {
    for (let i = 0; i < 3; i++) expect(codeOf(await t.gql(LOGIN, { email: TEST_ADMIN.email, password: `wrong-password-${i}-x` }))).toBe('UNAUTHENTICATED');
    const locked = await t.gql(LOGIN, { email: TEST_ADMIN.email, password: TEST_ADMIN.password });
    expect(codeOf(locked)).toBe('RATE_LIMITED');
    const retry = locked.errors![0].extensions!.retryAfterSeconds as number;
    expect(retry).toBeGreaterThan(100);
    expect(retry).toBeLessThanOrEqual(120);
  });

  it('LOCKOUT_IP_FAILURES: three failures from one address throttle it, whichever accounts they named', async () => {
    const ip = '192.0.2.20';
    for (let i = 0; i < 3; i++) expect(codeOf(await t.gql(LOGIN, { email: `spray-${i}@custos.test`, password: 'y'.repeat(12) }, { ip }))).toBe('UNAUTHENTICATED');
    expect(codeOf(await t.gql(LOGIN, { email: 'someone-else@custos.test', password: 'y'.repeat(12) }, { ip }))).toBe('RATE_LIMITED');
  });
});

describe('identity: requests without a valid credential are limited per IP and audited once each (e2e)', () => {
  let t: TestApp;
  let sql: Client;
  /** Audit entries with this action whose details or operation match, chained or still pending. */
  const entries = async (action: string) =>
    Number((await sql.query(`SELECT (SELECT count(*) FROM audit_entry WHERE action = $1) + (SELECT count(*) FROM audit_entry_pending WHERE action = $1) AS n`, [action])).rows[0].n);
  beforeAll(async () => {
    t = await startTestApp({ RATE_LIMIT_UNAUTHENTICATED_PER_IP_PER_MINUTE: '3' });
    sql = new Client({ connectionString: t.db.url });
    await sql.connect();
  });
  afterAll(async () => {
    await sql.end();
    await t.close();
  });

  it('RATE_LIMIT_UNAUTHENTICATED_PER_IP_PER_MINUTE: anonymous requests count once each, however many aliases, then RATE_LIMITED unaudited', async () => {
    const ip = '192.0.2.30';
    const before = await entries('access.denied');
    for (let i = 1; i <= 3; i++) {
      const res = await t.gql(aliasedMe(30), undefined, { ip });
      expect(new Set(codes(res))).toEqual(new Set(['UNAUTHENTICATED']));
      // One entry per request, not one per alias.
      expect(await entries('access.denied')).toBe(before + i);
    }
    const limited = await t.gql(aliasedMe(30), undefined, { ip });
    expect(new Set(codes(limited))).toEqual(new Set(['RATE_LIMITED']));
    expect(limited.errors![0].extensions!.retryAfterSeconds).toBeGreaterThanOrEqual(1);
    expect(await entries('access.denied')).toBe(before + 3);
    // Another address is not held back.
    expect(codeOf(await t.gql(aliasedMe(1), undefined, { ip: '192.0.2.31' }))).toBe('UNAUTHENTICATED');
  });

  it('counts a forged or expired credential the same way, and never refuses a public operation for it', async () => {
    const ip = '192.0.2.40';
    const forged = { authorization: 'Bearer not-a-real-token' };
    const before = await entries('auth.invalid_credential');
    for (let i = 1; i <= 3; i++) {
      expect(codeOf(await t.gql(aliasedMe(5), undefined, { ip, headers: forged }))).toBe('UNAUTHENTICATED');
      expect(await entries('auth.invalid_credential')).toBe(before + i);
    }
    expect(codeOf(await t.gql(aliasedMe(5), undefined, { ip, headers: forged }))).toBe('RATE_LIMITED');
    expect(await entries('auth.invalid_credential')).toBe(before + 3);
    // A public operation ignores the bad credential, over the limit or not (a client refreshing with its
    // expired access token attached must still get through); it is no longer audited past the limit.
    const info = await t.gql<{ serverInfo: { __typename: string } }>('{ serverInfo { __typename } }', undefined, { ip, headers: forged });
    expect(info.errors).toBeUndefined();
    expect(info.data!.serverInfo.__typename).toBe('ServerInfo');
    expect(await entries('auth.invalid_credential')).toBe(before + 3);
  });
});

describe('identity: an address throttled for failures cannot change a password either (e2e)', () => {
  let t: TestApp;
  let user: SignedIn;
  beforeAll(async () => {
    t = await startTestApp({ LOCKOUT_IP_FAILURES: '3' });
    user = await createStaff(t, await signInAdmin(t), 'ANALYST');
  });
  afterAll(() => t.close());

  it('changePassword from the throttled address is RATE_LIMITED and audited as ip_throttled; the account itself is not locked', async () => {
    const ip = '192.0.2.30';
    // Failures naming other accounts: only the address's count reaches its limit, never this user's.
    for (let i = 0; i < 3; i++) expect(codeOf(await t.gql(LOGIN, { email: `spray-${i}@custos.test`, password: 'z'.repeat(12) }, { ip }))).toBe('UNAUTHENTICATED');
    const change = 'mutation($c: String!, $n: String!) { changePassword(currentPassword: $c, newPassword: $n) }';
    const refused = await t.gql(change, { c: user.password, n: 'a-new-long-passphrase-1' }, { token: user.accessToken, ip });
    expect(codeOf(refused)).toBe('RATE_LIMITED');

    const sql = new Client({ connectionString: t.db.url });
    await sql.connect();
    try {
      const { rows } = await sql.query(
        `SELECT details->>'reason' AS reason, count(*)::int AS n FROM (SELECT details FROM audit_entry WHERE action = 'user.change_password' AND outcome = 'DENIED' AND resource_id = $1
           UNION ALL SELECT details FROM audit_entry_pending WHERE action = 'user.change_password' AND outcome = 'DENIED' AND resource_id = $1) x GROUP BY 1`,
        [user.userId],
      );
      expect(rows).toEqual([{ reason: 'ip_throttled', n: 1 }]);
    } finally {
      await sql.end();
    }
    // The same user from another address: the account was never locked, so the change goes through.
    const changed = await t.gql(change, { c: user.password, n: 'a-new-long-passphrase-1' }, { token: user.accessToken, ip: '192.0.2.31' });
    expect(changed.errors).toBeUndefined();
    expect(changed.data).toEqual({ changePassword: true });
  });
});
