import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { createMongoAbility, type MongoAbility } from '@casl/ability';
import { unpackRules, type PackRule } from '@casl/ability/extra';
import type { INestApplication } from '@nestjs/common';
import * as argon2 from 'argon2';
import { Client } from 'pg';
import request from 'supertest';
import { createApp, initApp } from '../../src/app.factory';
import { ConfigError, loadConfig } from '../../src/config/config';
import { startTestApp, TEST_ADMIN, testSecrets, type TestApp } from '../helpers/app';
import { codeAt, createStaff, freshCode, gqlOk, LOGIN, signIn, signInAdmin, type SignedIn } from '../helpers/auth';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres';

type Res = { errors?: Array<{ extensions?: Record<string, unknown> }> };
const codeOf = (res: Res) => res.errors?.[0]?.extensions?.code;
const reasonOf = (res: Res) => res.errors?.[0]?.extensions?.reason;

const VERIFY = 'mutation($c: String!, $code: String!) { verifyTotp(challengeToken: $c, code: $code) { accessToken } }';
const RECOVER = 'mutation($c: String!, $r: String!) { useRecoveryCode(challengeToken: $c, recoveryCode: $r) { accessToken } }';
const STEP_UP = 'mutation($code: String!) { stepUp(code: $code) { expiresAt } }';
const CHANGE = 'mutation($c: String!, $p: String!) { completePasswordChange(challengeToken: $c, newPassword: $p) { challengeToken next expiresAt } }';
const CREATE_USER = 'mutation($i: CreateUserInput!) { createUser(input: $i) { id passwordChangeRequired mfaEnrolled } }';

/**
 * The next step's code, which the server would accept, without booking it in the helpers: for calls that must
 * be refused before the code is looked at (so a later `freshCode` need not wait for another 30 s step).
 */
const unusedCode = (secret: string) => codeAt(secret, 1);
/** A TOTP code far from the current step: always refused, never burns a step the user may still need. */
const wrongCode = (secret: string, i: number) => codeAt(secret, 10 + i);

