import { Client } from 'pg';
import { startTestApp, TEST_ADMIN, type TestApp } from '../helpers/app';
import { createStaff, gqlOk, LOGIN, signInAdmin, type SignedIn } from '../helpers/auth';
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
}

/** What identity records at sign-in, logout and partner token use (SPEC §5 "Recorded"), read back by SQL. */
describe('audit: what is recorded for sign-in, sessions and partner tokens', () => {
  let t: TestApp;
  let sql: Client;
  let admin: SignedIn;
  const entries = async (where: string, params: unknown[]): Promise<Row[]> =>
    (await sql.query(`SELECT action, outcome, actor_type, actor_id, session_id::text, request_id, ip, details FROM audit_entry WHERE ${where} ORDER BY id`, params)).rows as Row[];

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
    expect(signIns.length).toBeGreaterThan(0);
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
      const res = await t.gql(INGEST, { e: [{ idempotencyKey: newKey(), customerExternalRef: 'nobody-here', type: 'LOGIN', occurredAt: new Date().toISOString() }] }, { token: partner.token, ip });
      expect(res.status).toBe(200);
    }
    const writes = await entries(`actor_type = 'PARTNER' AND partner_id = $1 AND action <> 'partner_token.use'`, [partner.id]);
    expect(new Set(writes.map((w) => w.request_id)).size).toBeGreaterThanOrEqual(2);
    expect(await entries(`action = 'partner_token.use' AND partner_id = $1`, [partner.id])).toHaveLength(1);
  });
});
