import { randomUUID } from 'node:crypto';
import { Client } from 'pg';
import type { AuditRecord } from '../../src/common/audit/audit-sink';
import { AuditWriter } from '../../src/modules/audit/audit-writer.service';
import { securityAlertSettings } from '../../src/modules/audit/audit.settings';
import { SecurityAlertDetector } from '../../src/modules/audit/security-alerts/security-alert-detector.service';
import { startTestApp, testSecrets, type TestApp } from '../helpers/app';
import { loadConfig } from '../../src/config/config';
import { createStaff, gqlOk, signInAdmin, type SignedIn } from '../helpers/auth';
import { newKey, partnerWithToken } from '../helpers/monitoring';
import { sentMessages } from '../helpers/notify';

const ALERTS = `query($f: SecurityAlertsFilter) { securityAlerts(filter: $f, first: 100) { totalCount nodes { id kind actorType actor partner detail status } } }`;
const waitFor = async (check: () => Promise<boolean>, timeoutMs = 5000): Promise<void> => {
  for (const until = Date.now() + timeoutMs; !(await check()); ) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 25));
  }
};
const future = (days: number) => new Date(Date.now() + days * 86_400_000).toISOString();

interface Alert {
  id: string;
  kind: string;
  actorType: string | null;
  actor: string | null;
  partner: string | null;
  detail: Record<string, unknown>;
  status: string;
}

