import { createHmac } from 'node:crypto';
import { startTestApp, type TestApp } from '../helpers/app';
import { createStaff, freshCode, gqlOk, LOGIN, signIn, signInAdmin, type SignedIn } from '../helpers/auth';

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

  it('a role change applies to the next request', async () => {
    const user = await createStaff(t, admin, 'AGENT');
    const roleChange = await t.gql('mutation($id: ID!) { updateUser(id: $id, input: {role: ANALYST}) { role } }', { id: user.userId }, { token: admin.accessToken });
    expect(roleChange.errors).toBeUndefined();
    // The role is read with the session on every request: the same token now acts as ANALYST.
    expect((await t.gql(ME, undefined, { token: user.accessToken })).data).toEqual({ me: { id: user.userId, role: 'ANALYST' } });
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
      expect(codeOf(res)).toBe('UNAUTHENTICATED');
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

  it('rate-limits sign-in operations per IP (60 a minute) with retryAfterSeconds', async () => {
    const ip = '192.0.2.77';
    let limited: { errors?: Array<{ extensions?: Record<string, unknown> }> } | undefined;
    for (let i = 0; i < 61 && !limited; i++) {
      const res = await t.gql(REFRESH, { r: `rt_probe_${i}` }, { ip });
      if (codeOf(res) === 'RATE_LIMITED') limited = res;
    }
    expect(limited).toBeDefined();
    expect(limited!.errors![0].extensions!.retryAfterSeconds).toBeGreaterThanOrEqual(1);
    // Another address is unaffected.
    expect(codeOf(await t.gql(REFRESH, { r: 'rt_probe' }, { ip: '192.0.2.78' }))).toBe('UNAUTHENTICATED');
  });

  // The per-IP failure threshold (100 in 15 minutes) is tested in identity-gaps.e2e-spec.ts with seeded failures.
});
