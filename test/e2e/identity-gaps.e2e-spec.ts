import { Client } from 'pg';
import { keyedDigest } from '../../src/common/crypto/digest';
import { startTestApp, type TestApp } from '../helpers/app';
import { codeAt, createStaff, LOGIN, signInAdmin, type SignedIn } from '../helpers/auth';

const retryOf = (res: { errors?: Array<{ extensions?: Record<string, unknown> }> }) => res.errors?.[0]?.extensions?.retryAfterSeconds as number;

const codeOf = (res: { errors?: Array<{ extensions?: Record<string, unknown> }> }) => res.errors?.[0]?.extensions?.code;

describe('identity: per-IP failure threshold and unauthenticated denials (e2e)', () => {
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

  it('an IP with 100 failures in 15 minutes is refused even with the right password; the account is not locked', async () => {
    const ip = '198.51.100.9';
    await sql.query(
      `INSERT INTO sign_in_failure (email_normalized, ip, kind, occurred_at)
       SELECT 'spray-' || g, $1, 'PASSWORD', now() - interval '1 minute' FROM generate_series(1, 100) g`,
      [ip],
    );
    const throttled = await t.gql(LOGIN, { email: admin.email, password: admin.password }, { ip });
    expect(codeOf(throttled)).toBe('RATE_LIMITED');
    expect(throttled.errors![0].extensions!.retryAfterSeconds).toBeGreaterThanOrEqual(1);
    // The same account from another address: signs in, so it is not locked.
    const elsewhere = await t.gql<{ login: { next: string } }>(LOGIN, { email: admin.email, password: admin.password }, { ip: '198.51.100.200' });
    expect(elsewhere.errors).toBeUndefined();
    expect(elsewhere.data!.login.next).toBe('TOTP_REQUIRED');
    // 99 failures from an IP are under the threshold.
    const ip2 = '198.51.100.10';
    await sql.query(
      `INSERT INTO sign_in_failure (email_normalized, ip, kind, occurred_at)
       SELECT 'spray2-' || g, $1, 'PASSWORD', now() - interval '1 minute' FROM generate_series(1, 99) g`,
      [ip2],
    );
    expect((await t.gql(LOGIN, { email: admin.email, password: admin.password }, { ip: ip2 })).errors).toBeUndefined();
  });

  it('wrong TOTP codes count toward the 10-in-15 account lockout', async () => {
    const user = await createStaff(t, admin, 'ANALYST');
    const ip = '203.0.113.40';
    for (let c = 0; c < 2; c++) {
      const login = await t.gql<{ login: { challengeToken: string } }>(LOGIN, { email: user.email, password: user.password }, { ip });
      expect(login.errors).toBeUndefined();
      for (let i = 0; i < 5; i++) {
        const res = await t.gql('mutation($c: String!, $x: String!) { verifyTotp(challengeToken: $c, code: $x) { accessToken } }', { c: login.data!.login.challengeToken, x: codeAt(user.secret, 5 + i) }, { ip });
        expect(codeOf(res)).toBe('BAD_USER_INPUT');
      }
    }
    // Ten TOTP failures: the right password from a fresh address is now refused as a locked account.
    const locked = await t.gql(LOGIN, { email: user.email, password: user.password }, { ip: '203.0.113.41' });
    expect(codeOf(locked)).toBe('RATE_LIMITED');
    expect(locked.errors![0].extensions!.retryAfterSeconds).toBeGreaterThan(60);
  });

  it('an account lock lasts its full 15 minutes even when the failures behind it were spread over the window', async () => {
    const user = await createStaff(t, admin, 'AGENT');
    const account = keyedDigest(t.config.keys.token, 'sign-in-account', user.email.toLowerCase());
    // Nine failures almost 15 minutes ago; the tenth, now, locks the account.
    await sql.query(
      `INSERT INTO sign_in_failure (email_normalized, ip, kind, occurred_at)
       SELECT $1, '203.0.113.60', 'PASSWORD', now() - interval '14 minutes 50 seconds' FROM generate_series(1, 9)`,
      [account],
    );
    expect(codeOf(await t.gql(LOGIN, { email: user.email, password: 'the-tenth-wrong-guess' }))).toBe('UNAUTHENTICATED');
    expect(codeOf(await t.gql(LOGIN, { email: user.email, password: user.password }))).toBe('RATE_LIMITED');
    // Thirty seconds on (the clock moved back in the table): the nine early failures have left the 15-minute
    // window, but the lock the tenth set runs 15 minutes from it.
    const age = (interval: string) => sql.query(`UPDATE sign_in_failure SET occurred_at = occurred_at - $2::interval WHERE email_normalized = $1`, [account, interval]);
    await age('30 seconds');
    const still = await t.gql(LOGIN, { email: user.email, password: user.password });
    expect(codeOf(still)).toBe('RATE_LIMITED');
    expect(retryOf(still)).toBeGreaterThan(14 * 60 - 40);
    expect(retryOf(still)).toBeLessThanOrEqual(14 * 60 + 31);
    // Fifteen minutes after the tenth failure the account is open again.
    await age('14 minutes 31 seconds');
    expect((await t.gql(LOGIN, { email: user.email, password: user.password })).errors).toBeUndefined();
  });

  it('an IP throttle also lasts its full 15 minutes after the 100th failure', async () => {
    const ip = '198.51.100.77';
    await sql.query(
      `INSERT INTO sign_in_failure (email_normalized, ip, kind, occurred_at)
       SELECT 'early-' || g, $1, 'PASSWORD', now() - interval '14 minutes 50 seconds' FROM generate_series(1, 99) g`,
      [ip],
    );
    expect(codeOf(await t.gql(LOGIN, { email: 'late-guess@custos.test', password: 'the-100th-wrong-guess' }, { ip }))).toBe('UNAUTHENTICATED');
    expect(codeOf(await t.gql(LOGIN, { email: admin.email, password: admin.password }, { ip }))).toBe('RATE_LIMITED');
    await sql.query(`UPDATE sign_in_failure SET occurred_at = occurred_at - interval '30 seconds' WHERE ip = $1`, [ip]);
    const still = await t.gql(LOGIN, { email: admin.email, password: admin.password }, { ip });
    expect(codeOf(still)).toBe('RATE_LIMITED');
    expect(retryOf(still)).toBeGreaterThan(14 * 60 - 40);
  });

  it('records a denied access for a protected operation called with no credential', async () => {
    const res = await t.gql('query { me { id } }');
    expect(codeOf(res)).toBe('UNAUTHENTICATED');
    const { rows } = await sql.query(`SELECT action, outcome, resource_id, details FROM audit_entry WHERE outcome = 'DENIED' AND resource_id = 'me'`);
    expect(rows).toEqual([expect.objectContaining({ action: 'access.denied', outcome: 'DENIED', details: { reason: 'UNAUTHENTICATED' } })]);
  });
});