describe('audit: security alerts fire at their thresholds and not below', () => {
  let t: TestApp;
  let admin: SignedIn;
  let auditor: SignedIn;
  let writer: AuditWriter;
  let detector: SecurityAlertDetector;
  let sql: Client;

  const alerts = async (kind: string, actor?: string): Promise<Alert[]> => {
    const { securityAlerts } = await gqlOk<{ securityAlerts: { nodes: Alert[] } }>(t.gql, ALERTS, { f: { kind } }, auditor.accessToken);
    return securityAlerts.nodes.filter((a) => actor === undefined || a.actor === actor);
  };
  /** What the detector sees after everything written so far. */
  const detect = () => detector.runOnce();

  beforeAll(async () => {
    t = await startTestApp();
    sql = new Client({ connectionString: t.db.url });
    await sql.connect();
    admin = await signInAdmin(t);
    auditor = await createStaff(t, admin, 'AUDITOR');
    writer = t.app.get(AuditWriter);
    detector = t.app.get(SecurityAlertDetector);
  });
  afterAll(async () => {
    await sql?.end();
    await t?.close();
  });

  it('keeps its thresholds in one place, with the SPEC values as defaults', () => {
    expect(securityAlertSettings(t.config).piiReadSpike).toMatchObject({ distinctCustomers: 50, windowMs: 3_600_000, fields: ['email', 'phone', 'nationalId', 'dateOfBirth', 'address'] });
    expect(securityAlertSettings(t.config).deniedBurst).toMatchObject({ requests: 10, windowMs: 600_000 });
  });

  describe('PII_READ_SPIKE: full-value reads of more than 50 distinct customers in an hour', () => {
    const reader = { type: 'USER' as const, id: randomUUID(), role: 'ACCOUNT_MANAGER' };
    const read = (customerId: string, fields: string[], actor: AuditRecord['actor'] = reader, outcome: AuditRecord['outcome'] = 'SUCCESS'): AuditRecord =>
      ({ action: 'customer.read_pii', outcome, resourceType: 'Customer', resourceId: customerId, customerId, fields, actor });
    const customers = Array.from({ length: 60 }, () => randomUUID());

    it('does not fire at 50 distinct customers, however many reads, nor for other fields or refused reads', async () => {
      await writer.recordMany(customers.slice(0, 50).map((c, i) => read(c, [securityAlertSettings(t.config).piiReadSpike.fields[i % 5]])));
      // Re-reading the same customers does not make them more distinct.
      await writer.recordMany(customers.slice(0, 50).map((c) => read(c, ['email', 'phone'])));
      // Fields outside the list (fullName) and DENIED reads do not count.
      await writer.recordMany(Array.from({ length: 20 }, () => read(randomUUID(), ['fullName'])));
      await writer.recordMany(Array.from({ length: 20 }, () => read(randomUUID(), ['email'], reader, 'DENIED')));
      await detect();
      expect(await alerts('PII_READ_SPIKE', reader.id)).toEqual([]);
    });

    it('fires once at the 51st distinct customer, and not again while it is open', async () => {
      await writer.record(read(customers[50], ['nationalId']));
      await detect();
      const [alert, ...more] = await alerts('PII_READ_SPIKE', reader.id);
      expect(more).toEqual([]);
      expect(alert).toMatchObject({ kind: 'PII_READ_SPIKE', actorType: 'USER', actor: reader.id, status: 'OPEN', detail: { distinctCustomers: 51, threshold: 50 } });
      await writer.recordMany(customers.slice(51).map((c) => read(c, ['address'])));
      await detect();
      expect(await alerts('PII_READ_SPIKE', reader.id)).toHaveLength(1);
    });

    it('counts per actor: 51 customers read by different actors raise nothing', async () => {
      const a = { type: 'USER' as const, id: randomUUID(), role: 'COMPLIANCE_OFFICER' };
      const b = { type: 'USER' as const, id: randomUUID(), role: 'COMPLIANCE_OFFICER' };
      await writer.recordMany(customers.slice(0, 30).map((c) => read(c, ['email'], a)));
      await writer.recordMany(customers.slice(30, 51).map((c) => read(c, ['email'], b)));
      await detect();
      expect(await alerts('PII_READ_SPIKE', a.id)).toEqual([]);
      expect(await alerts('PII_READ_SPIKE', b.id)).toEqual([]);
    });
  });

  describe('DENIED_BURST: 10 denied requests by one actor within 10 minutes', () => {
    let analyst: SignedIn;
    const forbidden = (query = '{ auditLog { totalCount } }') => t.gql(query, undefined, { token: analyst.accessToken });

    beforeAll(async () => {
      analyst = await createStaff(t, admin, 'ANALYST');
    });

    it('counts one per request: 9 requests with 11 denials raise nothing', async () => {
      const multi = await forbidden('{ a: auditLog { totalCount } b: auditLog { totalCount } c: securityAlerts { totalCount } }');
      expect(multi.errors?.[0].extensions?.code).toBe('FORBIDDEN');
      // graphql-js answers as soon as the first non-null root field fails; the guard's entries for the
      // sibling aliases land a moment later.
      await waitFor(async () => (await sql.query(`SELECT 1 FROM audit_entry WHERE actor_id = $1 AND outcome = 'DENIED'`, [analyst.userId])).rowCount === 3);
      for (let i = 0; i < 8; i++) expect((await forbidden()).errors?.[0].extensions?.code).toBe('FORBIDDEN');
      const { rows } = await sql.query(`SELECT count(*)::int AS n, count(DISTINCT request_id)::int AS requests FROM audit_entry WHERE actor_id = $1 AND outcome = 'DENIED'`, [analyst.userId]);
      expect(rows[0]).toEqual({ n: 11, requests: 9 });
      await detect();
      expect(await alerts('DENIED_BURST', analyst.userId)).toEqual([]);
    });

    it('fires at the 10th request, once', async () => {
      await forbidden();
      await detect();
      const found = await alerts('DENIED_BURST', analyst.userId);
      expect(found).toEqual([expect.objectContaining({ actorType: 'USER', actor: analyst.userId, status: 'OPEN', detail: expect.objectContaining({ deniedRequests: 10, threshold: 10 }) })]);
      await forbidden();
      await detect();
      expect(await alerts('DENIED_BURST', analyst.userId)).toHaveLength(1);
    });
  });

  describe('DENIED_BURST counts refusals raised inside services (one access.denied entry per request)', () => {
    let analyst: SignedIn;
    const byId = (query: string) => t.gql(query, { id: randomUUID() }, { token: analyst.accessToken });
    const denied = async (requestCount?: boolean) =>
      (await sql.query(`SELECT ${requestCount ? 'count(DISTINCT request_id)' : 'count(*)'}::int AS n FROM audit_entry WHERE actor_id = $1 AND outcome = 'DENIED'`, [analyst.userId])).rows[0].n as number;

    beforeAll(async () => {
      analyst = await createStaff(t, admin, 'ANALYST');
    });

    it('writes exactly one entry for a service-level NOT_FOUND, with codes and paths and no values', async () => {
      const res = await byId('query($id: ID!) { event(id: $id) { id } }');
      expect(res.errors?.[0].extensions?.code).toBe('NOT_FOUND');
      const { rows } = await sql.query(`SELECT action, outcome, actor_type, role, request_id, details FROM audit_entry WHERE actor_id = $1 AND outcome = 'DENIED'`, [analyst.userId]);
      expect(rows).toEqual([expect.objectContaining({ action: 'access.denied', outcome: 'DENIED', actor_type: 'USER', role: 'ANALYST', details: { reason: 'refused by service', errors: [{ code: 'NOT_FOUND', path: 'event' }] } })]);
      expect(rows[0].request_id).toEqual(expect.any(String));
    });

    it('writes one entry for a request with several refusals', async () => {
      const res = await t.gql('query($a: ID!, $b: ID!) { a: event(id: $a) { id } b: alert(id: $b) { id } }', { a: randomUUID(), b: randomUUID() }, { token: analyst.accessToken });
      expect(res.errors?.map((e) => e.extensions?.code)).toEqual(['NOT_FOUND', 'NOT_FOUND']);
      expect(await denied()).toBe(2);
      expect(await denied(true)).toBe(2);
    });

    it('a request with several fields refused by the field policy gets one entry (access.denied_fields), not two', async () => {
      const co = await createStaff(t, admin, 'COMPLIANCE_OFFICER');
      const id = (await gqlOk<{ createCustomer: { id: string } }>(t.gql, 'mutation($i: CreateCustomerInput!) { createCustomer(input: $i) { id } }', { i: { externalRef: `deny-${randomUUID()}`, transactionLimit: '1000.00', dailyLimit: '5000.00' } }, co.accessToken)).createCustomer.id;
      const res = await t.gql('query($id: ID!) { customer(id: $id) { id nationalId dateOfBirth address } }', { id }, { token: analyst.accessToken });
      expect(res.errors?.map((e) => e.extensions?.code)).toEqual(['FORBIDDEN', 'FORBIDDEN', 'FORBIDDEN']);
      const { rows } = await sql.query(`SELECT action, fields FROM audit_entry WHERE actor_id = $1 AND outcome = 'DENIED' AND request_id = (SELECT request_id FROM audit_entry WHERE actor_id = $1 AND outcome = 'DENIED' ORDER BY id DESC LIMIT 1)`, [analyst.userId]);
      expect(rows).toEqual([{ action: 'access.denied_fields', fields: ['Customer.address', 'Customer.dateOfBirth', 'Customer.nationalId'] }]);
    });

    it('does not add an entry when the guard already recorded the refusal', async () => {
      expect((await t.gql('{ auditLog { totalCount } }', undefined, { token: analyst.accessToken })).errors?.[0].extensions?.code).toBe('FORBIDDEN');
      expect(await denied()).toBe(4);
    });

    it('fires DENIED_BURST on service-level refusals alone at the 10th request', async () => {
      // 4 requests so far; 5 more make 9: below the threshold.
      for (let i = 0; i < 5; i++) expect((await byId('query($id: ID!) { alert(id: $id) { id } }')).errors?.[0].extensions?.code).toBe('NOT_FOUND');
      await detect();
      expect(await alerts('DENIED_BURST', analyst.userId)).toEqual([]);
      await byId('query($id: ID!) { event(id: $id) { id } }');
      await detect();
      expect(await alerts('DENIED_BURST', analyst.userId)).toEqual([expect.objectContaining({ detail: expect.objectContaining({ deniedRequests: 10 }) })]);
    });
  });

  describe('DENIED_BURST counts the actor\'s own access refused, not failures it records for others', () => {
    const deniedRequests = async (where: string, params: unknown[]) =>
      (await sql.query(`SELECT count(DISTINCT request_id)::int AS n FROM audit_entry WHERE outcome = 'DENIED' AND ${where}`, params)).rows[0].n as number;

    it('does not count a customer\'s wrong one-time codes against the agent verifying them', async () => {
      const agent = await createStaff(t, admin, 'AGENT');
      const { createCustomer } = await gqlOk<{ createCustomer: { id: string } }>(t.gql, 'mutation($i: CreateCustomerInput!) { createCustomer(input: $i) { id } }', {
        i: { externalRef: `otp-${randomUUID()}`, fullName: 'Otto Typo', phone: `+49151${String(Math.floor(Math.random() * 1e7)).padStart(7, '0')}` },
      }, agent.accessToken);
      const { startCustomerVerification: challenge } = await gqlOk<{ startCustomerVerification: { verificationId: string } }>(
        t.gql, 'mutation($i: StartCustomerVerificationInput!) { startCustomerVerification(input: $i) { verificationId } }',
        { i: { customerId: createCustomer.id, method: 'SMS_OTP' } }, agent.accessToken,
      );
      const sent = (await sentMessages(t)).find((m) => m.reference === challenge.verificationId)!;
      const wrong = String((Number(/\b(\d{6})\b/.exec(sent.body)![1]) + 1) % 1_000_000).padStart(6, '0');
      // The customer reads out wrong codes: 5 attempts lock the challenge, 5 more are refused as locked.
      for (let i = 0; i < 10; i++) {
        await gqlOk(t.gql, 'mutation($i: CompleteCustomerVerificationInput!) { completeCustomerVerification(input: $i) { status } }', { i: { verificationId: challenge.verificationId, code: wrong } }, agent.accessToken);
      }
      // Each attempt is still recorded as DENIED, under the agent.
      expect(await deniedRequests(`actor_id = $1 AND action = 'verification.complete'`, [agent.userId])).toBe(10);
      await detect();
      expect(await alerts('DENIED_BURST', agent.userId)).toEqual([]);
    });

    it('does not count events naming customers that are not found, and counts the partner\'s refused event types', async () => {
      const partner = await partnerWithToken(t, admin, 'EXTERNAL');
      const feed = (alias: string, events: Array<Record<string, unknown>>) =>
        t.gql(`mutation($e: [EventInput!]!) { ${alias}ingestEvents(events: $e) { decision } }`, { e: events.map((e) => ({ idempotencyKey: newKey(), occurredAt: new Date().toISOString(), type: 'LOGIN', attributes: { outcome: 'SUCCESS' }, ...e })) }, { token: partner.token });
      // Ten calls whose events name customers this partner does not have (aliased or not): items rejected, no refusal of the caller.
      for (let i = 0; i < 10; i++) {
        const res = await feed(i % 2 ? 'batch: ' : '', [{ customerExternalRef: `nobody-${randomUUID()}` }, { customerExternalRef: `nobody-${randomUUID()}` }]);
        expect(res.errors?.map((e) => e.extensions?.code)).toEqual(['NOT_FOUND', 'NOT_FOUND']);
      }
      const { rows } = await sql.query(`SELECT details FROM audit_entry WHERE partner_id = $1 AND action = 'access.denied' ORDER BY id`, [partner.id]);
      expect(rows).toHaveLength(10);
      expect(rows[1].details).toEqual({ reason: 'batch items not found', errors: [{ code: 'NOT_FOUND', path: 'batch.0' }, { code: 'NOT_FOUND', path: 'batch.1' }] });
      await detect();
      expect((await alerts('DENIED_BURST')).filter((a) => a.partner === partner.id)).toEqual([]);

      // An event type the partner may not send is its own access refused: ten such calls fire.
      for (let i = 0; i < 10; i++) {
        const res = await feed('', [{ customerExternalRef: `nobody-${randomUUID()}` }, { customerExternalRef: `nobody-${randomUUID()}`, type: 'PROFILE_CHANGE' }]);
        expect(res.errors?.map((e) => e.extensions?.code).sort()).toEqual(['FORBIDDEN', 'NOT_FOUND']);
      }
      await detect();
      expect((await alerts('DENIED_BURST')).filter((a) => a.partner === partner.id)).toEqual([
        expect.objectContaining({ actorType: 'PARTNER', detail: expect.objectContaining({ deniedRequests: 10 }) }),
      ]);
    });
  });

  describe('TOKEN_NEW_NETWORK: a partner token used from a /24 or /48 it never used', () => {
    let tokenId: string;
    let token: string;
    let partnerId: string;
    /** Any request with the token records its use (at most once a minute per token, so the test resets that clock). */
    const useFrom = async (ip: string, tok = token) => {
      await sql.query('UPDATE partner_token SET last_used_at = NULL');
      const res = await t.gql('{ serverInfo { version } }', undefined, { token: tok, ip });
      expect(res.errors).toBeUndefined();
    };
    const issue = async () =>
      (await gqlOk<{ issuePartnerToken: { token: string; tokenInfo: { id: string } } }>(
        t.gql,
        `mutation($i: IssuePartnerTokenInput!) { issuePartnerToken(input: $i) { token tokenInfo { id } } }`,
        { i: { partnerId, name: 'feed', scopes: ['events:write'], expiresAt: future(30) } },
        admin.accessToken,
      )).issuePartnerToken;

    beforeAll(async () => {
      const { createPartner } = await gqlOk<{ createPartner: { id: string } }>(
        t.gql,
        `mutation($i: CreatePartnerInput!) { createPartner(input: $i) { id } }`,
        { i: { name: 'Network test partner', contactEmail: 'ops@partner.test', trustLevel: 'EXTERNAL', allowedScopes: ['events:write'], agreementSignedAt: new Date(Date.now() - 86_400_000).toISOString(), agreementExpiresAt: future(365) } },
        admin.accessToken,
      );
      partnerId = createPartner.id;
      ({ token, tokenInfo: { id: tokenId } } = await issue());
    });

    it('takes the first network as the baseline and ignores other addresses in it', async () => {
      await useFrom('203.0.113.10');
      await useFrom('203.0.113.250');
      await detect();
      const { rows } = await sql.query(`SELECT ip FROM audit_entry WHERE action = 'partner_token.use' AND resource_id = $1 ORDER BY id`, [tokenId]);
      expect(rows.map((r) => r.ip)).toEqual(['203.0.113.10', '203.0.113.250']);
      expect(await alerts('TOKEN_NEW_NETWORK', tokenId)).toEqual([]);
    });

    it('fires for a new IPv4 /24, once per network', async () => {
      await useFrom('198.51.100.7');
      await useFrom('198.51.100.8');
      await useFrom('203.0.113.11');
      await detect();
      expect(await alerts('TOKEN_NEW_NETWORK', tokenId)).toEqual([
        expect.objectContaining({ actorType: 'PARTNER', actor: tokenId, partner: partnerId, status: 'OPEN', detail: expect.objectContaining({ network: '198.51.100.0/24', ip: '198.51.100.7', knownNetworks: 1 }) }),
      ]);
    });

    it('fires for a new IPv6 /48, not for another address in it', async () => {
      await useFrom('2001:db8:1::1');
      await useFrom('2001:db8:1:ffff::2');
      await detect();
      const found = await alerts('TOKEN_NEW_NETWORK', tokenId);
      expect(found.map((a) => a.detail.network)).toEqual(['2001:db8:1::/48', '198.51.100.0/24']);
    });

    it('sees a use from a new /24 within the same minute as the last recorded use (no clock reset)', async () => {
      const fresh = await issue();
      const use = async (ip: string) => expect((await t.gql('{ serverInfo { version } }', undefined, { token: fresh.token, ip })).errors).toBeUndefined();
      await use('192.0.2.10');
      // Same /24 inside the minute: not recorded again (once per token per minute).
      await use('192.0.2.11');
      // A new /24 inside the same minute: recorded, so the detector sees it.
      await use('100.64.7.9');
      await detect();
      const { rows } = await sql.query(`SELECT ip FROM audit_entry WHERE action = 'partner_token.use' AND resource_id = $1 ORDER BY id`, [fresh.tokenInfo.id]);
      expect(rows.map((r) => r.ip)).toEqual(['192.0.2.10', '100.64.7.9']);
      expect(await alerts('TOKEN_NEW_NETWORK', fresh.tokenInfo.id)).toEqual([
        expect.objectContaining({ actor: fresh.tokenInfo.id, detail: expect.objectContaining({ network: '100.64.7.0/24', ip: '100.64.7.9', knownNetworks: 1 }) }),
      ]);
    });

    it("does not fire on another token's first use", async () => {
      const other = await issue();
      await useFrom('192.0.2.1', other.token);
      await detect();
      expect(await alerts('TOKEN_NEW_NETWORK', other.tokenInfo.id)).toEqual([]);
    });
  });

  it('processes every entry once, in a transaction with its cursor', async () => {
    await detect();
    const { rows } = await sql.query(`SELECT (SELECT last_id FROM audit_detector_cursor)::text AS cursor, (SELECT max(id) FROM audit_entry)::text AS head`);
    // Alerts raised are audited, so the head may be just past the cursor; one more pass catches up.
    await detect();
    const { rows: after } = await sql.query(`SELECT last_id::text AS cursor FROM audit_detector_cursor`);
    expect(BigInt(after[0].cursor)).toBeGreaterThanOrEqual(BigInt(rows[0].head));
    const { rows: raised } = await sql.query(`SELECT count(*)::int AS n FROM audit_entry WHERE action = 'security_alert.raise'`);
    const { rows: stored } = await sql.query(`SELECT count(*)::int AS n FROM security_alert`);
    expect(raised[0].n).toBe(stored[0].n);
  });
});

