import { randomUUID } from 'node:crypto';
import { Client } from 'pg';
import { AuditWriter } from '../../src/modules/audit/audit-writer.service';
import { SecurityAlertsService } from '../../src/modules/audit/security-alerts/security-alerts.service';
import { startTestApp, type GraphQLResponse, type TestApp } from '../helpers/app';
import { createStaff, gqlOk, signInAdmin, type SignedIn } from '../helpers/auth';

const AUDIT_LOG = `query($f: AuditLogFilter, $first: Int, $after: String) {
  auditLog(filter: $f, first: $first, after: $after) {
    totalCount pageInfo { hasNextPage endCursor }
    nodes { id occurredAt actorType actorId role partnerId sessionId ip userAgent requestId action resourceType resourceId customerId fields outcome details }
  } }`;
const ACCESS_REPORT = `query($c: ID!, $from: DateTime, $to: DateTime) { customerAccessReport(customerId: $c, from: $from, to: $to) { actorType actorId role partnerId fields reads lookups firstAt lastAt } }`;
const VERIFY = `query { verifyAuditChain { valid checked } }`;
const ALERTS = `query($f: SecurityAlertsFilter) { securityAlerts(filter: $f) { totalCount nodes { id kind actorType actor partner detail status createdAt updatedAt } } }`;
const ACK = `mutation($id: ID!) { acknowledgeSecurityAlert(id: $id) { id status } }`;
const CLOSE = `mutation($id: ID!) { closeSecurityAlert(id: $id) { id status } }`;
const future = (days: number) => new Date(Date.now() + days * 86_400_000).toISOString();
const codeOf = (res: GraphQLResponse) => res.errors?.[0]?.extensions?.code;

interface Entry {
  id: string;
  occurredAt: string;
  actorType: string;
  actorId: string | null;
  role: string | null;
  action: string;
  customerId: string | null;
  fields: string[];
  outcome: string;
  userAgent: string | null;
  details: Record<string, unknown>;
}
type Page = { auditLog: { totalCount: number; pageInfo: { hasNextPage: boolean; endCursor: string | null }; nodes: Entry[] } };

