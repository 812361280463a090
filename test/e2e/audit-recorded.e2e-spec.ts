import { randomUUID } from 'node:crypto';
import { Client } from 'pg';
import { startTestApp, TEST_ADMIN, type TestApp } from '../helpers/app';
import { codeAt, createStaff, freshCode, gqlOk, LOGIN, signInAdmin, type SignedIn } from '../helpers/auth';
import { INGEST, newKey, partnerWithToken } from '../helpers/monitoring';

interface Row {
  action: string;
  outcome: string;
  actor_type: string;
  actor_id: string | null;
  session_id: string | null;
  request_id: string | null;
  ip: string | null;
  details: Record<string, unknown>;
  resource_id?: string | null;
  fields?: string[];
}

const VERIFY_TOTP = 'mutation($c: String!, $code: String!) { verifyTotp(challengeToken: $c, code: $code) { accessToken refreshToken } }';
const USE_RECOVERY_CODE = 'mutation($c: String!, $r: String!) { useRecoveryCode(challengeToken: $c, recoveryCode: $r) { accessToken refreshToken } }';
const STEP_UP = 'mutation($c: String!) { stepUp(code: $c) { expiresAt } }';
const REFRESH = 'mutation($r: String!) { refreshSession(refreshToken: $r) { accessToken refreshToken } }';
/** A code far outside the ±1 step window: refused as INVALID_CODE. */
const wrongCode = (secret: string) => codeAt(secret, 20);

