import { Client } from 'pg';
import { startTestApp, TEST_ADMIN, type TestApp } from '../helpers/app';
import { codeAt, createStaff, freshCode, gqlOk, lastUsedCode, LOGIN, signIn, signInAdmin, type SignedIn, startAppWithAdmin, stopAppWithAdmin } from '../helpers/auth';

const VERIFY = 'mutation($c: String!, $code: String!) { verifyTotp(challengeToken: $c, code: $code) { accessToken } }';
const code = (res: { errors?: Array<{ extensions?: Record<string, unknown> }> }) => res.errors?.[0]?.extensions?.code;
const reason = (res: { errors?: Array<{ extensions?: Record<string, unknown> }> }) => res.errors?.[0]?.extensions?.reason;

describe('identity: sign-in with mandatory TOTP', () => {
  let t: TestApp;
  let admin: SignedIn;

  beforeAll(async () => {
    t = await startTestApp();
    admin = await signInAdmin(t);
  });
  afterAll(() => t.close());

  async function challengeFor(user: SignedIn): Promise<string> {
    const { login } = await gqlOk<{ login: { challengeToken: string; next: string } }>(t.gql, LOGIN, { email: user.email, password: user.password });
    expect(login.next).toBe('TOTP_REQUIRED');
    return login.challengeToken;
  }

  it('enrolls the bootstrap admin: the session works, recovery codes come once, login alone gives no tokens', async () => {
    expect(admin.recoveryCodes).toHaveLength(10);
    expect(new Set(admin.recoveryCodes).size).toBe(10);
    const me = await t.gql<{ me: { id: string; role: string; email: string; mfaEnrolled: boolean; permissions: unknown } }>('{ me { id role email mfaEnrolled permissions } }', undefined, { token: admin.accessToken });
    expect(me.data?.me).toMatchObject({ role: 'ADMIN', email: TEST_ADMIN.email, mfaEnrolled: true });
    expect(Array.isArray(me.data?.me.permissions)).toBe(true);
    const res = await t.gql(LOGIN, { email: TEST_ADMIN.email, password: TEST_ADMIN.password });
    expect(res.data).toEqual({ login: { challengeToken: expect.stringMatching(/^ch_/), next: 'TOTP_REQUIRED', expiresAt: expect.any(String) } });
    expect(JSON.stringify(res.body)).not.toMatch(/accessToken|refreshToken/);
  });

  it('forces a new user to replace the admin-set password, then enroll', async () => {
    const email = 'forced@custos.test';
    await gqlOk(t.gql, 'mutation($i: CreateUserInput!) { createUser(input: $i) { id } }', { i: { email, displayName: 'Forced', role: 'AGENT', initialPassword: 'admin-set-password-1' } }, admin.accessToken);
    const { login } = await gqlOk<{ login: { challengeToken: string; next: string } }>(t.gql, LOGIN, { email, password: 'admin-set-password-1' });
    expect(login.next).toBe('PASSWORD_CHANGE_REQUIRED');
    const early = await t.gql('mutation($c: String!) { beginTotpEnrollment(challengeToken: $c) { secret } }', { c: login.challengeToken });
    expect(code(early)).toBe('BAD_USER_INPUT');
    const same = await t.gql('mutation($c: String!) { completePasswordChange(challengeToken: $c, newPassword: "admin-set-password-1") { next } }', { c: login.challengeToken });
    expect(same.errors?.[0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', fieldErrors: [{ path: 'newPassword', message: 'must differ from the current password' }] });
    const common = await t.gql('mutation($c: String!) { completePasswordChange(challengeToken: $c, newPassword: "Password1234") { next } }', { c: login.challengeToken });
    expect(common.errors?.[0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', fieldErrors: [{ path: 'newPassword', message: 'is too common' }] });
    const user = await signIn(t, email, 'admin-set-password-1');
    expect(user.recoveryCodes).toHaveLength(10);
    // The old password no longer works.
    const old = await t.gql(LOGIN, { email, password: 'admin-set-password-1' });
    expect(old.errors?.[0].extensions).toMatchObject({ code: 'UNAUTHENTICATED', reason: 'INVALID_CREDENTIALS' });
  });

  it('refuses a blank e-mail or an empty password as input, before any credential is checked', async () => {
    for (const [email, password, path] of [['   ', 'whatever-password-1', 'email'], [TEST_ADMIN.email, '', 'password']]) {
      const res = await t.gql(LOGIN, { email, password });
      expect(res.errors?.[0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', fieldErrors: [{ path }] });
    }
  });

  it('answers unknown e-mail and wrong password identically', async () => {
    const unknown = await t.gql(LOGIN, { email: 'nobody@custos.test', password: 'whatever-password-1' });
    const wrong = await t.gql(LOGIN, { email: TEST_ADMIN.email.toUpperCase(), password: 'not-the-password-1' });
    expect(unknown.errors).toEqual(wrong.errors);
    expect(unknown.errors?.[0].extensions).toEqual({ code: 'UNAUTHENTICATED', reason: 'INVALID_CREDENTIALS' });
    expect(unknown.data).toBeNull();
  });

  it('stores passwords as argon2id with m=19456, t=2, p=1', async () => {
    const client = new Client({ connectionString: t.db.url });
    await client.connect();
    const { rows } = await client.query(`SELECT password_hash, totp_secret FROM app_user WHERE email_normalized = $1`, [TEST_ADMIN.email]);
    await client.end();
    const hash: string = rows[0].password_hash;
    expect(hash).toMatch(/^\$argon2id\$v=19\$/);
    const params = Object.fromEntries(hash.split('$')[3].split(',').map((kv) => kv.split('=')));
    expect(params).toEqual({ m: '19456', t: '2', p: '1' });
    expect(rows[0].totp_secret).toMatch(/^e1\./);
    expect(rows[0].totp_secret).not.toContain(admin.secret);
  });

  it('refuses a replayed TOTP code and codes two steps away', async () => {
    const user = await createStaff(t, admin, 'ANALYST');
    // The enrollment just used a code; presenting it again must fail.
    const again = await challengeFor(user);
    const replay = await t.gql(VERIFY, { c: again, code: lastUsedCode(user.secret) });
    expect(code(replay)).toBe('BAD_USER_INPUT');
    expect(reason(replay)).toBe('INVALID_CODE');
    for (const offset of [-2, 2]) {
      const far = await t.gql(VERIFY, { c: again, code: codeAt(user.secret, offset) });
      expect(reason(far)).toBe('INVALID_CODE');
    }
    // The challenge survived the wrong codes and still accepts a fresh one.
    const ok = await t.gql(VERIFY, { c: again, code: await freshCode(user.secret) });
    expect(ok.errors).toBeUndefined();
  });

  it('refuses 60 aliased verifyTotp calls in one request before executing any; the challenge stays usable', async () => {
    const user = await createStaff(t, admin, 'AUDITOR');
    const challenge = await challengeFor(user);
    const aliases = Array.from({ length: 60 }, (_, i) => `a${i}: verifyTotp(challengeToken: $c, code: "${String(i).padStart(6, '0')}") { accessToken }`).join(' ');
    const res = await t.gql(`mutation($c: String!) { ${aliases} }`, { c: challenge });
    expect(res.errors).toHaveLength(1);
    expect(code(res)).toBe('QUERY_TOO_COMPLEX');
    const two = await t.gql('mutation($c: String!, $x: String!) { a: verifyTotp(challengeToken: $c, code: $x) { accessToken } ...F } fragment F on Mutation { b: verifyTotp(challengeToken: $c, code: $x) { accessToken } }', { c: challenge, x: '000000' });
    expect(code(two)).toBe('QUERY_TOO_COMPLEX');
    const ok = await t.gql(VERIFY, { c: challenge, code: await freshCode(user.secret) });
    expect(ok.errors).toBeUndefined();
  });

  it('refuses any two sign-in operations in one request, enrolment and refresh included, before executing either', async () => {
    const user = await createStaff(t, admin, 'AUDITOR');
    const challenge = await challengeFor(user);
    for (const doc of [
      'mutation($c: String!) { a: completeTotpEnrollment(challengeToken: $c, code: "000000") { accessToken } b: completeTotpEnrollment(challengeToken: $c, code: "111111") { accessToken } }',
      'mutation($c: String!) { a: refreshSession(refreshToken: $c) { accessToken } b: refreshSession(refreshToken: $c) { accessToken } }',
      'mutation($c: String!) { login(input: {email: "a@b.test", password: "whatever-long-pass"}) { next } completePasswordChange(challengeToken: $c, newPassword: "another-long-password") { next } }',
      'mutation($c: String!) { verifyTotp(challengeToken: $c, code: "000000") { accessToken } stepUp(code: "000000") { expiresAt } }',
    ]) {
      const res = await t.gql(doc, { c: challenge });
      expect([doc, res.errors?.length, code(res)]).toEqual([doc, 1, 'QUERY_TOO_COMPLEX']);
    }
    // Nothing ran: the challenge still takes its first code.
    expect((await t.gql(VERIFY, { c: challenge, code: await freshCode(user.secret) })).errors).toBeUndefined();
  });

  it('kills a challenge after 5 wrong codes', async () => {
    const user = await createStaff(t, admin, 'AGENT');
    const challenge = await challengeFor(user);
    for (let i = 0; i < 5; i++) expect(reason(await t.gql(VERIFY, { c: challenge, code: '000000' }))).toBe('INVALID_CODE');
    const dead = await t.gql(VERIFY, { c: challenge, code: await freshCode(user.secret) });
    expect(dead.errors?.[0].extensions).toMatchObject({ code: 'UNAUTHENTICATED', reason: 'CHALLENGE_EXPIRED' });
  });

  it('accepts each recovery code once', async () => {
    const user = await createStaff(t, admin, 'ACCOUNT_MANAGER');
    const use = async (rc: string) => t.gql('mutation($c: String!, $r: String!) { useRecoveryCode(challengeToken: $c, recoveryCode: $r) { accessToken } }', { c: await challengeFor(user), r: rc });
    const first = await use(user.recoveryCodes[0].toUpperCase());
    expect(first.errors).toBeUndefined();
    const second = await use(user.recoveryCodes[0]);
    expect(second.errors?.[0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', reason: 'INVALID_CODE' });
  });

  it('locks the account for 15 minutes after 10 failures, unknown addresses included', async () => {
    const user = await createStaff(t, admin, 'COMPLIANCE_OFFICER');
    for (let i = 0; i < 10; i++) {
      const res = await t.gql(LOGIN, { email: user.email, password: `wrong-password-${i}-xx` });
      expect(code(res)).toBe('UNAUTHENTICATED');
    }
    const locked = await t.gql(LOGIN, { email: user.email, password: user.password });
    expect(code(locked)).toBe('RATE_LIMITED');
    expect(locked.errors?.[0].extensions?.retryAfterSeconds).toBeGreaterThan(14 * 60);
    for (let i = 0; i < 10; i++) await t.gql(LOGIN, { email: 'ghost@custos.test', password: `wrong-password-${i}-xx` });
    expect(code(await t.gql(LOGIN, { email: ' Ghost@Custos.test ', password: 'anything-long-enough' }))).toBe('RATE_LIMITED');
    // Other accounts are unaffected.
    expect((await t.gql(LOGIN, { email: admin.email, password: admin.password })).errors).toBeUndefined();
  });

  it('step-up accepts a fresh TOTP code once and sets a 10-minute window', async () => {
    const user = await createStaff(t, admin, 'COMPLIANCE_OFFICER');
    const stepUp = 'mutation($code: String!) { stepUp(code: $code) { expiresAt } }';
    const good = await freshCode(user.secret);
    const res = await t.gql<{ stepUp: { expiresAt: string } }>(stepUp, { code: good }, { token: user.accessToken });
    const minutes = (new Date(res.data!.stepUp.expiresAt).getTime() - Date.now()) / 60_000;
    expect(minutes).toBeGreaterThan(9);
    expect(minutes).toBeLessThanOrEqual(10.1);
    expect(reason(await t.gql(stepUp, { code: good }, { token: user.accessToken }))).toBe('INVALID_CODE');
  });

  it('bounds parallel guesses: a challenge checks exactly 5 codes, an account takes exactly 10 failures', async () => {
    const user = await createStaff(t, admin, 'ANALYST');
    const challenge = await challengeFor(user);
    const guesses = await Promise.all(Array.from({ length: 20 }, (_, i) => t.gql(VERIFY, { c: challenge, code: String(100000 + i) })));
    // Each guess reserves one of the challenge's 5 attempts atomically before its code is checked: exactly 5 are
    // checked (and fail), the 15 others find the challenge dead.
    const outcomes = guesses.map((r) => `${code(r)}/${reason(r)}`);
    expect(outcomes.filter((o) => o === 'BAD_USER_INPUT/INVALID_CODE')).toHaveLength(5);
    expect(outcomes.filter((o) => o === 'UNAUTHENTICATED/CHALLENGE_EXPIRED')).toHaveLength(15);
    const client = new Client({ connectionString: t.db.url });
    await client.connect();
    try {
      // Exactly the 5 checked codes count as failures (audited); dead-challenge refusals are not.
      const { rows } = await client.query(`SELECT count(*)::int AS n FROM audit_entry WHERE action = 'auth.totp_verify' AND outcome = 'DENIED' AND resource_id = $1`, [user.userId]);
      expect(rows[0].n).toBe(5);
      const failures = await client.query(`SELECT failed_attempts FROM sign_in_challenge WHERE user_id = $1 AND next = 'TOTP_REQUIRED'`, [user.userId]);
      expect(failures.rows).toEqual([{ failed_attempts: 5 }]);
    } finally {
      await client.end();
    }

    const other = await createStaff(t, admin, 'AGENT');
    const logins = await Promise.all(Array.from({ length: 25 }, (_, i) => t.gql(LOGIN, { email: other.email, password: `parallel-wrong-${i}-pw` })));
    expect(logins.filter((r) => code(r) === 'UNAUTHENTICATED').length).toBe(10);
    expect(logins.filter((r) => code(r) === 'RATE_LIMITED').length).toBe(15);
  });

  it('a second challenge opened before a step completed dies with it', async () => {
    const email = 'stale@custos.test';
    await gqlOk(t.gql, 'mutation($i: CreateUserInput!) { createUser(input: $i) { id } }', { i: { email, displayName: 'Stale', role: 'AGENT', initialPassword: 'stale-initial-pass-1' } }, admin.accessToken);
    const a = (await gqlOk<{ login: { challengeToken: string } }>(t.gql, LOGIN, { email, password: 'stale-initial-pass-1' })).login.challengeToken;
    const b = (await gqlOk<{ login: { challengeToken: string } }>(t.gql, LOGIN, { email, password: 'stale-initial-pass-1' })).login.challengeToken;
    const changeDoc = 'mutation($c: String!, $p: String!) { completePasswordChange(challengeToken: $c, newPassword: $p) { next } }';
    expect((await t.gql(changeDoc, { c: a, p: 'chosen-by-the-user-1' })).errors).toBeUndefined();
    const hijack = await t.gql(changeDoc, { c: b, p: 'chosen-by-an-attacker' });
    expect(hijack.errors?.[0].extensions).toMatchObject({ code: 'UNAUTHENTICATED', reason: 'CHALLENGE_EXPIRED' });
    expect((await t.gql(LOGIN, { email, password: 'chosen-by-the-user-1' })).errors).toBeUndefined();
  });

  it('a wrong current password in changePassword counts toward the lockout', async () => {
    const user = await createStaff(t, admin, 'ANALYST');
    const change = 'mutation($c: String!) { changePassword(currentPassword: $c, newPassword: "another-long-passphrase") }';
    for (let i = 0; i < 10; i++) expect(code(await t.gql(change, { c: `guess-number-${i}-xx` }, { token: user.accessToken }))).toBe('BAD_USER_INPUT');
    expect(code(await t.gql(change, { c: user.password }, { token: user.accessToken }))).toBe('RATE_LIMITED');
    expect(code(await t.gql(LOGIN, { email: user.email, password: user.password }))).toBe('RATE_LIMITED');
    // Every refusal is on the record, the one for the locked account included (RATE_LIMITED leaves no mutation.failed entry).
    const sql = new Client({ connectionString: t.db.url });
    await sql.connect();
    try {
      const { rows } = await sql.query(
        `SELECT details->>'reason' AS reason, count(*)::int AS n FROM (SELECT details FROM audit_entry WHERE action = 'user.change_password' AND outcome = 'DENIED' AND resource_id = $1
           UNION ALL SELECT details FROM audit_entry_pending WHERE action = 'user.change_password' AND outcome = 'DENIED' AND resource_id = $1) x GROUP BY 1 ORDER BY 1`,
        [user.userId],
      );
      expect(rows).toEqual([{ reason: 'account_locked', n: 1 }, { reason: 'wrong_current_password', n: 10 }]);
    } finally {
      await sql.end();
    }
  });
});

describe('identity: one secret, one success, even in parallel', () => {
  let t: TestApp;
  let admin: SignedIn;
  let sql: Client;

  beforeAll(async () => ({ t, admin, sql } = await startAppWithAdmin()));
  afterAll(() => stopAppWithAdmin({ t, sql }));

  const RECOVER = 'mutation($c: String!, $r: String!) { useRecoveryCode(challengeToken: $c, recoveryCode: $r) { accessToken } }';
  const STEP_UP = 'mutation($code: String!) { stepUp(code: $code) { expiresAt } }';
  const outcome = (res: { errors?: Array<{ extensions?: Record<string, unknown> }> }) => (res.errors ? `${code(res)}/${reason(res) ?? ''}` : 'OK');
  const sessionCount = async (userId: string) => (await sql.query(`SELECT count(*)::int AS n FROM auth_session WHERE user_id = $1`, [userId])).rows[0].n as number;
  const challengeFor = async (user: SignedIn) => (await gqlOk<{ login: { challengeToken: string } }>(t.gql, LOGIN, { email: user.email, password: user.password })).login.challengeToken;

  it('one TOTP code on two challenges at once opens exactly one session; the other challenge dies', async () => {
    const user = await createStaff(t, admin, 'ANALYST');
    const challenges = [await challengeFor(user), await challengeFor(user)];
    const sessions = await sessionCount(user.userId);
    const totp = await freshCode(user.secret);
    const results = await Promise.all(challenges.map((c) => t.gql(VERIFY, { c, code: totp })));
    // Attempts on one account are serialised; the first to succeed retires the user's other open challenges.
    expect(results.map(outcome).sort()).toEqual(['OK', 'UNAUTHENTICATED/CHALLENGE_EXPIRED']);
    expect(await sessionCount(user.userId)).toBe(sessions + 1);
  });

  it('one TOTP code sent to stepUp from two sessions at once steps up exactly one of them', async () => {
    const user = await createStaff(t, admin, 'COMPLIANCE_OFFICER');
    // A second session without spending a TOTP step: a recovery code.
    const second = (await gqlOk<{ useRecoveryCode: { accessToken: string } }>(t.gql, RECOVER, { c: await challengeFor(user), r: user.recoveryCodes[0] })).useRecoveryCode.accessToken;
    const totp = await freshCode(user.secret);
    const results = await Promise.all([user.accessToken, second].map((token) => t.gql(STEP_UP, { code: totp }, { token })));
    expect(results.map(outcome).sort()).toEqual(['BAD_USER_INPUT/INVALID_CODE', 'OK']);
    const { rows } = await sql.query(`SELECT count(*) FILTER (WHERE step_up_until > now())::int AS stepped, count(*)::int AS n FROM auth_session WHERE user_id = $1`, [user.userId]);
    expect(rows[0]).toEqual({ stepped: 1, n: 2 });
    // The refused one counted as a wrong step-up code.
    const denied = await sql.query(`SELECT count(*)::int AS n FROM audit_entry WHERE action = 'auth.step_up' AND outcome = 'DENIED' AND resource_id = $1`, [user.userId]);
    expect(denied.rows[0].n).toBe(1);
  });

  it('one TOTP code sent to stepUp and verifyTotp at once is accepted by exactly one of them', async () => {
    const user = await createStaff(t, admin, 'COMPLIANCE_OFFICER');
    const challenge = await challengeFor(user);
    const sessions = await sessionCount(user.userId);
    const totp = await freshCode(user.secret);
    const [stepUp, verify] = await Promise.all([t.gql(STEP_UP, { code: totp }, { token: user.accessToken }), t.gql(VERIFY, { c: challenge, code: totp })]);
    expect([outcome(stepUp), outcome(verify)].sort()).toEqual(['BAD_USER_INPUT/INVALID_CODE', 'OK']);
    const { rows } = await sql.query(`SELECT count(*) FILTER (WHERE step_up_until > now())::int AS stepped, count(*)::int AS n FROM auth_session WHERE user_id = $1`, [user.userId]);
    expect(rows[0]).toEqual(outcome(stepUp) === 'OK' ? { stepped: 1, n: sessions } : { stepped: 0, n: sessions + 1 });
  });

  it('one recovery code on two challenges at once opens exactly one session and is used up', async () => {
    const user = await createStaff(t, admin, 'AGENT');
    const challenges = [await challengeFor(user), await challengeFor(user)];
    const sessions = await sessionCount(user.userId);
    const results = await Promise.all(challenges.map((c) => t.gql(RECOVER, { c, r: user.recoveryCodes[3] })));
    expect(results.map(outcome).sort()).toEqual(['OK', 'UNAUTHENTICATED/CHALLENGE_EXPIRED']);
    expect(await sessionCount(user.userId)).toBe(sessions + 1);
    const { rows } = await sql.query(`SELECT count(*) FILTER (WHERE used_at IS NOT NULL)::int AS used, count(*)::int AS n FROM recovery_code WHERE user_id = $1`, [user.userId]);
    expect(rows[0]).toEqual({ used: 1, n: 10 });
    // …and it does not work a second time.
    expect(outcome(await t.gql(RECOVER, { c: await challengeFor(user), r: user.recoveryCodes[3] }))).toBe('BAD_USER_INPUT/INVALID_CODE');
  });
});