describe('audit: security-alert thresholds come from the environment', () => {
  let t: TestApp;
  afterAll(async () => {
    await t?.close();
  });

  it('SECURITY_ALERT_DENIED_REQUESTS=3 fires DENIED_BURST at the 3rd denied request, not the 2nd', async () => {
    t = await startTestApp({ SECURITY_ALERT_DENIED_REQUESTS: '3', SECURITY_ALERT_DENIED_WINDOW_MINUTES: '5' });
    expect(securityAlertSettings(t.config).deniedBurst).toEqual({ requests: 3, windowMs: 300_000 });
    const admin = await signInAdmin(t);
    const auditor = await createStaff(t, admin, 'AUDITOR');
    const analyst = await createStaff(t, admin, 'ANALYST');
    const detector = t.app.get(SecurityAlertDetector);
    const burst = async () =>
      (await gqlOk<{ securityAlerts: { nodes: Alert[] } }>(t.gql, ALERTS, { f: { kind: 'DENIED_BURST' } }, auditor.accessToken)).securityAlerts.nodes.filter((a) => a.actor === analyst.userId);
    const deny = async () => expect((await t.gql('{ auditLog { totalCount } }', undefined, { token: analyst.accessToken })).errors?.[0].extensions?.code).toBe('FORBIDDEN');
    await deny();
    await deny();
    await detector.runOnce();
    expect(await burst()).toEqual([]);
    await deny();
    await detector.runOnce();
    expect(await burst()).toEqual([expect.objectContaining({ detail: expect.objectContaining({ deniedRequests: 3, threshold: 3 }) })]);
  });

  it('refuses an invalid threshold at start-up', () => {
    expect(() => loadConfig({ NODE_ENV: 'test', ...testSecrets(), SECURITY_ALERT_PII_READ_CUSTOMERS: '0' })).toThrow(/SECURITY_ALERT_PII_READ_CUSTOMERS/);
  });
});