/** What identity records at sign-in, logout and partner token use (SPEC §5 "Recorded"), read back by SQL. */
describe('audit: what is recorded for sign-in, sessions and partner tokens', () => {
  let t: TestApp;
  let sql: Client;
  let admin: SignedIn;
  const entries = async (where: string, params: unknown[]): Promise<Row[]> =>
    (await sql.query(`SELECT action, outcome, actor_type, actor_id, session_id::text, request_id, ip, details, resource_id, fields FROM audit_entry WHERE ${where} ORDER BY id`, params)).rows as Row[];
  const headId = async (): Promise<string> => (await sql.query('SELECT max(id)::text AS id FROM audit_entry')).rows[0].id as string;
  /** The entries of one actor written after `since`, as (action, outcome, details) triples. */
  const since = async (mark: string, actorId: string): Promise<Row[]> => entries(`id > $1 AND actor_id = $2`, [mark, actorId]);
  const challengeFor = async (user: SignedIn): Promise<string> =>
    (await gqlOk<{ login: { challengeToken: string } }>(t.gql, LOGIN, { email: user.email, password: user.password })).login.challengeToken;

  beforeAll(async () => {
    t = await startTestApp();
    sql = new Client({ connectionString: t.db.url });
    await sql.connect();
    admin = await signInAdmin(t);
  });
  afterAll(async () => {
    await sql?.end();
    await t?.close();
  });

  it('records a failed sign-in as DENIED with the request id and IP, and no password or e-mail in details', async () => {
    const res = await t.gql(LOGIN, { email: TEST_ADMIN.email, password: 'wrong-password-for-audit' }, { ip: '198.51.100.77' });
    expect(res.errors?.[0].extensions?.code).toBe('UNAUTHENTICATED');
    const rows = await entries(`ip = $1 AND outcome = 'DENIED'`, ['198.51.100.77']);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ action: 'auth.login', outcome: 'DENIED', ip: '198.51.100.77' });
    expect(rows[0].request_id).toEqual(expect.any(String));
    const text = JSON.stringify(rows[0].details);
    expect(text).not.toContain('wrong-password-for-audit');
    expect(text).not.toContain(TEST_ADMIN.email);
  });

  it('records a successful sign-in for the user, and logout with its session', async () => {
    const analyst = await createStaff(t, admin, 'ANALYST');
    const signIns = await entries(`actor_id = $1 AND action LIKE 'auth.%' AND outcome = 'SUCCESS'`, [analyst.userId]);
    expect(signIns.map((r) => r.action)).toEqual(['auth.login', 'auth.password_change', 'auth.totp_enrollment_begin', 'auth.totp_enrolled']);
    for (const row of signIns) {
      expect(row.actor_type).toBe('USER');
      expect(row.request_id).toEqual(expect.any(String));
      expect(row.ip).toEqual(expect.any(String));
      expect(JSON.stringify(row.details)).not.toContain(analyst.password);
      expect(JSON.stringify(row.details)).not.toContain(analyst.email);
    }
    await gqlOk(t.gql, 'mutation { logout }', undefined, analyst.accessToken);
    const [logout] = await entries(`actor_id = $1 AND action = 'auth.logout'`, [analyst.userId]);
    expect(logout).toMatchObject({ outcome: 'SUCCESS', actor_type: 'USER' });
    expect(logout.session_id).toEqual(expect.any(String));
  });

  it('records partner token use once a minute for reads, and every write', async () => {
    const partner = await partnerWithToken(t, admin, 'INTERNAL');
    const ip = '203.0.113.40';
    for (let i = 0; i < 3; i++) expect((await t.gql('{ serverInfo { version } }', undefined, { token: partner.token, ip })).errors).toBeUndefined();
    const uses = await entries(`action = 'partner_token.use' AND partner_id = $1`, [partner.id]);
    expect(uses).toHaveLength(1);
    expect(uses[0]).toMatchObject({ outcome: 'SUCCESS', actor_type: 'PARTNER', ip });
    for (let i = 0; i < 2; i++) {
      const res = await t.gql(INGEST, { e: [{ idempotencyKey: newKey(), customerExternalRef: 'nobody-here', type: 'LOGIN', attributes: { outcome: 'SUCCESS' }, occurredAt: new Date().toISOString() }] }, { token: partner.token, ip });
      expect(res.status).toBe(200);
    }
    const writes = await entries(`actor_type = 'PARTNER' AND partner_id = $1 AND action <> 'partner_token.use'`, [partner.id]);
    expect(new Set(writes.map((w) => w.request_id)).size).toBeGreaterThanOrEqual(2);
    expect(await entries(`action = 'partner_token.use' AND partner_id = $1`, [partner.id])).toHaveLength(1);
  });

  describe('MFA, recovery codes, lockout, step-up and session revocation', () => {
    it('records the first sign-in of a new user: password change, enrollment begun, a wrong code DENIED, enrolled', async () => {
      const email = `enrol-${randomUUID()}@custos.test`;
      const password = 'initial-enrolment-password-1';
      const { createUser } = await gqlOk<{ createUser: { id: string } }>(t.gql, 'mutation($i: CreateUserInput!) { createUser(input: $i) { id } }', { i: { email, displayName: 'Enrolment', role: 'ANALYST', initialPassword: password } }, admin.accessToken);
      const { login } = await gqlOk<{ login: { challengeToken: string; next: string } }>(t.gql, LOGIN, { email, password });
      expect(login.next).toBe('PASSWORD_CHANGE_REQUIRED');
      const { completePasswordChange: next } = await gqlOk<{ completePasswordChange: { challengeToken: string; next: string } }>(
        t.gql, 'mutation($c: String!, $p: String!) { completePasswordChange(challengeToken: $c, newPassword: $p) { challengeToken next } }', { c: login.challengeToken, p: `${password}-renewed` },
      );
      const { beginTotpEnrollment } = await gqlOk<{ beginTotpEnrollment: { secret: string } }>(t.gql, 'mutation($c: String!) { beginTotpEnrollment(challengeToken: $c) { secret } }', { c: next.challengeToken });
      const ENROL = 'mutation($c: String!, $code: String!) { completeTotpEnrollment(challengeToken: $c, code: $code) { accessToken } }';
      const wrong = await t.gql(ENROL, { c: next.challengeToken, code: wrongCode(beginTotpEnrollment.secret) });
      expect(wrong.errors?.[0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', reason: 'INVALID_CODE' });
      await gqlOk(t.gql, ENROL, { c: next.challengeToken, code: await freshCode(beginTotpEnrollment.secret) });
      const rows = await entries(`actor_id = $1 AND action LIKE 'auth.%'`, [createUser.id]);
      expect(rows.map((r) => [r.action, r.outcome])).toEqual([
        ['auth.login', 'SUCCESS'],
        ['auth.password_change', 'SUCCESS'],
        ['auth.totp_enrollment_begin', 'SUCCESS'],
        ['auth.totp_enrollment', 'DENIED'],
        ['auth.totp_enrolled', 'SUCCESS'],
      ]);
      expect(rows[0].details).toEqual({ next: 'PASSWORD_CHANGE_REQUIRED' });
      expect(rows[4].session_id).toEqual(expect.any(String));
      const text = JSON.stringify(rows);
      expect(text).not.toContain(beginTotpEnrollment.secret);
      expect(text).not.toContain(password);
    });

    it('records TOTP verification: a wrong code DENIED and counted, the right one SUCCESS with the new session', async () => {
      const user = await createStaff(t, admin, 'ANALYST');
      const challenge = await challengeFor(user);
      const mark = await headId();
      const wrong = await t.gql(VERIFY_TOTP, { c: challenge, code: wrongCode(user.secret) });
      expect(wrong.errors?.[0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', reason: 'INVALID_CODE' });
      const code = await freshCode(user.secret);
      await gqlOk(t.gql, VERIFY_TOTP, { c: challenge, code });
      const rows = await since(mark, user.userId);
      expect(rows.map((r) => [r.action, r.outcome, r.details])).toEqual([
        ['auth.totp_verify', 'DENIED', { reason: 'invalid_code', kind: 'TOTP' }],
        ['auth.totp_verify', 'SUCCESS', {}],
      ]);
      expect(rows[0].session_id).toBeNull();
      expect(rows[1]).toMatchObject({ actor_type: 'USER', session_id: expect.any(String), request_id: expect.any(String) });
      expect(JSON.stringify(rows)).not.toContain(code);
    });

    it('records recovery-code use: a wrong code DENIED, the right one SUCCESS with the codes left, never a code', async () => {
      const user = await createStaff(t, admin, 'ANALYST');
      const challenge = await challengeFor(user);
      const mark = await headId();
      const wrong = await t.gql(USE_RECOVERY_CODE, { c: challenge, r: 'AAAA-BBBB-CCCC' });
      expect(wrong.errors?.[0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', reason: 'INVALID_CODE' });
      await gqlOk(t.gql, USE_RECOVERY_CODE, { c: challenge, r: user.recoveryCodes[0] });
      const rows = await since(mark, user.userId);
      expect(rows.map((r) => [r.action, r.outcome, r.details])).toEqual([
        ['auth.recovery_code', 'DENIED', { reason: 'invalid_code', kind: 'RECOVERY_CODE' }],
        ['auth.recovery_code', 'SUCCESS', { recoveryCodesLeft: user.recoveryCodes.length - 1 }],
      ]);
      expect(rows[1].session_id).toEqual(expect.any(String));
      const text = JSON.stringify(rows);
      for (const code of user.recoveryCodes) expect(text).not.toContain(code);
      expect(text).not.toContain('AAAA-BBBB-CCCC');
    });

    it('records step-up: a wrong code DENIED, the right one SUCCESS on the session it unlocks', async () => {
      const user = await createStaff(t, admin, 'COMPLIANCE_OFFICER');
      const mark = await headId();
      const wrong = await t.gql(STEP_UP, { c: wrongCode(user.secret) }, { token: user.accessToken });
      expect(wrong.errors?.[0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', reason: 'INVALID_CODE' });
      await gqlOk(t.gql, STEP_UP, { c: await freshCode(user.secret) }, user.accessToken);
      const rows = await since(mark, user.userId);
      expect(rows.map((r) => [r.action, r.outcome])).toEqual([
        ['auth.step_up', 'DENIED'],
        ['auth.step_up', 'SUCCESS'],
      ]);
      expect(rows[0].details).toEqual({ reason: 'invalid_code', kind: 'STEP_UP' });
      expect(rows[1]).toMatchObject({ actor_type: 'USER', session_id: expect.any(String) });
      expect(rows[1].resource_id).toBe(rows[1].session_id);
      expect(rows[1].details).toEqual({ expiresAt: expect.any(String) });
    });

    it('records the lockout once, at the 10th failure, and each attempt refused while locked', async () => {
      const user = await createStaff(t, admin, 'ANALYST');
      const mark = await headId();
      for (let i = 0; i < 10; i++) {
        const res = await t.gql(LOGIN, { email: user.email, password: `wrong-password-${i}-for-lockout` });
        expect(res.errors?.[0].extensions?.code).toBe('UNAUTHENTICATED');
      }
      const locked = await t.gql(LOGIN, { email: user.email, password: user.password });
      expect(locked.errors?.[0].extensions?.code).toBe('RATE_LIMITED');
      const rows = await since(mark, user.userId);
      const logins = rows.filter((r) => r.action === 'auth.login');
      expect(logins).toHaveLength(11);
      expect(logins.slice(0, 10).every((r) => r.outcome === 'DENIED' && r.details.reason === 'wrong_password')).toBe(true);
      expect(logins[10]).toMatchObject({ outcome: 'DENIED', details: { reason: 'account_locked' } });
      const lockouts = rows.filter((r) => r.action === 'auth.lockout');
      expect(lockouts).toEqual([expect.objectContaining({ outcome: 'DENIED', resource_id: user.userId, details: { kind: 'PASSWORD' } })]);
      // The lockout entry follows the 10th failure (same transaction), before the refused attempt.
      expect(rows.map((r) => r.action).indexOf('auth.lockout')).toBe(10);
    });

    it('records session revocation: logout, refresh-token reuse (revokes the session) and an MFA reset', async () => {
      const user = await createStaff(t, admin, 'ANALYST');
      const mark = await headId();
      const { refreshSession } = await gqlOk<{ refreshSession: { accessToken: string } }>(t.gql, REFRESH, { r: user.refreshToken });
      const reuse = await t.gql(REFRESH, { r: user.refreshToken });
      expect(reuse.errors?.[0].extensions?.code).toBe('UNAUTHENTICATED');
      expect((await t.gql('{ me { id } }', undefined, { token: refreshSession.accessToken })).errors?.[0].extensions?.code).toBe('UNAUTHENTICATED');
      const rows = await since(mark, user.userId);
      const session = rows[0].session_id;
      expect(rows.filter((r) => r.action.startsWith('auth.session') || r.action.startsWith('auth.refresh')).map((r) => [r.action, r.outcome, r.session_id])).toEqual([
        ['auth.session_refresh', 'SUCCESS', session],
        ['auth.refresh_token_reuse', 'DENIED', session],
      ]);
      expect(rows.find((r) => r.action === 'auth.refresh_token_reuse')?.details).toEqual({ reason: 'reuse' });

      const other = await createStaff(t, admin, 'ANALYST');
      await gqlOk(t.gql, 'mutation($id: ID!) { resetUserMfa(id: $id) { id } }', { id: other.userId }, admin.accessToken);
      const [reset] = await entries(`action = 'user.reset_mfa' AND resource_id = $1`, [other.userId]);
      expect(reset).toMatchObject({ outcome: 'SUCCESS', actor_id: admin.userId, details: { sessionsRevoked: 1 } });
    });
  });

  describe('denied access raised as STEP_UP_REQUIRED', () => {
    let co: SignedIn;
    let customerId: string;
    beforeAll(async () => {
      co = await createStaff(t, admin, 'COMPLIANCE_OFFICER');
      customerId = (await gqlOk<{ createCustomer: { id: string } }>(
        t.gql, 'mutation($i: CreateCustomerInput!) { createCustomer(input: $i) { id } }',
        { i: { externalRef: `step-up-${randomUUID()}`, transactionLimit: '1000.00', dailyLimit: '5000.00', nationalId: 'NID-STEP-UP-1' } }, co.accessToken,
      )).createCustomer.id;
    });

    it('records a step-up field refused by the field policy, naming the field and not the value', async () => {
      const mark = await headId();
      const res = await t.gql('query($id: ID!) { customer(id: $id) { id nationalId } }', { id: customerId }, { token: co.accessToken });
      expect(res.errors?.map((e) => e.extensions?.code)).toEqual(['STEP_UP_REQUIRED']);
      const denied = (await since(mark, co.userId)).filter((r) => r.outcome === 'DENIED');
      expect(denied).toEqual([expect.objectContaining({ action: 'access.denied_fields', fields: ['Customer.nationalId'] })]);
      expect(JSON.stringify(denied)).not.toContain('NID-STEP-UP-1');
    });

    it('records a STEP_UP_REQUIRED refusal raised inside a service as access.denied', async () => {
      const mark = await headId();
      const res = await t.gql('mutation($id: ID!) { eraseCustomer(id: $id, reason: "GDPR art. 17, ticket DPO-1") { id } }', { id: customerId }, { token: co.accessToken });
      expect(res.errors?.[0].extensions?.code).toBe('STEP_UP_REQUIRED');
      const denied = (await since(mark, co.userId)).filter((r) => r.outcome === 'DENIED');
      expect(denied).toEqual([expect.objectContaining({ action: 'access.denied', details: expect.objectContaining({ errors: [{ code: 'STEP_UP_REQUIRED', path: 'eraseCustomer' }] }) })]);
      // Under an alias the entry still names the operation refused, and the path the key the client sees.
      const mark2 = await headId();
      const aliased = await t.gql('mutation($id: ID!) { login: eraseCustomer(id: $id, reason: "GDPR art. 17, ticket DPO-1") { id } }', { id: customerId }, { token: co.accessToken });
      expect(aliased.errors?.[0].extensions?.code).toBe('STEP_UP_REQUIRED');
      expect((await since(mark2, co.userId)).filter((r) => r.outcome === 'DENIED').map((r) => [r.action, r.resource_id, (r.details as { errors: unknown }).errors])).toEqual([
        ['access.denied', 'eraseCustomer', [{ code: 'STEP_UP_REQUIRED', path: 'login' }]],
      ]);
    });
  });

  it('records a failed mutation once as mutation.failed (ERROR) with codes and paths, never the input', async () => {
    const mark = await headId();
    const CREATE = 'mutation($i: CreateUserInput!) { createUser(input: $i) { id } }';
    const taken = await t.gql(CREATE, { i: { email: admin.email, displayName: 'Dupe Markername', role: 'AGENT', initialPassword: 'a-long-enough-password-1' } }, { token: admin.accessToken });
    expect(taken.errors?.[0].extensions?.code).toBe('CONFLICT');
    const invalid = await t.gql(CREATE, { i: { email: 'not-an-email-markername', displayName: ' ', role: 'AGENT', initialPassword: 'x' } }, { token: admin.accessToken });
    expect(invalid.errors?.[0].extensions?.code).toBe('BAD_USER_INPUT');
    // A variable that cannot be coerced fails before anything ran or anyone was authenticated: not recorded.
    const uncoerced = await t.gql(CREATE, { i: { email: 'x@custos.test' } }, { token: admin.accessToken });
    expect(uncoerced.errors?.[0].extensions?.code).toBe('BAD_USER_INPUT');
    // Not failed mutations: a query's error; a sign-in step's failure (identity records it as DENIED).
    expect((await t.gql('{ user(id: "nope") { id } }', undefined, { token: admin.accessToken })).errors?.[0].extensions?.code).toBe('BAD_USER_INPUT');
    expect((await t.gql('mutation { stepUp(code: "000000") { expiresAt } }', undefined, { token: admin.accessToken })).errors?.[0].extensions?.code).toBeDefined();
    // Aliases are response keys, not operations: a failing createUser spelled `stepUp` is recorded under its
    // own name (also through a fragment), and a stepUp spelled otherwise still records only its own outcome.
    const aliased = await t.gql('mutation($i: CreateUserInput!) { stepUp: createUser(input: $i) { id } }', { i: { email: admin.email, displayName: 'Dupe', role: 'AGENT', initialPassword: 'a-long-enough-password-1' } }, { token: admin.accessToken });
    expect(aliased.errors?.[0]).toMatchObject({ path: ['stepUp'], extensions: { code: 'CONFLICT' } });
    const spread = await t.gql('mutation($i: CreateUserInput!) { ...M } fragment M on Mutation { login: createUser(input: $i) { id } }', { i: { email: admin.email, displayName: 'Dupe', role: 'AGENT', initialPassword: 'a-long-enough-password-1' } }, { token: admin.accessToken });
    expect(spread.errors?.[0]).toMatchObject({ path: ['login'], extensions: { code: 'CONFLICT' } });
    expect((await t.gql('mutation { check: stepUp(code: "000000") { expiresAt } }', undefined, { token: admin.accessToken })).errors?.[0].path).toEqual(['check']);
    const failed = (await since(mark, admin.userId)).filter((r) => r.action === 'mutation.failed');
    expect(failed.map((r) => [r.outcome, r.resource_id, r.details])).toEqual([
      ['ERROR', 'createUser', { errors: [{ code: 'CONFLICT', path: 'createUser' }] }],
      ['ERROR', 'createUser', { errors: [{ code: 'BAD_USER_INPUT', path: 'createUser' }] }],
      ['ERROR', 'createUser', { errors: [{ code: 'CONFLICT', path: 'stepUp' }] }],
      ['ERROR', 'createUser', { errors: [{ code: 'CONFLICT', path: 'login' }] }],
    ]);
    expect(failed.every((r) => r.request_id)).toBe(true);
    expect(JSON.stringify(failed)).not.toMatch(/markername|Markername|a-long-enough/i);
    // A mutation that succeeds leaves its own entry and no failure.
    const mark2 = await headId();
    await gqlOk(t.gql, CREATE, { i: { email: 'audit-ok@custos.test', displayName: 'Fine', role: 'AGENT', initialPassword: 'a-long-enough-password-2' } }, admin.accessToken);
    expect((await since(mark2, admin.userId)).map((r) => [r.action, r.outcome])).toEqual([['user.create', 'SUCCESS']]);
  });
});