/** Minimal RFC 4180 reader (quoted cells, doubled quotes, CRLF rows) to check what the export writes. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') { cell += '"'; i++; }
      else if (c === '"') quoted = false;
      else cell += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') { row.push(cell); cell = ''; }
    else if (c === '\r' && text[i + 1] === '\n') { row.push(cell); rows.push(row); row = []; cell = ''; i++; }
    else cell += c;
  }
  return rows;
}

describe('audit: reviewer API and export', () => {
  let t: TestApp;
  let admin: SignedIn;
  let auditor: SignedIn;
  let officer: SignedIn;
  let sql: Client;
  let writer: AuditWriter;

  const asAuditor = <T>(query: string, variables?: Record<string, unknown>) => gqlOk<T>(t.gql, query, variables, auditor.accessToken);
  const exportAs = (token: string | undefined, query: string) => {
    const req = t.http().get(`/audit/export${query}`).buffer(true).parse((res, done) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => done(null, body));
    });
    return token ? req.set('authorization', `Bearer ${token}`) : req;
  };

  beforeAll(async () => {
    t = await startTestApp();
    sql = new Client({ connectionString: t.db.url });
    await sql.connect();
    admin = await signInAdmin(t);
    auditor = await createStaff(t, admin, 'AUDITOR');
    officer = await createStaff(t, admin, 'COMPLIANCE_OFFICER');
    writer = t.app.get(AuditWriter);
  });
  afterAll(async () => {
    await sql?.end();
    await t?.close();
  });

  describe('permissions', () => {
    const OPERATIONS: Array<[string, string, Record<string, unknown>?]> = [
      ['auditLog', '{ auditLog { totalCount } }'],
      ['verifyAuditChain', VERIFY],
      ['securityAlerts', '{ securityAlerts { totalCount } }'],
      ['customerAccessReport', ACCESS_REPORT, { c: randomUUID() }],
      ['acknowledgeSecurityAlert', ACK, { id: randomUUID() }],
      ['closeSecurityAlert', CLOSE, { id: randomUUID() }],
    ];

    it('gives FORBIDDEN to every other staff role on every reviewer operation (COMPLIANCE_OFFICER may read the access report)', async () => {
      const others: Array<[string, SignedIn]> = [['ADMIN', admin], ['COMPLIANCE_OFFICER', officer]];
      for (const role of ['ANALYST', 'AGENT', 'ACCOUNT_MANAGER']) others.push([role, await createStaff(t, admin, role)]);
      for (const [role, user] of others) {
        for (const [operation, query, variables] of OPERATIONS) {
          const res = await t.gql(query, variables, { token: user.accessToken });
          if (role === 'COMPLIANCE_OFFICER' && operation === 'customerAccessReport') {
            expect(codeOf(res)).toBe('NOT_FOUND'); // allowed; the customer does not exist
            continue;
          }
          expect([role, operation, codeOf(res)]).toEqual([role, operation, 'FORBIDDEN']);
          expect(res.data).toBeNull();
        }
        const exported = await exportAs(user.accessToken, '');
        expect([role, exported.status, JSON.parse(exported.body as string)]).toEqual([role, 403, { error: { code: 'FORBIDDEN', message: expect.any(String) } }]);
      }
    });

    it('gives FORBIDDEN to a partner token and UNAUTHENTICATED without a token', async () => {
      const partner = await gqlOk<{ createPartner: { id: string } }>(
        t.gql,
        `mutation($i: CreatePartnerInput!) { createPartner(input: $i) { id } }`,
        { i: { name: 'Reviewer test partner', contactEmail: 'ops@partner.test', trustLevel: 'INTERNAL', allowedScopes: ['customers:read'], agreementSignedAt: new Date(Date.now() - 86_400_000).toISOString(), agreementExpiresAt: future(365) } },
        admin.accessToken,
      );
      const { issuePartnerToken } = await gqlOk<{ issuePartnerToken: { token: string } }>(
        t.gql,
        `mutation($i: IssuePartnerTokenInput!) { issuePartnerToken(input: $i) { token } }`,
        { i: { partnerId: partner.createPartner.id, name: 'feed', scopes: ['customers:read'], expiresAt: future(30) } },
        admin.accessToken,
      );
      for (const [operation, query, variables] of OPERATIONS) {
        expect([operation, codeOf(await t.gql(query, variables, { token: issuePartnerToken.token }))]).toEqual([operation, 'FORBIDDEN']);
        expect([operation, codeOf(await t.gql(query, variables))]).toEqual([operation, 'UNAUTHENTICATED']);
      }
      expect((await exportAs(issuePartnerToken.token, '')).status).toBe(403);
      const anonymous = await exportAs(undefined, '?format=csv');
      expect(anonymous.status).toBe(401);
      expect(JSON.parse(anonymous.body as string)).toEqual({ error: { code: 'UNAUTHENTICATED', message: expect.any(String) } });
      expect((await exportAs('not-a-valid-token', '')).status).toBe(401);
    });

    it('records each refusal as a DENIED entry naming the operation', async () => {
      const page = await asAuditor<Page>(AUDIT_LOG, { f: { actorId: admin.userId, outcome: 'DENIED' }, first: 100 });
      const refused = page.auditLog.nodes.map((n) => `${n.action}:${String((n as unknown as { resourceId: string }).resourceId)}`);
      expect(refused).toEqual(expect.arrayContaining(['access.denied:auditLog', 'access.denied:verifyAuditChain', 'access.denied:GET /audit/export']));
    });
  });

  describe('auditLog', () => {
    it('pages newest first with opaque cursors and filters by actor, action, outcome, customer and time', async () => {
      const customerId = randomUUID();
      const actorId = randomUUID();
      const from = new Date();
      for (let i = 0; i < 5; i++) {
        await writer.record({ action: 'customer.update', outcome: i === 4 ? 'ERROR' : 'SUCCESS', resourceType: 'Customer', resourceId: customerId, customerId, fields: ['phone'], actor: { type: 'USER', id: actorId, role: 'AGENT' }, details: { n: i } });
      }
      const first = await asAuditor<Page>(AUDIT_LOG, { f: { actorId }, first: 2 });
      expect(first.auditLog.totalCount).toBe(5);
      expect(first.auditLog.nodes.map((n) => n.details.n)).toEqual([4, 3]);
      expect(first.auditLog.pageInfo.hasNextPage).toBe(true);
      const second = await asAuditor<Page>(AUDIT_LOG, { f: { actorId }, first: 2, after: first.auditLog.pageInfo.endCursor });
      expect(second.auditLog.nodes.map((n) => n.details.n)).toEqual([2, 1]);
      const last = await asAuditor<Page>(AUDIT_LOG, { f: { actorId }, first: 2, after: second.auditLog.pageInfo.endCursor });
      expect(last.auditLog.nodes.map((n) => n.details.n)).toEqual([0]);
      expect(last.auditLog.pageInfo).toEqual({ hasNextPage: false, endCursor: expect.any(String) });

      expect(first.auditLog.nodes[0]).toMatchObject({ actorType: 'USER', role: 'AGENT', action: 'customer.update', customerId, fields: ['phone'], outcome: 'ERROR' });
      const errors = await asAuditor<Page>(AUDIT_LOG, { f: { customerId, outcome: 'ERROR' } });
      expect(errors.auditLog.totalCount).toBe(1);
      const byAction = await asAuditor<Page>(AUDIT_LOG, { f: { action: 'customer.update', actorType: 'USER', from: from.toISOString() } });
      expect(byAction.auditLog.totalCount).toBe(5);
      const none = await asAuditor<Page>(AUDIT_LOG, { f: { actorId, to: from.toISOString() } });
      expect(none.auditLog.totalCount).toBe(0);
      const system = await asAuditor<Page>(AUDIT_LOG, { f: { actorType: 'SYSTEM', actorId } });
      expect(system.auditLog.totalCount).toBe(0);
    });

    it('refuses bad arguments with BAD_USER_INPUT', async () => {
      for (const [variables, path] of [
        [{ first: 101 }, 'first'],
        [{ first: -1 }, 'first'],
        [{ after: 'not a cursor' }, 'after'],
        [{ f: { customerId: 'nope' } }, 'customerId'],
        [{ f: { partnerId: 'nope' } }, 'partnerId'],
        [{ f: { from: '2026-02-01T00:00:00Z', to: '2026-01-01T00:00:00Z' } }, 'filter.to'],
      ] as Array<[Record<string, unknown>, string]>) {
        const res = await t.gql(AUDIT_LOG, variables, { token: auditor.accessToken });
        expect([path, res.errors?.[0].extensions?.code]).toEqual([path, 'BAD_USER_INPUT']);
        expect(res.errors?.[0].extensions?.fieldErrors).toEqual([expect.objectContaining({ path })]);
      }
    });

    it('audits every reviewer query, with its filter', async () => {
      const actorId = randomUUID();
      const sent = await t.gql(AUDIT_LOG, { f: { actorId, action: 'x.y' }, first: 7 }, { token: auditor.accessToken, ip: '198.51.100.23', headers: { 'user-agent': 'custos-console/7.1' } });
      expect(sent.errors).toBeUndefined();
      const page = await asAuditor<Page>(AUDIT_LOG, { f: { action: 'audit.query', actorId: auditor.userId }, first: 100 });
      const entry = page.auditLog.nodes.find((n) => (n.details.filter as Record<string, unknown>)?.actorId === actorId);
      expect(entry).toMatchObject({ actorType: 'USER', role: 'AUDITOR', outcome: 'SUCCESS', details: { operation: 'auditLog', first: 7, filter: { actorId, action: 'x.y' } } });
      // The entry carries the request's client: its address (through the trusted proxy), user agent and id.
      expect(entry).toMatchObject({ ip: '198.51.100.23', userAgent: 'custos-console/7.1', requestId: sent.headers['x-request-id'] });
      await asAuditor(ALERTS);
      const alertQueries = await asAuditor<Page>(AUDIT_LOG, { f: { action: 'audit.query', actorId: auditor.userId }, first: 1 });
      expect(alertQueries.auditLog.nodes[0].details).toMatchObject({ operation: 'securityAlerts' });
      const { rows } = await sql.query(`SELECT details FROM audit_entry WHERE action = 'audit.query' AND details->>'operation' = 'securityAlerts'`);
      expect(rows).toHaveLength(1);
    });
  });

  describe('customerAccessReport', () => {
    it('groups full-value PII reads of one customer by actor: fields, count, first and last', async () => {
      const agent = await createStaff(t, admin, 'AGENT');
      const customerId = (await gqlOk<{ createCustomer: { id: string } }>(t.gql, 'mutation { createCustomer(input: {externalRef: "audit-report-1"}) { id } }', undefined, agent.accessToken)).createCustomer.id;
      const reader = { type: 'USER' as const, id: randomUUID(), role: 'COMPLIANCE_OFFICER' };
      const partnerReader = { type: 'PARTNER' as const, id: randomUUID(), role: 'PARTNER', partnerId: randomUUID() };
      const read = (actor: typeof reader | typeof partnerReader, fields: string[], outcome: 'SUCCESS' | 'DENIED' = 'SUCCESS', customer = customerId) =>
        writer.record({ action: 'customer.read_pii', outcome, resourceType: 'Customer', resourceId: customer, customerId: customer, fields, actor });
      await read(reader, ['email']);
      await read(reader, ['nationalId', 'phone']);
      await read(reader, ['email']);
      await read(partnerReader, ['fullName']);
      await read(reader, ['address'], 'DENIED');
      await read(reader, ['dateOfBirth'], 'SUCCESS', randomUUID());

      const { customerAccessReport } = await gqlOk<{ customerAccessReport: Array<Record<string, unknown>> }>(t.gql, ACCESS_REPORT, { c: customerId }, officer.accessToken);
      expect(customerAccessReport).toHaveLength(2);
      const user = customerAccessReport.find((s) => s.actorId === reader.id)!;
      expect(user).toMatchObject({ actorType: 'USER', role: 'COMPLIANCE_OFFICER', partnerId: null, fields: ['email', 'nationalId', 'phone'], reads: 3, lookups: 0 });
      expect(new Date(user.firstAt as string).getTime()).toBeLessThanOrEqual(new Date(user.lastAt as string).getTime());
      expect(customerAccessReport.find((s) => s.actorId === partnerReader.id)).toMatchObject({ actorType: 'PARTNER', partnerId: partnerReader.partnerId, fields: ['fullName'], reads: 1 });

      const later = await asAuditor<{ customerAccessReport: unknown[] }>(ACCESS_REPORT, { c: customerId, from: new Date(Date.now() + 60_000).toISOString() });
      expect(later.customerAccessReport).toEqual([]);
      const { rows } = await sql.query(`SELECT actor_id FROM audit_entry WHERE action = 'audit.query' AND customer_id = $1 ORDER BY id`, [customerId]);
      expect(rows.map((r) => r.actor_id)).toEqual([officer.userId, auditor.userId]);
      const bad = await t.gql(ACCESS_REPORT, { c: 'not-an-id' }, { token: auditor.accessToken });
      expect(bad.errors?.[0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', fieldErrors: [{ path: 'customerId', message: 'is not a valid id' }] });
      // A mistyped id is not a customer nobody read.
      const absent = await t.gql(ACCESS_REPORT, { c: randomUUID() }, { token: auditor.accessToken });
      expect([codeOf(absent), absent.data]).toEqual(['NOT_FOUND', null]);
    });

    it('lists a search by a full email, phone or national id under each customer it returned: the value is confirmed', async () => {
      const [agent, searcher] = [await createStaff(t, admin, 'AGENT'), await createStaff(t, admin, 'AGENT')];
      const { createCustomer } = await gqlOk<{ createCustomer: { id: string } }>(
        t.gql, 'mutation { createCustomer(input: {externalRef: "audit-lookup-1", email: "lookup.marker@example.test", nationalId: "LK123456"}) { id } }', undefined, agent.accessToken,
      );
      // An AGENT sees nationalId only masked: searching by the full value proves it all the same.
      const found = await gqlOk<{ customers: { nodes: Array<{ id: string }> } }>(t.gql, 'query($v: String!) { customers(filter: {nationalId: $v}) { nodes { id } } }', { v: 'LK123456' }, searcher.accessToken);
      expect(found.customers.nodes).toEqual([{ id: createCustomer.id }]);
      await gqlOk(t.gql, 'query($v: String!) { customers(filter: {email: $v}) { totalCount } }', { v: 'lookup.marker@example.test' }, searcher.accessToken);
      await gqlOk(t.gql, 'query($v: String!) { customers(filter: {email: $v}) { totalCount } }', { v: 'nobody@example.test' }, searcher.accessToken);
      // An empty page confirms the value through its count all the same: recorded under the customer it matched.
      const counted = await gqlOk<{ customers: { totalCount: number; nodes: unknown[] } }>(t.gql, 'query($v: String!) { customers(filter: {nationalId: $v}, first: 0) { totalCount nodes { id } } }', { v: 'LK123456' }, searcher.accessToken);
      expect(counted.customers).toEqual({ totalCount: 1, nodes: [] });
      const { customerAccessReport } = await asAuditor<{ customerAccessReport: Array<Record<string, unknown>> }>(ACCESS_REPORT, { c: createCustomer.id });
      expect(customerAccessReport).toEqual([
        expect.objectContaining({ actorType: 'USER', actorId: searcher.userId, role: 'AGENT', fields: ['email', 'nationalId'], reads: 0, lookups: 3 }),
      ]);
      const page = await asAuditor<Page>(AUDIT_LOG, { f: { customerId: createCustomer.id, action: 'customer.lookup' } });
      expect(page.auditLog.nodes).toHaveLength(3);
      // The search that matched nothing is audited too, under no customer; no entry holds a searched value.
      const { rows } = await sql.query(`SELECT customer_id, fields, details::text AS details FROM audit_entry WHERE action = 'customer.lookup' AND actor_id = $1 ORDER BY id`, [searcher.userId]);
      expect(rows.map((r) => [r.customer_id, r.fields])).toEqual([[createCustomer.id, ['nationalId']], [createCustomer.id, ['email']], [null, ['email']], [createCustomer.id, ['nationalId']]]);
      expect(JSON.stringify(rows)).not.toMatch(/LK123456|lookup\.marker|nobody/);
    });
    it('reports the reads the customers module audits, end to end, with field names and no values', async () => {
      const agent = await createStaff(t, admin, 'AGENT');
      const { createCustomer } = await gqlOk<{ createCustomer: { id: string } }>(
        t.gql,
        'mutation($i: CreateCustomerInput!) { createCustomer(input: $i) { id } }',
        { i: { externalRef: 'audit-e2e-1', fullName: 'Marker Person', email: 'marker.person@example.test', phone: '+44 20 7946 0123' } },
        agent.accessToken,
      );
      await gqlOk(t.gql, 'query($id: ID!) { customer(id: $id) { fullName email phone } }', { id: createCustomer.id }, officer.accessToken);
      const { customerAccessReport } = await asAuditor<{ customerAccessReport: Array<Record<string, unknown>> }>(ACCESS_REPORT, { c: createCustomer.id });
      expect(customerAccessReport).toEqual([
        expect.objectContaining({ actorType: 'USER', actorId: officer.userId, role: 'COMPLIANCE_OFFICER', fields: ['email', 'fullName', 'phone'], reads: 1 }),
      ]);
      const page = await asAuditor<Page>(AUDIT_LOG, { f: { customerId: createCustomer.id, action: 'customer.read_pii' } });
      expect(page.auditLog.nodes).toEqual([expect.objectContaining({ actorId: officer.userId, fields: ['email', 'fullName', 'phone'], outcome: 'SUCCESS' })]);
      // The phone's digits as written and as normalised (a bare "7946" also turns up in random uuids).
      expect(JSON.stringify(page)).not.toMatch(/marker|Marker|7946 0123|79460123/);
    });
  });

  describe('security alerts', () => {
    it('lists alerts to AUDITOR and moves them OPEN → ACKNOWLEDGED → CLOSED, nothing else', async () => {
      const alerts = t.app.get(SecurityAlertsService);
      const raised = await alerts.raise({ kind: 'DENIED_BURST', dedupKey: `USER:${admin.userId}`, dedup: { windowMs: 600_000 }, actorType: 'USER', actorId: admin.userId, detail: { deniedRequests: 10 } });
      expect(raised).not.toBeNull();
      expect(await alerts.raise({ kind: 'DENIED_BURST', dedupKey: `USER:${admin.userId}`, dedup: { windowMs: 600_000 }, detail: {} })).toBeNull();

      const list = await asAuditor<{ securityAlerts: { totalCount: number; nodes: Array<Record<string, unknown>> } }>(ALERTS, { f: { status: 'OPEN', kind: 'DENIED_BURST' } });
      expect(list.securityAlerts.nodes).toEqual([
        expect.objectContaining({ id: raised!.id, kind: 'DENIED_BURST', actorType: 'USER', actor: admin.userId, partner: null, detail: { deniedRequests: 10 }, status: 'OPEN' }),
      ]);
      expect((await asAuditor<{ acknowledgeSecurityAlert: { status: string } }>(ACK, { id: raised!.id })).acknowledgeSecurityAlert.status).toBe('ACKNOWLEDGED');
      expect(codeOf(await t.gql(ACK, { id: raised!.id }, { token: auditor.accessToken }))).toBe('INVALID_TRANSITION');
      expect((await asAuditor<{ closeSecurityAlert: { status: string } }>(CLOSE, { id: raised!.id })).closeSecurityAlert.status).toBe('CLOSED');
      expect(codeOf(await t.gql(CLOSE, { id: raised!.id }, { token: auditor.accessToken }))).toBe('INVALID_TRANSITION');
      expect(codeOf(await t.gql(CLOSE, { id: randomUUID() }, { token: auditor.accessToken }))).toBe('NOT_FOUND');
      expect(codeOf(await t.gql(CLOSE, { id: 'x' }, { token: auditor.accessToken }))).toBe('BAD_USER_INPUT');
      expect((await asAuditor<{ securityAlerts: { totalCount: number } }>(ALERTS, { f: { status: 'OPEN', kind: 'DENIED_BURST' } })).securityAlerts.totalCount).toBe(0);

      const { rows } = await sql.query(`SELECT action, actor_type, actor_id FROM audit_entry WHERE resource_id = $1 ORDER BY id`, [raised!.id]);
      expect(rows).toEqual([
        { action: 'security_alert.raise', actor_type: 'SYSTEM', actor_id: null },
        { action: 'security_alert.acknowledge', actor_type: 'USER', actor_id: auditor.userId },
        { action: 'security_alert.close', actor_type: 'USER', actor_id: auditor.userId },
      ]);
    });
  });

  describe('GET /audit/export', () => {
    it('streams JSON lines in chain order with every column, and audits the export', async () => {
      const res = await exportAs(auditor.accessToken, '?format=jsonl');
      expect(res.status).toBe(200);
      expect(res.headers['content-type']).toBe('application/x-ndjson; charset=utf-8');
      expect(res.headers['content-disposition']).toMatch(/^attachment; filename="audit-.+\.jsonl"$/);
      const lines = (res.body as string).split('\n');
      expect(lines.pop()).toBe('');
      const entries = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
      const { rows } = await sql.query('SELECT count(*)::int AS n FROM audit_entry WHERE id <= $1', [entries[entries.length - 1].id]);
      expect(entries).toHaveLength(rows[0].n);
      expect(Object.keys(entries[0])).toEqual([
        'id', 'occurredAt', 'actorType', 'actorId', 'role', 'partnerId', 'sessionId', 'ip', 'userAgent', 'requestId', 'action',
        'resourceType', 'resourceId', 'customerId', 'fields', 'outcome', 'details', 'prevHash', 'hash',
      ]);
      entries.forEach((e, i) => i > 0 && expect(e.prevHash).toBe(entries[i - 1].hash));
      // The export's own entry is in the log (and, being written first, in the export itself).
      const own = entries.filter((e) => e.action === 'audit.export');
      expect(own[own.length - 1]).toMatchObject({ actorId: auditor.userId, role: 'AUDITOR', outcome: 'SUCCESS', details: { format: 'jsonl', from: null, to: null } });
      const page = await asAuditor<Page>(AUDIT_LOG, { f: { action: 'audit.export' }, first: 1 });
      expect(page.auditLog.nodes[0]).toMatchObject({ actorId: auditor.userId, action: 'audit.export' });
    });

    it('streams RFC 4180 CSV with quoting, neutralised formulas, and honours from/to', async () => {
      await writer.record({ action: 'test.before_window', outcome: 'SUCCESS' });
      await new Promise((r) => setTimeout(r, 20));
      const from = new Date().toISOString();
      // A hostile user agent ends up in the log verbatim (from a refused request).
      await t.gql('{ auditLog { totalCount } }', undefined, { token: officer.accessToken, headers: { 'user-agent': '=cmd|"calc", evil' } });
      await writer.record({ action: 'customer.read_pii', outcome: 'SUCCESS', customerId: randomUUID(), fields: ['email', 'phone'], details: { note: 'a "quoted", multi\nline detail' } });
      const res = await exportAs(auditor.accessToken, `?format=csv&from=${encodeURIComponent(from)}&to=${encodeURIComponent(future(1))}`);
      expect(res.status).toBe(200);
      expect(res.headers['content-type']).toBe('text/csv; charset=utf-8');
      const rows = parseCsv(res.body as string);
      expect(rows[0]).toEqual(['id', 'occurredAt', 'actorType', 'actorId', 'role', 'partnerId', 'sessionId', 'ip', 'userAgent', 'requestId', 'action', 'resourceType', 'resourceId', 'customerId', 'fields', 'outcome', 'details', 'prevHash', 'hash']);
      const body = rows.slice(1);
      expect(body.every((r) => r.length === 19 && r[1] >= from)).toBe(true);
      // Consecutive rows of the export are consecutive links of the chain.
      body.forEach((r, i) => i > 0 && expect(r[17]).toBe(body[i - 1][18]));
      // The background detector may raise a security alert for this file's refusals meanwhile (its own
      // SYSTEM entry); everything else in the window is this test's.
      const ours = body.filter((r) => r[10] !== 'security_alert.raise');
      expect(ours.map((r) => r[10])).toEqual(['access.denied', 'customer.read_pii', 'audit.export']);
      expect(ours[0][8]).toBe(`'=cmd|"calc", evil`);
      expect(ours[1][14]).toBe('email;phone');
      expect(JSON.parse(ours[1][16])).toEqual({ note: 'a "quoted", multi\nline detail' });

      const empty = await exportAs(auditor.accessToken, `?format=csv&from=${encodeURIComponent(future(1))}`);
      expect(parseCsv(empty.body as string)).toHaveLength(1);
    });

    it('answers bad parameters with 400 and a JSON error', async () => {
      for (const [query, path] of [
        ['?format=xml', 'format'],
        ['?from=yesterday', 'from'],
        ['?from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z', 'to'],
        ['?format=csv&format=jsonl', 'format'],
        ['?limit=10', 'limit'],
      ]) {
        const res = await exportAs(auditor.accessToken, query);
        expect([query, res.status]).toEqual([query, 400]);
        expect(JSON.parse(res.body as string)).toEqual({ error: { code: 'BAD_USER_INPUT', message: expect.any(String), fieldErrors: [expect.objectContaining({ path })] } });
      }
    });
  });
});
