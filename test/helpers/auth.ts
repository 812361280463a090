import { createHmac } from 'node:crypto';
import { generateSync } from 'otplib';
import { TotpCodes } from '../../src/modules/identity/auth/totp-codes';
import { Client } from 'pg';
import { startTestApp, TEST_ADMIN, type TestApp } from './app';

const codes = new TotpCodes();

/** A TOTP code the server has not seen yet for this secret (see `TotpCodes`). */
export function freshCode(secret: string): Promise<string> {
  return codes.fresh(secret);
}

/** The code of the last step a helper sent for this secret: the server must refuse it as a replay. */
export function lastUsedCode(secret: string): string {
  return codes.lastUsed(secret);
}

/** The code for the current step shifted by `offsetSteps` (no bookkeeping: for negative tests). */
export function codeAt(secret: string, offsetSteps = 0): string {
  return generateSync({ secret, epoch: Math.floor(Date.now() / 1000) + offsetSteps * 30 });
}

export interface SignedIn {
  userId: string;
  email: string;
  password: string;
  secret: string;
  accessToken: string;
  refreshToken: string;
  recoveryCodes: string[];
}

type Gql = TestApp['gql'];

async function ok<T>(gql: Gql, query: string, variables?: Record<string, unknown>, token?: string): Promise<T> {
  const res = await gql<T>(query, variables, { token });
  if (res.errors?.length || !res.data) throw new Error(`GraphQL error: ${JSON.stringify(res.errors ?? res.body)}`);
  return res.data;
}

export const LOGIN = 'mutation($email: String!, $password: String!) { login(input: {email: $email, password: $password}) { challengeToken next expiresAt } }';

/** The real sign-in flow: login → (password change) → TOTP enrollment or TOTP code → session. */
export async function signIn(t: TestApp, email: string, password: string, secret?: string): Promise<SignedIn> {
  let { login } = await ok<{ login: { challengeToken: string; next: string } }>(t.gql, LOGIN, { email, password });
  if (login.next === 'PASSWORD_CHANGE_REQUIRED') {
    password = `${password}-renewed`;
    const r = await ok<{ completePasswordChange: { challengeToken: string; next: string } }>(
      t.gql,
      'mutation($c: String!, $p: String!) { completePasswordChange(challengeToken: $c, newPassword: $p) { challengeToken next } }',
      { c: login.challengeToken, p: password },
    );
    login = r.completePasswordChange;
  }
  if (login.next === 'ENROLLMENT_REQUIRED') {
    const { beginTotpEnrollment } = await ok<{ beginTotpEnrollment: { secret: string } }>(
      t.gql,
      'mutation($c: String!) { beginTotpEnrollment(challengeToken: $c) { secret otpauthUri } }',
      { c: login.challengeToken },
    );
    secret = beginTotpEnrollment.secret;
    const { completeTotpEnrollment: s } = await ok<{ completeTotpEnrollment: { accessToken: string; refreshToken: string; recoveryCodes: string[]; user: { id: string } } }>(
      t.gql,
      'mutation($c: String!, $code: String!) { completeTotpEnrollment(challengeToken: $c, code: $code) { accessToken refreshToken recoveryCodes user { id } } }',
      { c: login.challengeToken, code: await freshCode(secret) },
    );
    return { userId: s.user.id, email, password, secret, accessToken: s.accessToken, refreshToken: s.refreshToken, recoveryCodes: s.recoveryCodes };
  }
  if (!secret) throw new Error('user already enrolled: pass the TOTP secret');
  const { verifyTotp: s } = await ok<{ verifyTotp: { accessToken: string; refreshToken: string; user: { id: string } } }>(
    t.gql,
    'mutation($c: String!, $code: String!) { verifyTotp(challengeToken: $c, code: $code) { accessToken refreshToken user { id } } }',
    { c: login.challengeToken, code: await freshCode(secret) },
  );
  return { userId: s.user.id, email, password, secret, accessToken: s.accessToken, refreshToken: s.refreshToken, recoveryCodes: [] };
}

export function signInAdmin(t: TestApp): Promise<SignedIn> {
  return signIn(t, TEST_ADMIN.email, TEST_ADMIN.password);
}

let userCounter = 0;

/** Creates a staff user of `role` through the API (as admin) and signs them in. */
export async function createStaff(t: TestApp, admin: SignedIn, role: string): Promise<SignedIn> {
  const email = `${role.toLowerCase()}-${++userCounter}-${Date.now()}@custos.test`;
  const password = `initial-${role.toLowerCase()}-password-${userCounter}`;
  await ok(t.gql, 'mutation($i: CreateUserInput!) { createUser(input: $i) { id } }', { i: { email, displayName: role, role, initialPassword: password } }, admin.accessToken);
  return signIn(t, email, password);
}

export { ok as gqlOk };

/** The claims of a staff access token, read without verifying it: `sid` names its `auth_session` row. */
export function accessClaims(accessToken: string): { sub: string; sid: string; typ: string; iss: string; aud: string; iat: number; exp: number } {
  return JSON.parse(Buffer.from(accessToken.split('.')[1], 'base64url').toString());
}

/** The id of the `auth_session` row an access token names. */
export function sessionIdOf(accessToken: string): string {
  return accessClaims(accessToken).sid;
}

/**
 * An HS256 JWT over exactly `claims` (keys whose value is undefined are left out), signed with `key`, e.g. the
 * app's own `t.config.keys.token`: for tests that forge tokens the signature check cannot refuse.
 */
export function signJwt(claims: Record<string, unknown>, key: Buffer | string): string {
  const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const body = Object.fromEntries(Object.entries(claims).filter(([, v]) => v !== undefined));
  const unsigned = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64(body)}`;
  return `${unsigned}.${createHmac('sha256', key).update(unsigned).digest('base64url')}`;
}

/** A suite's usual fixture: an app on a database of its own, its signed-in bootstrap admin, a SQL client on that database. */
export interface AppWithAdmin {
  t: TestApp;
  admin: SignedIn;
  sql: Client;
}

export async function startAppWithAdmin(): Promise<AppWithAdmin> {
  const t = await startTestApp();
  const admin = await signInAdmin(t);
  const sql = new Client({ connectionString: t.db.url });
  await sql.connect();
  return { t, admin, sql };
}

export async function stopAppWithAdmin({ t, sql }: Pick<AppWithAdmin, 't' | 'sql'>): Promise<void> {
  await sql.end();
  await t.close();
}