describe('identity: sign-in flows as a user and an attacker see them (e2e)', () => {
  let t: TestApp;
  let sql: Client;
  let admin: SignedIn;

  beforeAll(async () => {
    t = await startTestApp();
    sql = new Client({ connectionString: t.db.url });
    await sql.connect();
    admin = await signInAdmin(t);
  });
  afterAll(async () => {
    await sql.end();
    await t.close();
  });

  async function challengeFor(user: { email: string; password: string }, next = 'TOTP_REQUIRED'): Promise<string> {
    const { login } = await gqlOk<{ login: { challengeToken: string; next: string } }>(t.gql, LOGIN, { email: user.email, password: user.password });
    expect(login.next).toBe(next);
    return login.challengeToken;
  }

  describe('lockout: every kind of wrong secret counts toward the same 10 in 15 minutes', () => {
    it('wrong recovery codes and wrong stepUp codes lock the account together with wrong passwords', async () => {
      const user = await createStaff(t, admin, 'COMPLIANCE_OFFICER');
      for (let i = 0; i < 3; i++) expect(reasonOf(await t.gql(LOGIN, { email: user.email, password: `not-the-password-${i}` }))).toBe('INVALID_CREDENTIALS');
      const challenge = await challengeFor(user);
      for (let i = 0; i < 3; i++) expect(reasonOf(await t.gql(RECOVER, { c: challenge, r: `abcd-efgh-00${i}0` }))).toBe('INVALID_CODE');
      for (let i = 0; i < 3; i++) {
        const res = await t.gql(STEP_UP, { code: wrongCode(user.secret, i) }, { token: user.accessToken });
        expect(res.errors?.[0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', reason: 'INVALID_CODE' });
      }
      // Nine failures: still under the limit, the right password opens a challenge.
      await challengeFor(user);
      expect(reasonOf(await t.gql(STEP_UP, { code: wrongCode(user.secret, 3) }, { token: user.accessToken }))).toBe('INVALID_CODE');

      // The tenth (a step-up code) locked the account: the right password, a right TOTP code and a right
      // recovery code are all refused with the lockout error, before any secret is checked.
      const locked = await t.gql(LOGIN, { email: user.email, password: user.password });
      expect(locked.errors?.[0].extensions).toMatchObject({ code: 'RATE_LIMITED' });
      expect(locked.errors![0].extensions!.retryAfterSeconds).toBeGreaterThan(14 * 60);
      expect(codeOf(await t.gql(STEP_UP, { code: await freshCode(user.secret) }, { token: user.accessToken }))).toBe('RATE_LIMITED');
      expect(codeOf(await t.gql(RECOVER, { c: challenge, r: user.recoveryCodes[0] }))).toBe('RATE_LIMITED');

      // Each failure was audited with its kind; the lockout entry names the kind that tipped it.
      const { rows } = await sql.query(
        `SELECT details->>'kind' AS kind, count(*)::int AS n FROM audit_entry
          WHERE resource_id = $1 AND outcome = 'DENIED' AND action <> 'auth.lockout' AND details ? 'kind' GROUP BY 1`,
        [user.userId],
      );
      expect(Object.fromEntries(rows.map((r: { kind: string; n: number }) => [r.kind, r.n]))).toEqual({ PASSWORD: 3, RECOVERY_CODE: 3, STEP_UP: 4 });
      const lockouts = await sql.query(`SELECT details FROM audit_entry WHERE action = 'auth.lockout' AND resource_id = $1`, [user.userId]);
      expect(lockouts.rows).toEqual([{ details: { kind: 'STEP_UP' } }]);
    });

    it('ten wrong recovery codes alone lock the account; the eleventh try with the right password is RATE_LIMITED', async () => {
      const user = await createStaff(t, admin, 'AGENT');
      for (let c = 0; c < 2; c++) {
        const challenge = await challengeFor(user);
        for (let i = 0; i < 5; i++) expect(reasonOf(await t.gql(RECOVER, { c: challenge, r: `zzzz-zzzz-${c}${i}zz` }))).toBe('INVALID_CODE');
      }
      const locked = await t.gql(LOGIN, { email: user.email, password: user.password });
      expect(codeOf(locked)).toBe('RATE_LIMITED');
      expect(locked.errors![0].extensions!.retryAfterSeconds).toBeGreaterThan(14 * 60);
    });

    it('ten wrong stepUp codes alone lock the account', async () => {
      const user = await createStaff(t, admin, 'COMPLIANCE_OFFICER');
      for (let i = 0; i < 10; i++) expect(reasonOf(await t.gql(STEP_UP, { code: wrongCode(user.secret, i) }, { token: user.accessToken }))).toBe('INVALID_CODE');
      expect(codeOf(await t.gql(STEP_UP, { code: await freshCode(user.secret) }, { token: user.accessToken }))).toBe('RATE_LIMITED');
      expect(codeOf(await t.gql(LOGIN, { email: user.email, password: user.password }))).toBe('RATE_LIMITED');
    });
  });

  describe('argon2 parameters rise: the hash is renewed on the next login', () => {
    const paramsOf = (hash: string) => Object.fromEntries(hash.split('$')[3].split(',').map((kv) => kv.split('=').map((v, i) => (i ? Number(v) : v))));
    const storedHash = async (userId: string) => (await sql.query(`SELECT password_hash FROM app_user WHERE id = $1`, [userId])).rows[0].password_hash as string;

    it('a hash made with m=8192, t=1 is replaced by one with the configured parameters, and sign-in still works', async () => {
      const user = await createStaff(t, admin, 'ANALYST');
      const weak = await argon2.hash(user.password, { type: argon2.argon2id, memoryCost: 8192, timeCost: 1, parallelism: 1 });
      await sql.query(`UPDATE app_user SET password_hash = $2 WHERE id = $1`, [user.userId, weak]);

      const challenge = await challengeFor(user);
      const renewed = await storedHash(user.userId);
      expect(renewed).not.toBe(weak);
      expect(renewed).toMatch(/^\$argon2id\$v=19\$/);
      const params = paramsOf(renewed);
      expect(params.m).toBeGreaterThanOrEqual(19456);
      expect(params.t).toBeGreaterThanOrEqual(2);
      expect(params.p).toBe(1);
      expect(await argon2.verify(renewed, user.password)).toBe(true);

      expect((await t.gql(VERIFY, { c: challenge, code: await freshCode(user.secret) })).errors).toBeUndefined();
      // A current hash is left alone on the next login; the password keeps working.
      await challengeFor(user);
      expect(await storedHash(user.userId)).toBe(renewed);
    });

    it('a wrong password does not rehash; an argon2i or p=2 hash is renewed too', async () => {
      const user = await createStaff(t, admin, 'AGENT');
      const weak = await argon2.hash(user.password, { type: argon2.argon2id, memoryCost: 8192, timeCost: 1, parallelism: 1 });
      await sql.query(`UPDATE app_user SET password_hash = $2 WHERE id = $1`, [user.userId, weak]);
      expect(reasonOf(await t.gql(LOGIN, { email: user.email, password: 'certainly-not-it-1' }))).toBe('INVALID_CREDENTIALS');
      expect(await storedHash(user.userId)).toBe(weak);

      for (const old of [
        await argon2.hash(user.password, { type: argon2.argon2i, memoryCost: 19456, timeCost: 2, parallelism: 1 }),
        await argon2.hash(user.password, { type: argon2.argon2id, memoryCost: 19456, timeCost: 2, parallelism: 2 }),
      ]) {
        await sql.query(`UPDATE app_user SET password_hash = $2 WHERE id = $1`, [user.userId, old]);
        await challengeFor(user);
        const renewed = await storedHash(user.userId);
        expect(renewed).toMatch(/^\$argon2id\$/);
        expect(paramsOf(renewed)).toMatchObject({ p: 1 });
      }
    });
  });

  describe('challenges die after 5 minutes or 5 wrong codes', () => {
    /** Moves a challenge's clock back: it was issued `seconds` earlier than it was. */
    const age = (userId: string, seconds: number) =>
      sql.query(
        `UPDATE sign_in_challenge SET created_at = created_at - make_interval(secs => $2), expires_at = expires_at - make_interval(secs => $2)
          WHERE user_id = $1 AND consumed_at IS NULL`,
        [userId, seconds],
      );

    it('login promises 5 minutes; just inside them the code works, past them the challenge is CHALLENGE_EXPIRED', async () => {
      const user = await createStaff(t, admin, 'ANALYST');
      const before = Date.now();
      const { login } = await gqlOk<{ login: { challengeToken: string; expiresAt: string } }>(t.gql, LOGIN, { email: user.email, password: user.password });
      const ttl = new Date(login.expiresAt).getTime() - before;
      expect(ttl).toBeGreaterThan(4.9 * 60_000);
      expect(ttl).toBeLessThanOrEqual(5 * 60_000 + 2_000);
      await age(user.userId, 4 * 60 + 40);
      expect((await t.gql(VERIFY, { c: login.challengeToken, code: await freshCode(user.secret) })).errors).toBeUndefined();

      const late = await challengeFor(user);
      await age(user.userId, 5 * 60 + 1);
      for (const res of [
        await t.gql(VERIFY, { c: late, code: unusedCode(user.secret) }),
        await t.gql(RECOVER, { c: late, r: user.recoveryCodes[0] }),
      ]) {
        expect(res.errors?.[0].extensions).toMatchObject({ code: 'UNAUTHENTICATED', reason: 'CHALLENGE_EXPIRED' });
        expect(res.data).toBeNull();
      }
      // The refused recovery code was not spent: it still opens a session from a live challenge.
      expect((await t.gql(RECOVER, { c: await challengeFor(user), r: user.recoveryCodes[0] })).errors).toBeUndefined();
    });

    it('expired password-change and enrollment challenges are CHALLENGE_EXPIRED too', async () => {
      const email = `expiring-${Date.now()}@custos.test`;
      const created = await gqlOk<{ createUser: { id: string } }>(t.gql, CREATE_USER, { i: { email, displayName: 'Expiring', role: 'AGENT', initialPassword: 'expiring-initial-pass-1' } }, admin.accessToken);
      const change = await challengeFor({ email, password: 'expiring-initial-pass-1' }, 'PASSWORD_CHANGE_REQUIRED');
      await age(created.createUser.id, 301);
      expect(reasonOf(await t.gql(CHANGE, { c: change, p: 'expiring-chosen-pass-1' }))).toBe('CHALLENGE_EXPIRED');

      const fresh = await gqlOk<{ completePasswordChange: { challengeToken: string; next: string } }>(t.gql, CHANGE, { c: await challengeFor({ email, password: 'expiring-initial-pass-1' }, 'PASSWORD_CHANGE_REQUIRED'), p: 'expiring-chosen-pass-1' });
      expect(fresh.completePasswordChange.next).toBe('ENROLLMENT_REQUIRED');
      const begun = await gqlOk<{ beginTotpEnrollment: { secret: string } }>(t.gql, 'mutation($c: String!) { beginTotpEnrollment(challengeToken: $c) { secret } }', { c: fresh.completePasswordChange.challengeToken });
      await age(created.createUser.id, 301);
      const late = await t.gql('mutation($c: String!, $code: String!) { completeTotpEnrollment(challengeToken: $c, code: $code) { accessToken } }', { c: fresh.completePasswordChange.challengeToken, code: await freshCode(begun.beginTotpEnrollment.secret) });
      expect(late.errors?.[0].extensions).toMatchObject({ code: 'UNAUTHENTICATED', reason: 'CHALLENGE_EXPIRED' });
    });

    it('five wrong codes, TOTP and recovery codes together, kill the challenge; the right code is then refused', async () => {
      const user = await createStaff(t, admin, 'AUDITOR');
      const challenge = await challengeFor(user);
      for (let i = 0; i < 3; i++) expect(reasonOf(await t.gql(VERIFY, { c: challenge, code: wrongCode(user.secret, i) }))).toBe('INVALID_CODE');
      for (let i = 0; i < 2; i++) expect(reasonOf(await t.gql(RECOVER, { c: challenge, r: `wxyz-wxyz-wx${i}z` }))).toBe('INVALID_CODE');
      expect(reasonOf(await t.gql(RECOVER, { c: challenge, r: user.recoveryCodes[1] }))).toBe('CHALLENGE_EXPIRED');
      expect(reasonOf(await t.gql(VERIFY, { c: challenge, code: unusedCode(user.secret) }))).toBe('CHALLENGE_EXPIRED');
      // A new login gives a new challenge (5 failures are under the account lockout).
      expect((await t.gql(VERIFY, { c: await challengeFor(user), code: await freshCode(user.secret) })).errors).toBeUndefined();
    });
  });

  describe('admin-set passwords must be replaced; the bootstrap admin is not forced', () => {
    it('resetUserPassword on an enrolled user: PASSWORD_CHANGE_REQUIRED → completePasswordChange → TOTP_REQUIRED with the same authenticator', async () => {
      const user = await createStaff(t, admin, 'ACCOUNT_MANAGER');
      const reset = await gqlOk<{ resetUserPassword: { passwordChangeRequired: boolean; mfaEnrolled: boolean } }>(t.gql, 'mutation($id: ID!) { resetUserPassword(id: $id, newPassword: "admin-chosen-reset-1") { passwordChangeRequired mfaEnrolled } }', { id: user.userId }, admin.accessToken);
      expect(reset.resetUserPassword).toEqual({ passwordChangeRequired: true, mfaEnrolled: true });
      expect(reasonOf(await t.gql(LOGIN, { email: user.email, password: user.password }))).toBe('INVALID_CREDENTIALS');

      const change = await challengeFor({ email: user.email, password: 'admin-chosen-reset-1' }, 'PASSWORD_CHANGE_REQUIRED');
      // No shortcut past the change: the challenge is not one for a TOTP code.
      expect(codeOf(await t.gql(VERIFY, { c: change, code: unusedCode(user.secret) }))).toBe('BAD_USER_INPUT');
      const next = await gqlOk<{ completePasswordChange: { challengeToken: string; next: string; expiresAt: string } }>(t.gql, CHANGE, { c: change, p: 'chosen-by-the-manager-1' });
      expect(next.completePasswordChange).toMatchObject({ next: 'TOTP_REQUIRED', challengeToken: expect.stringMatching(/^ch_/) });
      const session = await t.gql<{ verifyTotp: { accessToken: string } }>(VERIFY, { c: next.completePasswordChange.challengeToken, code: await freshCode(user.secret) });
      expect(session.errors).toBeUndefined();
      const me = await gqlOk<{ me: { passwordChangeRequired: boolean } }>(t.gql, '{ me { passwordChangeRequired } }', undefined, session.data!.verifyTotp.accessToken);
      expect(me.me.passwordChangeRequired).toBe(false);
      // Neither the admin-set password nor the old one works any more; the chosen one does, without a change.
      expect(reasonOf(await t.gql(LOGIN, { email: user.email, password: 'admin-chosen-reset-1' }))).toBe('INVALID_CREDENTIALS');
      await challengeFor({ email: user.email, password: 'chosen-by-the-manager-1' }, 'TOTP_REQUIRED');
    });

    it('a new user with an initialPassword: PASSWORD_CHANGE_REQUIRED → ENROLLMENT_REQUIRED; after resetUserMfa + resetUserPassword the same', async () => {
      const email = `newcomer-${Date.now()}@custos.test`;
      const created = await gqlOk<{ createUser: { id: string; passwordChangeRequired: boolean; mfaEnrolled: boolean } }>(t.gql, CREATE_USER, { i: { email, displayName: 'Newcomer', role: 'AGENT', initialPassword: 'newcomer-initial-pass' } }, admin.accessToken);
      expect(created.createUser).toMatchObject({ passwordChangeRequired: true, mfaEnrolled: false });
      const change = await challengeFor({ email, password: 'newcomer-initial-pass' }, 'PASSWORD_CHANGE_REQUIRED');
      const next = await gqlOk<{ completePasswordChange: { next: string } }>(t.gql, CHANGE, { c: change, p: 'newcomer-chosen-pass' });
      expect(next.completePasswordChange.next).toBe('ENROLLMENT_REQUIRED');
      const user = await signIn(t, email, 'newcomer-chosen-pass');

      await gqlOk(t.gql, 'mutation($id: ID!) { resetUserMfa(id: $id) { id } }', { id: user.userId }, admin.accessToken);
      await gqlOk(t.gql, 'mutation($id: ID!) { resetUserPassword(id: $id, newPassword: "second-admin-choice-1") { id } }', { id: user.userId }, admin.accessToken);
      const again = await challengeFor({ email, password: 'second-admin-choice-1' }, 'PASSWORD_CHANGE_REQUIRED');
      expect((await gqlOk<{ completePasswordChange: { next: string } }>(t.gql, CHANGE, { c: again, p: 'newcomer-second-choice' })).completePasswordChange.next).toBe('ENROLLMENT_REQUIRED');
    });

    it('the bootstrap admin (password from env) is asked for TOTP, not for a new password', async () => {
      const me = await gqlOk<{ me: { passwordChangeRequired: boolean } }>(t.gql, '{ me { passwordChangeRequired } }', undefined, admin.accessToken);
      expect(me.me.passwordChangeRequired).toBe(false);
      await challengeFor({ email: TEST_ADMIN.email, password: TEST_ADMIN.password }, 'TOTP_REQUIRED');
    });
  });

  describe('me { permissions }: the CASL rules a console can rebuild, per SPEC §4', () => {
    type Ability = MongoAbility;
    const abilityOf = async (user: SignedIn): Promise<Ability> => {
      const { me } = await gqlOk<{ me: { permissions: PackRule<never>[] } }>(t.gql, '{ me { permissions } }', undefined, user.accessToken);
      expect(Array.isArray(me.permissions)).toBe(true);
      return createMongoAbility(unpackRules(me.permissions));
    };
    const PII = ['fullName', 'email', 'phone', 'nationalId', 'dateOfBirth', 'address'];

    it('AUDITOR: the audit log, chain verification, export, security alerts and access reports; no customer PII, no customer writes', async () => {
      const a = await abilityOf(await createStaff(t, admin, 'AUDITOR'));
      for (const action of ['read', 'export', 'verify']) expect(a.can(action, 'AuditLog')).toBe(true);
      expect(a.can('read', 'SecurityAlert')).toBe(true);
      expect(a.can('read', 'AccessReport')).toBe(true);
      expect(a.can('read', 'Customer', 'id')).toBe(true);
      expect(a.can('read', 'Customer', 'externalRef')).toBe(true);
      for (const field of [...PII, 'riskScore', 'creditScore', 'transactionLimit']) {
        for (const action of ['read', 'readMasked', 'readAfterStepUp']) expect(a.can(action, 'Customer', field)).toBe(false);
      }
      expect(a.can('create', 'Customer')).toBe(false);
      expect(a.can('read', 'Alert')).toBe(false);
      expect(a.can('read', 'Event')).toBe(false);
      expect(a.can('manage', 'User')).toBe(false);
    });

    it('AGENT: customer writes and the SPEC mix of full and masked PII; no audit, no alerts or events', async () => {
      const a = await abilityOf(await createStaff(t, admin, 'AGENT'));
      expect(a.can('read', 'AuditLog')).toBe(false);
      expect(a.can('export', 'AuditLog')).toBe(false);
      expect(a.can('read', 'SecurityAlert')).toBe(false);
      expect(a.can('read', 'AccessReport')).toBe(false);
      expect(a.can('create', 'Customer')).toBe(true);
      expect(a.can('update', 'Customer')).toBe(true);
      expect(a.can('read', 'Customer', 'fullName')).toBe(true);
      for (const field of ['email', 'phone', 'nationalId']) {
        expect(a.can('read', 'Customer', field)).toBe(false);
        expect(a.can('readMasked', 'Customer', field)).toBe(true);
      }
      for (const field of ['dateOfBirth', 'address', 'riskScore', 'creditScore']) {
        for (const action of ['read', 'readMasked', 'readAfterStepUp']) expect(a.can(action, 'Customer', field)).toBe(false);
      }
      expect(a.can('read', 'Customer', 'riskLevel')).toBe(true);
      expect(a.can('read', 'Customer', 'transactionLimit')).toBe(true);
      for (const action of ['file', 'handle', 'read']) expect(a.can(action, 'Complaint')).toBe(true);
      expect(a.can('read', 'Alert')).toBe(false);
      expect(a.can('read', 'Event')).toBe(false);
      expect(a.can('erase', 'Customer')).toBe(false);
    });

    it('COMPLIANCE_OFFICER needs step-up for nationalId, dateOfBirth and address; ADMIN sees masks only and manages users', async () => {
      const co = await abilityOf(await createStaff(t, admin, 'COMPLIANCE_OFFICER'));
      for (const field of ['nationalId', 'dateOfBirth', 'address']) {
        expect(co.can('read', 'Customer', field)).toBe(false);
        expect(co.can('readAfterStepUp', 'Customer', field)).toBe(true);
      }
      expect(co.can('read', 'Customer', 'email')).toBe(true);
      expect(co.can('erase', 'Customer')).toBe(true);
      expect(co.can('read', 'AuditLog')).toBe(false);
      expect(co.can('read', 'AccessReport')).toBe(true);

      const ad = await abilityOf(admin);
      for (const subject of ['User', 'Partner', 'PartnerToken', 'Webhook']) expect(ad.can('manage', subject)).toBe(true);
      for (const field of ['fullName', 'email', 'phone']) {
        expect(ad.can('read', 'Customer', field)).toBe(false);
        expect(ad.can('readMasked', 'Customer', field)).toBe(true);
      }
      for (const field of ['nationalId', 'dateOfBirth', 'address']) expect(ad.can('readMasked', 'Customer', field) || ad.can('read', 'Customer', field)).toBe(false);
      expect(ad.can('read', 'AuditLog')).toBe(false);
      expect(ad.can('create', 'Customer')).toBe(false);
    });
  });
});

describe('identity: the bootstrap admin at start-up (e2e)', () => {
  const databases: TestDatabase[] = [];
  afterAll(async () => {
    for (const db of databases) await db.drop();
  });

  async function freshDatabase(): Promise<TestDatabase> {
    const db = await createTestDatabase();
    databases.push(db);
    return db;
  }

  /** Boots the app as `npm start` does (same factory) on `db`; a failed start is closed before rethrowing. */
  async function boot(db: TestDatabase, secrets: Record<string, string>, env: Record<string, string>): Promise<INestApplication> {
    const config = loadConfig({
      LOG_LEVEL: 'silent',
      DATA_DIR: `/tmp/${db.name}`,
      AUDIT_CHECKPOINT_PATH: `/tmp/${db.name}/audit-checkpoints.jsonl`,
      NOTIFY_TRANSPORT: `file:/tmp/${db.name}/notify.jsonl`,
      DATABASE_URL: db.url,
      ...secrets,
      ...env,
    });
    const app = await createApp(config, db.url);
    try {
      await initApp(app);
    } catch (error) {
      await app.close().catch(() => undefined);
      throw error;
    }
    return app;
  }

  /** What the app writes to stdout while `fn` runs (the dev credentials are printed there). */
  async function stdoutOf(fn: () => Promise<unknown>): Promise<string> {
    let out = '';
    const spy = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      out += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString();
      return true;
    });
    try {
      await fn();
    } finally {
      spy.mockRestore();
    }
    return out;
  }

  const login = (app: INestApplication, email: string, password: string) =>
    request(app.getHttpServer()).post('/graphql').send({ query: LOGIN, variables: { email, password } });

  it('production with no user and no BOOTSTRAP_ADMIN_* refuses to start with a one-line reason; nothing is created', async () => {
    const db = await freshDatabase();
    const secrets = testSecrets();
    let refused: unknown;
    await boot(db, secrets, { NODE_ENV: 'production' }).catch((error: unknown) => (refused = error));
    expect(refused).toBeInstanceOf(ConfigError);
    const message = (refused as Error).message;
    expect(message).toMatch(/BOOTSTRAP_ADMIN_EMAIL and BOOTSTRAP_ADMIN_PASSWORD/);
    expect(message).not.toContain('\n');
    // An e-mail without a password is not enough either.
    await expect(boot(db, secrets, { NODE_ENV: 'production', BOOTSTRAP_ADMIN_EMAIL: 'root@custos.test' })).rejects.toBeInstanceOf(ConfigError);
    const sql = new Client({ connectionString: db.url });
    await sql.connect();
    expect((await sql.query('SELECT count(*)::int AS n FROM app_user')).rows[0].n).toBe(0);
    await sql.end();

    // With the variables the first start creates the admin, and never prints the password; later starts
    // need no BOOTSTRAP_ADMIN_* (a user exists).
    const password = 'production-first-start-pw';
    let app!: INestApplication;
    const printed = await stdoutOf(async () => (app = await boot(db, secrets, { NODE_ENV: 'production', BOOTSTRAP_ADMIN_EMAIL: 'root@custos.test', BOOTSTRAP_ADMIN_PASSWORD: password })));
    expect(printed).not.toContain(password);
    await app.close();
    const again = await boot(db, secrets, { NODE_ENV: 'production' });
    const res = await login(again, 'root@custos.test', password);
    expect(res.body.data.login.next).toBe('ENROLLMENT_REQUIRED');
    await again.close();
  });

  it('npm start in production without them exits 1 with one line on stderr', async () => {
    const db = await freshDatabase();
    const child = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', 'src/main.ts'], {
      cwd: join(__dirname, '..', '..'),
      env: { PATH: process.env.PATH, NODE_ENV: 'production', PORT: '0', LOG_LEVEL: 'silent', DATABASE_URL: db.url, DATA_DIR: `/tmp/${db.name}`, AUDIT_CHECKPOINT_PATH: `/tmp/${db.name}/audit-checkpoints.jsonl`, ...testSecrets() },
    });
    let stderr = '';
    child.stderr!.on('data', (d) => (stderr += d));
    child.stdout!.resume();
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(code).toBe(1);
    expect(stderr).toBe('Custos cannot start: no user exists yet: set BOOTSTRAP_ADMIN_EMAIL and BOOTSTRAP_ADMIN_PASSWORD for the first start\n');
  }, 120_000);

  it('development with no BOOTSTRAP_ADMIN_* prints generated credentials once; they sign in without a forced change', async () => {
    const db = await freshDatabase();
    const secrets = testSecrets();
    let app!: INestApplication;
    const first = await stdoutOf(async () => (app = await boot(db, secrets, { NODE_ENV: 'development' })));
    const match = /Bootstrap admin created: (\S+) \/ (\S+)\n/.exec(first);
    expect(match).not.toBeNull();
    const [, email, password] = match!;
    expect(email).toBe('admin@custos.local');
    expect(password.length).toBeGreaterThanOrEqual(12);
    const res = await login(app, email, password);
    expect(res.body.errors).toBeUndefined();
    expect(res.body.data.login.next).toBe('ENROLLMENT_REQUIRED');
    await app.close();

    let second!: INestApplication;
    const later = await stdoutOf(async () => (second = await boot(db, secrets, { NODE_ENV: 'development' })));
    expect(later).not.toContain('Bootstrap admin');
    expect(later).not.toContain(password);
    expect((await login(second, email, password)).body.data.login.next).toBe('ENROLLMENT_REQUIRED');
    await second.close();
  });
});
