import { createHmac } from 'node:crypto';
import { Client } from 'pg';
import { EntityManager } from 'typeorm';
import { UserEntity } from '../../src/modules/identity/entities/user.entity';
import { startTestApp, type TestApp } from '../helpers/app';
import { lockWaiters } from '../helpers/postgres';
import { accessClaims, createStaff, freshCode, gqlOk, LOGIN, sessionIdOf, signIn, signInAdmin, signJwt, type SignedIn, startAppWithAdmin, stopAppWithAdmin } from '../helpers/auth';

const ME = '{ me { id role } }';
const REFRESH = 'mutation($r: String!) { refreshSession(refreshToken: $r) { accessToken refreshToken accessTokenExpiresAt user { id } } }';
const codeOf = (res: { errors?: Array<{ extensions?: Record<string, unknown> }> }) => res.errors?.[0]?.extensions?.code;

describe('identity: sessions', () => {
  let t: TestApp;
  let admin: SignedIn;

  beforeAll(async () => {
    t = await startTestApp();
    admin = await signInAdmin(t);
  });
  afterAll(() => t.close());

  it('access tokens live 15 minutes', async () => {
    const user = await createStaff(t, admin, 'ANALYST');
    const res = await t.gql<{ refreshSession: { accessTokenExpiresAt: string } }>(REFRESH, { r: user.refreshToken });
    const minutes = (new Date(res.data!.refreshSession.accessTokenExpiresAt).getTime() - Date.now()) / 60_000;
    expect(minutes).toBeGreaterThan(14);
    expect(minutes).toBeLessThanOrEqual(15);
  });

  describe('a credential\'s use and its audit entry commit together', () => {
    let sql: Client;
    beforeAll(async () => {
      sql = new Client({ connectionString: t.db.url });
      await sql.connect();
    });
    afterAll(() => sql.end());

    /** Runs `work` while no audit entry of `action` can be written, in or out of a transaction. */
    async function whileUnrecordable<T>(action: string, work: () => Promise<T>): Promise<T> {
      for (const table of ['audit_entry', 'audit_entry_pending']) await sql.query(`ALTER TABLE ${table} ADD CONSTRAINT test_unrecordable CHECK (action <> '${action}') NOT VALID`);
      try {
        return await work();
      } finally {
        for (const table of ['audit_entry', 'audit_entry_pending']) await sql.query(`ALTER TABLE ${table} DROP CONSTRAINT test_unrecordable`);
      }
    }

    it('a refresh whose entry cannot be written rotates nothing: the retry succeeds instead of counting as reuse', async () => {
      const user = await createStaff(t, admin, 'ANALYST');
      const failed = await whileUnrecordable('auth.session_refresh', () => t.gql(REFRESH, { r: user.refreshToken }));
      expect(failed.errors?.length).toBeGreaterThan(0);
      expect(codeOf(failed)).not.toBe('UNAUTHENTICATED');
      const retried = await gqlOk<{ refreshSession: { accessToken: string } }>(t.gql, REFRESH, { r: user.refreshToken });
      expect((await t.gql(ME, undefined, { token: retried.refreshSession.accessToken })).errors).toBeUndefined();
      const { rows } = await sql.query(`SELECT revoked_at FROM auth_session WHERE id = $1`, [sessionIdOf(user.accessToken)]);
      expect(rows).toEqual([{ revoked_at: null }]);
    });

    it('a refresh that fails after rotating leaves nothing half-done: the user is read in the rotation\'s transaction', async () => {
      const user = await createStaff(t, admin, 'ANALYST');
      // The user's read fails once (a timeout, a dropped connection): the rotation must roll back with it,
      // or the client's retry with the same token would be taken for theft and revoke the session.
      const original = EntityManager.prototype.findOneBy;
      let failed = false;
      const read = jest.spyOn(EntityManager.prototype, 'findOneBy').mockImplementation(function (this: EntityManager, ...args: Parameters<EntityManager['findOneBy']>) {
        if (!failed && args[0] === UserEntity) {
          failed = true;
          return Promise.reject(new Error('connection lost'));
        }
        return original.apply(this, args) as never;
      });
      let refused: Awaited<ReturnType<typeof t.gql>>;
      try {
        refused = await t.gql(REFRESH, { r: user.refreshToken });
      } finally {
        read.mockRestore();
      }
      expect(failed).toBe(true);
      expect(refused.errors?.length).toBeGreaterThan(0);
      const retried = await gqlOk<{ refreshSession: { accessToken: string; user: { id: string } } }>(t.gql, REFRESH, { r: user.refreshToken });
      expect(retried.refreshSession.user.id).toBe(user.userId);
      const { rows } = await sql.query(`SELECT revoked_at FROM auth_session WHERE id = $1`, [sessionIdOf(user.accessToken)]);
      expect(rows).toEqual([{ revoked_at: null }]);
    });

    it('a TOTP enrollment begun whose entry cannot be written keeps the secret begun before', async () => {
      const email = `enrol-${Date.now()}@custos.test`;
      await gqlOk(t.gql, 'mutation($i: CreateUserInput!) { createUser(input: $i) { id } }', { i: { email, displayName: 'Enrol', role: 'AGENT', initialPassword: 'initial-enrol-password-1' } }, admin.accessToken);
      const { login } = await gqlOk<{ login: { challengeToken: string } }>(t.gql, LOGIN, { email, password: 'initial-enrol-password-1' });
      const { completePasswordChange: enrol } = await gqlOk<{ completePasswordChange: { challengeToken: string; next: string } }>(
        t.gql, 'mutation($c: String!, $p: String!) { completePasswordChange(challengeToken: $c, newPassword: $p) { challengeToken next } }', { c: login.challengeToken, p: 'renewed-enrol-password-1' },
      );
      expect(enrol.next).toBe('ENROLLMENT_REQUIRED');
      const BEGIN = 'mutation($c: String!) { beginTotpEnrollment(challengeToken: $c) { secret } }';
      const { beginTotpEnrollment: first } = await gqlOk<{ beginTotpEnrollment: { secret: string } }>(t.gql, BEGIN, { c: enrol.challengeToken });
      const again = await whileUnrecordable('auth.totp_enrollment_begin', () => t.gql(BEGIN, { c: enrol.challengeToken }));
      expect(again.errors?.length).toBeGreaterThan(0);
      expect(again.data ?? null).toBeNull();
      // The secret the user already scanned still completes the enrollment: the refused begin replaced nothing.
      const done = await t.gql<{ completeTotpEnrollment: { user: { id: string } } }>(
        'mutation($c: String!, $code: String!) { completeTotpEnrollment(challengeToken: $c, code: $code) { user { id } } }', { c: enrol.challengeToken, code: await freshCode(first.secret) },
      );
      expect(done.errors).toBeUndefined();
      const { rows } = await sql.query(`SELECT count(*)::int AS n FROM audit_entry WHERE action = 'auth.totp_enrollment_begin' AND actor_id = $1 UNION ALL SELECT count(*)::int FROM audit_entry_pending WHERE action = 'auth.totp_enrollment_begin' AND actor_id = $1`, [done.data!.completeTotpEnrollment.user.id]);
      expect(rows.reduce((n, r) => n + (r.n as number), 0)).toBe(1);
    });

    it('a partner token\'s use whose entry cannot be written is not taken as recorded', async () => {
      const { partnerWithToken } = await import('../helpers/monitoring');
      const feed = await partnerWithToken(t, admin, 'INTERNAL');
      const probe = () => t.gql('{ customers(first: 1) { totalCount } }', undefined, { token: feed.token, ip: '198.51.100.77' });
      const failed = await whileUnrecordable('partner_token.use', probe);
      expect(failed.errors?.length).toBeGreaterThan(0);
      await probe();
      const uses = await sql.query(
        `SELECT ip FROM audit_entry WHERE action = 'partner_token.use' AND partner_id = $1 UNION ALL SELECT ip FROM audit_entry_pending WHERE action = 'partner_token.use' AND partner_id = $1`,
        [feed.id],
      );
      expect(uses.rows).toEqual([{ ip: '198.51.100.77' }]);
    });
  });

  it('rotates refresh tokens; reusing an old one revokes the whole session', async () => {
    const user = await createStaff(t, admin, 'ANALYST');
    const first = await gqlOk<{ refreshSession: { accessToken: string; refreshToken: string } }>(t.gql, REFRESH, { r: user.refreshToken });
    expect(first.refreshSession.refreshToken).not.toBe(user.refreshToken);
    expect((await t.gql(ME, undefined, { token: first.refreshSession.accessToken })).errors).toBeUndefined();
    const reuse = await t.gql(REFRESH, { r: user.refreshToken });
    expect(codeOf(reuse)).toBe('UNAUTHENTICATED');
    // The thief's reuse killed the session: the legitimate newer tokens die too.
    expect(codeOf(await t.gql(ME, undefined, { token: first.refreshSession.accessToken }))).toBe('UNAUTHENTICATED');
    expect(codeOf(await t.gql(REFRESH, { r: first.refreshSession.refreshToken }))).toBe('UNAUTHENTICATED');
    expect(codeOf(await t.gql(REFRESH, { r: 'rt_forged' }))).toBe('UNAUTHENTICATED');
  });

  it('logout takes effect on the very next request', async () => {
    const user = await createStaff(t, admin, 'AGENT');
    expect((await t.gql('mutation { logout }', undefined, { token: user.accessToken })).data).toEqual({ logout: true });
    expect(codeOf(await t.gql(ME, undefined, { token: user.accessToken }))).toBe('UNAUTHENTICATED');
    expect(codeOf(await t.gql(REFRESH, { r: user.refreshToken }))).toBe('UNAUTHENTICATED');
  });

  it('disabling a user ends their sessions at once and blocks sign-in', async () => {
    const user = await createStaff(t, admin, 'AGENT');
    await gqlOk(t.gql, 'mutation($id: ID!) { updateUser(id: $id, input: {disabled: true}) { id disabled } }', { id: user.userId }, admin.accessToken);
    expect(codeOf(await t.gql(ME, undefined, { token: user.accessToken }))).toBe('UNAUTHENTICATED');
    expect(codeOf(await t.gql(LOGIN, { email: user.email, password: user.password }))).toBe('UNAUTHENTICATED');
  });

  it('resetting MFA ends sessions and sends the user back to enrollment', async () => {
    const user = await createStaff(t, admin, 'AUDITOR');
    await gqlOk(t.gql, 'mutation($id: ID!) { resetUserMfa(id: $id) { id mfaEnrolled } }', { id: user.userId }, admin.accessToken);
    expect(codeOf(await t.gql(ME, undefined, { token: user.accessToken }))).toBe('UNAUTHENTICATED');
    const { login } = await gqlOk<{ login: { next: string } }>(t.gql, LOGIN, { email: user.email, password: user.password });
    expect(login.next).toBe('ENROLLMENT_REQUIRED');
    const again = await signIn(t, user.email, user.password);
    expect(again.secret).not.toBe(user.secret);
  });

  it('resetting a password forces a change at next sign-in and ends sessions', async () => {
    const user = await createStaff(t, admin, 'AGENT');
    await gqlOk(t.gql, 'mutation($id: ID!) { resetUserPassword(id: $id, newPassword: "temporary-reset-pass-9") { id } }', { id: user.userId }, admin.accessToken);
    expect(codeOf(await t.gql(ME, undefined, { token: user.accessToken }))).toBe('UNAUTHENTICATED');
    const { login } = await gqlOk<{ login: { next: string } }>(t.gql, LOGIN, { email: user.email, password: 'temporary-reset-pass-9' });
    expect(login.next).toBe('PASSWORD_CHANGE_REQUIRED');
  });

  it('a role change applies to the next request: the same access token gets the new role\'s rights', async () => {
    const user = await createStaff(t, admin, 'AGENT');
    const token = user.accessToken;
    const CREATE = 'mutation($r: String!) { createCustomer(input: {externalRef: $r}) { id } }';
    const ALERTS = '{ alerts { totalCount } }';
    // As AGENT: may create customers, may not read alerts.
    expect((await t.gql(CREATE, { r: 'role-change-before' }, { token })).errors).toBeUndefined();
    const alertsBefore = await t.gql(ALERTS, undefined, { token });
    expect([codeOf(alertsBefore), alertsBefore.data ?? null]).toEqual(['FORBIDDEN', null]);

    const roleChange = await t.gql('mutation($id: ID!) { updateUser(id: $id, input: {role: ANALYST}) { role } }', { id: user.userId }, { token: admin.accessToken });
    expect(roleChange.errors).toBeUndefined();
    // The role is read with the session on every request: the same token now acts as ANALYST.
    expect((await t.gql(ME, undefined, { token })).data).toEqual({ me: { id: user.userId, role: 'ANALYST' } });
    const createAfter = await t.gql(CREATE, { r: 'role-change-after' }, { token });
    expect([codeOf(createAfter), createAfter.data ?? null]).toEqual(['FORBIDDEN', null]);
    const alertsAfter = await t.gql<{ alerts: { totalCount: number } }>(ALERTS, undefined, { token });
    expect(alertsAfter.errors).toBeUndefined();
    expect(alertsAfter.data?.alerts.totalCount).toEqual(expect.any(Number));
    // The refused create left nothing behind.
    const refs = await gqlOk<{ customers: { nodes: Array<{ externalRef: string }> } }>(t.gql, '{ customers(first: 100) { nodes { externalRef } } }', undefined, admin.accessToken);
    expect(refs.customers.nodes.map((n) => n.externalRef).filter((r) => r.startsWith('role-change-'))).toEqual(['role-change-before']);
  });

  it('refuses alg=none, tampered and foreign-key tokens', async () => {
    const [header, payload, signature] = admin.accessToken.split('.');
    const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString());
    const none = `${b64({ alg: 'none', typ: 'JWT' })}.${payload}.`;
    const tampered = `${header}.${b64({ ...claims, sub: '00000000-0000-0000-0000-000000000000' })}.${signature}`;
    const foreignSig = createHmac('sha256', 'not-the-secret').update(`${header}.${payload}`).digest('base64url');
    const foreign = `${header}.${payload}.${foreignSig}`;
    for (const token of [none, tampered, foreign, 'garbage', `${header}.${payload}`]) {
      const res = await t.gql(ME, undefined, { token });
      expect([token, codeOf(res), res.data ?? null]).toEqual([token, 'UNAUTHENTICATED', null]);
    }
    const bad = await t.http().post('/graphql').set('authorization', 'Basic abc').send({ query: ME });
    expect(bad.body.errors[0].extensions.code).toBe('UNAUTHENTICATED');
  });

  it('changePassword needs the current password, refuses common ones and ends other sessions', async () => {
    const user = await createStaff(t, admin, 'ANALYST');
    const other = await signIn(t, user.email, user.password, user.secret);
    const change = 'mutation($c: String!, $n: String!) { changePassword(currentPassword: $c, newPassword: $n) }';
    const wrong = await t.gql(change, { c: 'not-my-password-0', n: 'a-brand-new-passphrase' }, { token: user.accessToken });
    expect(wrong.errors?.[0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', fieldErrors: [{ path: 'currentPassword', message: 'is incorrect' }] });
    const common = await t.gql(change, { c: user.password, n: 'qwerty123456' }, { token: user.accessToken });
    expect(common.errors?.[0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', fieldErrors: [{ path: 'newPassword', message: 'is too common' }] });
    const short = await t.gql(change, { c: user.password, n: 'short-pw' }, { token: user.accessToken });
    expect(short.errors?.[0].extensions).toMatchObject({ fieldErrors: [{ path: 'newPassword', message: 'must be at least 12 characters' }] });
    expect((await t.gql(change, { c: user.password, n: 'a-brand-new-passphrase' }, { token: user.accessToken })).data).toEqual({ changePassword: true });
    expect((await t.gql(ME, undefined, { token: user.accessToken })).errors).toBeUndefined();
    expect(codeOf(await t.gql(ME, undefined, { token: other.accessToken }))).toBe('UNAUTHENTICATED');
    const { login } = await gqlOk<{ login: { challengeToken: string } }>(t.gql, LOGIN, { email: user.email, password: 'a-brand-new-passphrase' });
    const v = await t.gql('mutation($c: String!, $x: String!) { verifyTotp(challengeToken: $c, code: $x) { accessToken } }', { c: login.challengeToken, x: await freshCode(user.secret) });
    expect(v.errors).toBeUndefined();
  });

  it('changePassword retires sign-ins begun with the old password: their challenges are CHALLENGE_EXPIRED', async () => {
    const user = await createStaff(t, admin, 'ANALYST');
    // Whoever learnt the old password has got past `login` twice and waits for a code.
    const opened = await Promise.all([0, 1].map(async () => (await gqlOk<{ login: { challengeToken: string; next: string } }>(t.gql, LOGIN, { email: user.email, password: user.password })).login));
    expect(opened.map((c) => c.next)).toEqual(['TOTP_REQUIRED', 'TOTP_REQUIRED']);
    const change = 'mutation($c: String!, $n: String!) { changePassword(currentPassword: $c, newPassword: $n) }';
    expect((await t.gql(change, { c: user.password, n: 'a-changed-passphrase-7' }, { token: user.accessToken })).data).toEqual({ changePassword: true });
    const viaTotp = await t.gql('mutation($c: String!, $x: String!) { verifyTotp(challengeToken: $c, code: $x) { accessToken } }', { c: opened[0].challengeToken, x: await freshCode(user.secret) });
    expect([viaTotp.errors?.[0].extensions, viaTotp.data ?? null]).toEqual([expect.objectContaining({ code: 'UNAUTHENTICATED', reason: 'CHALLENGE_EXPIRED' }), null]);
    const viaRecovery = await t.gql('mutation($c: String!, $r: String!) { useRecoveryCode(challengeToken: $c, recoveryCode: $r) { accessToken } }', { c: opened[1].challengeToken, r: user.recoveryCodes[0] });
    expect([viaRecovery.errors?.[0].extensions, viaRecovery.data ?? null]).toEqual([expect.objectContaining({ code: 'UNAUTHENTICATED', reason: 'CHALLENGE_EXPIRED' }), null]);
    // The user's own session goes on.
    expect((await t.gql(ME, undefined, { token: user.accessToken })).data).toEqual({ me: { id: user.userId, role: 'ANALYST' } });
  });

  it('an admin cannot disable or demote themself by spelling their own id in upper case', async () => {
    // A second ADMIN, so that "the last active ADMIN" is not what refuses.
    const self = await createStaff(t, admin, 'ADMIN');
    const UPDATE = 'mutation($id: ID!, $i: UpdateUserInput!) { updateUser(id: $id, input: $i) { id disabled role } }';
    const refusal = (res: { errors?: Array<{ message: string; extensions?: Record<string, unknown> }> }) => [res.errors?.[0]?.extensions?.code, res.errors?.[0]?.message];
    for (const i of [{ disabled: true }, { role: 'ANALYST' }]) {
      const lower = await t.gql(UPDATE, { id: self.userId, i }, { token: self.accessToken });
      const upper = await t.gql(UPDATE, { id: self.userId.toUpperCase(), i }, { token: self.accessToken });
      expect(refusal(lower)).toEqual(['CONFLICT', 'You cannot disable your own account or change your own role']);
      expect([refusal(upper), upper.data ?? null]).toEqual([refusal(lower), null]);
    }
    expect((await t.gql(ME, undefined, { token: self.accessToken })).data).toEqual({ me: { id: self.userId, role: 'ADMIN' } });
  });

  it('rate-limits sign-in operations per IP: exactly the configured 60 a minute run, the next is RATE_LIMITED with retryAfterSeconds', async () => {
    const limit = t.config.rateLimits.signInPerIp;
    expect(limit).toBe(60); // the SPEC default: the test app does not override it
    // The limiter weighs two fixed one-minute windows (aligned on the epoch minute). Start early in a window so
    // every attempt below falls into it: across a boundary the first window's weight fades and admits more.
    const intoWindow = Date.now() % 60_000;
    if (intoWindow > 40_000) await new Promise((r) => setTimeout(r, 60_000 - intoWindow + 200));
    const ip = '192.0.2.77';
    const outcomes: unknown[] = [];
    for (let i = 0; i < limit; i++) outcomes.push(codeOf(await t.gql(REFRESH, { r: `rt_probe_${i}` }, { ip })));
    // Each of the 60 ran (and was refused for its unknown token), none was rate-limited.
    expect(outcomes).toEqual(Array.from({ length: limit }, () => 'UNAUTHENTICATED'));
    const limited = await t.gql(REFRESH, { r: 'rt_probe_last' }, { ip });
    expect([codeOf(limited), limited.data ?? null]).toEqual(['RATE_LIMITED', null]);
    expect(limited.errors![0].extensions!.retryAfterSeconds).toBeGreaterThanOrEqual(1);
    expect(limited.errors![0].extensions!.retryAfterSeconds).toBeLessThanOrEqual(120);
    // Every sign-in operation shares the bucket: a login from that address is refused too, before any check.
    expect(codeOf(await t.gql(LOGIN, { email: admin.email, password: admin.password }, { ip }))).toBe('RATE_LIMITED');
    // Another address is unaffected.
    expect(codeOf(await t.gql(REFRESH, { r: 'rt_probe' }, { ip: '192.0.2.78' }))).toBe('UNAUTHENTICATED');
  });

  // The per-IP failure threshold (100 in 15 minutes) is tested in identity-gaps.e2e-spec.ts with seeded failures.
});

describe('identity: token lifetime, type and concurrency', () => {
  let t: TestApp;
  let admin: SignedIn;
  let sql: Client;

  beforeAll(async () => ({ t, admin, sql } = await startAppWithAdmin()));
  afterAll(() => stopAppWithAdmin({ t, sql }));

  const now = () => Math.floor(Date.now() / 1000);
  /** The user's access token re-issued with the app's own key: its claims, fresh times, then `overrides` (undefined drops a claim). */
  const forge = (user: SignedIn, overrides: Record<string, unknown> = {}) =>
    signJwt({ ...accessClaims(user.accessToken), iat: now(), exp: now() + 600, ...overrides }, t.config.keys.token);

  it('refuses a correctly signed access token that expired, is not of type access, or names another user\'s session', async () => {
    const user = await createStaff(t, admin, 'ANALYST');
    expect(accessClaims(user.accessToken)).toMatchObject({ sub: user.userId, typ: 'access', iss: 'custos', aud: 'custos-api' });
    // The forgery is faithful: the same claims, signed with the app's key, are accepted.
    expect((await t.gql(ME, undefined, { token: forge(user) })).data).toEqual({ me: { id: user.userId, role: 'ANALYST' } });
    const cases: Record<string, string> = {
      'expired a minute ago': forge(user, { iat: now() - 16 * 60, exp: now() - 60 }),
      'expired a second ago': forge(user, { iat: now() - 15 * 60, exp: now() - 1 }),
      'without exp': forge(user, { exp: undefined }),
      'typ refresh': forge(user, { typ: 'refresh' }),
      'typ challenge': forge(user, { typ: 'challenge' }),
      'typ partner': forge(user, { typ: 'partner' }),
      'without typ': forge(user, { typ: undefined }),
      'another issuer': forge(user, { iss: 'not-custos' }),
      'another audience': forge(user, { aud: 'custos-partners' }),
      "the admin's id on the analyst's session": forge(user, { sub: admin.userId }),
    };
    for (const [name, token] of Object.entries(cases)) {
      const res = await t.gql(ME, undefined, { token });
      expect([name, codeOf(res), res.data ?? null]).toEqual([name, 'UNAUTHENTICATED', null]);
    }
    // Refusing them revoked nothing.
    expect((await t.gql(ME, undefined, { token: user.accessToken })).errors).toBeUndefined();
  });

  it('a session ends 12 hours after sign-in, for me and refreshSession alike; refreshing does not extend it', async () => {
    const user = await createStaff(t, admin, 'AGENT');
    const sid = sessionIdOf(user.accessToken);
    const lifetime = async () => (await sql.query(`SELECT extract(epoch FROM expires_at - created_at)::int AS s, expires_at FROM auth_session WHERE id = $1`, [sid])).rows[0];
    const opened = await lifetime();
    expect(opened.s).toBe(12 * 3600);
    // Age the session as the clock would: sign-in time and absolute end move together.
    const age = (by: string) => sql.query(`UPDATE auth_session SET created_at = created_at - $2::interval, expires_at = expires_at - $2::interval WHERE id = $1`, [sid, by]);

    await age('11 hours 59 minutes');
    expect((await t.gql(ME, undefined, { token: user.accessToken })).errors).toBeUndefined();
    const refreshed = (await gqlOk<{ refreshSession: { accessToken: string; refreshToken: string } }>(t.gql, REFRESH, { r: user.refreshToken })).refreshSession;
    expect(sessionIdOf(refreshed.accessToken)).toBe(sid);
    expect((await lifetime()).expires_at).toEqual(new Date(opened.expires_at.getTime() - (11 * 60 + 59) * 60_000));

    await age('2 minutes'); // 12 h 1 min after sign-in; the new access token itself is minutes old
    expect(accessClaims(refreshed.accessToken).exp).toBeGreaterThan(now() + 10 * 60);
    for (const token of [refreshed.accessToken, user.accessToken, forge(user)]) {
      const res = await t.gql(ME, undefined, { token });
      expect([codeOf(res), res.data ?? null]).toEqual(['UNAUTHENTICATED', null]);
    }
    const refresh = await t.gql(REFRESH, { r: refreshed.refreshToken });
    expect([codeOf(refresh), refresh.data ?? null]).toEqual(['UNAUTHENTICATED', null]);
    // The refused refresh issued nothing: the session still has exactly the two tokens it had, one of them unused.
    const { rows } = await sql.query(`SELECT count(*)::int AS n, count(*) FILTER (WHERE used_at IS NULL)::int AS unused FROM refresh_token WHERE session_id = $1`, [sid]);
    expect(rows[0]).toEqual({ n: 2, unused: 1 });
  });

  it('refresh and challenge tokens are not bearer credentials, an access token is no refresh token; refusing them uses nothing up', async () => {
    const user = await createStaff(t, admin, 'ANALYST');
    const { login } = await gqlOk<{ login: { challengeToken: string } }>(t.gql, LOGIN, { email: user.email, password: user.password });
    for (const token of [user.refreshToken, login.challengeToken]) {
      const res = await t.gql(ME, undefined, { token });
      expect([token.slice(0, 3), codeOf(res), res.data ?? null]).toEqual([token.slice(0, 3), 'UNAUTHENTICATED', null]);
    }
    const asRefresh = await t.gql(REFRESH, { r: user.accessToken });
    expect([codeOf(asRefresh), asRefresh.data ?? null]).toEqual(['UNAUTHENTICATED', null]);
    // Nothing was spent or revoked: the access token, the refresh token and the challenge all still work.
    expect((await t.gql(ME, undefined, { token: user.accessToken })).data).toEqual({ me: { id: user.userId, role: 'ANALYST' } });
    expect((await t.gql(REFRESH, { r: user.refreshToken })).errors).toBeUndefined();
    const verified = await t.gql('mutation($c: String!, $x: String!) { verifyTotp(challengeToken: $c, code: $x) { accessToken } }', { c: login.challengeToken, x: await freshCode(user.secret) });
    expect(verified.errors).toBeUndefined();
  });

  it('two refreshSession calls with one refresh token at once: exactly one succeeds, the other is reuse and the session ends revoked', async () => {
    const user = await createStaff(t, admin, 'ANALYST');
    const sid = sessionIdOf(user.accessToken);
    // Hold the refresh token's row so both requests are inside refreshSession, waiting on it, before either runs.
    const side = new Client({ connectionString: t.db.url });
    await side.connect();
    let results: Awaited<ReturnType<typeof t.gql<{ refreshSession: { accessToken: string; refreshToken: string } }>>>[];
    try {
      await side.query('BEGIN');
      await side.query(`SELECT 1 FROM refresh_token WHERE session_id = $1 FOR UPDATE`, [sid]);
      const racing = [0, 1].map(() => t.gql<{ refreshSession: { accessToken: string; refreshToken: string } }>(REFRESH, { r: user.refreshToken }));
      const waiting = await lockWaiters(side, 2);
      await side.query('COMMIT');
      results = await Promise.all(racing);
      // Both really were in flight together (the answers say why not, should one never reach the lock).
      expect([waiting, results.map((r) => codeOf(r) ?? 'OK')]).toEqual([2, expect.any(Array)]);
    } finally {
      await side.end();
    }
    expect(results.map((r) => codeOf(r) ?? 'OK').sort()).toEqual(['OK', 'UNAUTHENTICATED']);
    const winner = results.find((r) => !r.errors)!.data!.refreshSession;
    // The reuse revoked the session: the winner's brand-new tokens are dead too.
    expect(codeOf(await t.gql(ME, undefined, { token: winner.accessToken }))).toBe('UNAUTHENTICATED');
    expect(codeOf(await t.gql(REFRESH, { r: winner.refreshToken }))).toBe('UNAUTHENTICATED');
    expect(codeOf(await t.gql(ME, undefined, { token: user.accessToken }))).toBe('UNAUTHENTICATED');
    const { rows } = await sql.query(`SELECT revoked_at IS NOT NULL AS revoked, revoke_reason FROM auth_session WHERE id = $1`, [sid]);
    expect(rows).toEqual([{ revoked: true, revoke_reason: 'REFRESH_TOKEN_REUSE' }]);
    // Audited as one refresh and one reuse (the later refusals of the dead tokens are ordinary DENIED refreshes).
    const audit = await sql.query(`SELECT action, outcome, details->>'reason' AS reason FROM audit_entry WHERE resource_id = $1 AND action IN ('auth.session_refresh', 'auth.refresh_token_reuse') ORDER BY action, outcome`, [sid]);
    expect(audit.rows).toEqual([
      { action: 'auth.refresh_token_reuse', outcome: 'DENIED', reason: 'reuse' },
      { action: 'auth.session_refresh', outcome: 'DENIED', reason: 'dead' },
      { action: 'auth.session_refresh', outcome: 'SUCCESS', reason: null },
    ]);
  });
});
