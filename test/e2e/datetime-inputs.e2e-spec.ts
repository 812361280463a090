import { Client } from 'pg';
import { startTestApp, type GraphQLResponse, type TestApp } from '../helpers/app';
import { createStaff, gqlOk, signInAdmin, type SignedIn } from '../helpers/auth';
import { ingest, partnerWithToken } from '../helpers/monitoring';

/** The UTC form every DateTime output takes (Date#toISOString, as Nest's GraphQLISODateTime wrote it). */
const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/**
 * Every DateTime input is an ISO-8601 date-time with its offset: anything else is BAD_USER_INPUT naming the
 * problem (never an Invalid Date reaching SQL as INTERNAL_SERVER_ERROR, never a local time read in the
 * server's zone), whether it comes as an inline literal or a variable.
 */
describe('DateTime inputs', () => {
  let t: TestApp;
  let sql: Client;
  let admin: SignedIn, analyst: SignedIn, auditor: SignedIn, co: SignedIn;
  let customerId: string;
  /** Events of `customerId` at 2025-12-31T23:30Z and 2026-01-01T00:30Z; alerts created at those instants. */
  let before: { event: string; alert: string }, after: { event: string; alert: string };

  const refused = (res: GraphQLResponse<unknown>, reason: RegExp, path?: string) => {
    expect(res.status).toBe(400);
    expect(res.data ?? undefined).toBeUndefined();
    expect(res.errors).toHaveLength(1);
    const [error] = res.errors!;
    expect(error.extensions?.code).toBe('BAD_USER_INPUT');
    expect(error.message).toMatch(reason);
    if (path !== undefined) {
      expect(error.extensions?.fieldErrors).toEqual([{ path, message: expect.stringMatching(reason) }]);
    }
    expect(JSON.stringify(res.errors)).not.toMatch(/stacktrace|INTERNAL_SERVER_ERROR|invalid input syntax|yesterday/);
  };

  const FORMAT = /DateTime must be an ISO-8601 date-time with its offset/;
  const NO_OFFSET = /DateTime must carry its offset/;
  const BARE_DATE = /not a bare date/;
  const NOT_STRING = /DateTime must be a string/;

  beforeAll(async () => {
    t = await startTestApp();
    sql = new Client({ connectionString: t.db.url });
    await sql.connect();
    admin = await signInAdmin(t);
    [analyst, auditor, co] = [await createStaff(t, admin, 'ANALYST'), await createStaff(t, admin, 'AUDITOR'), await createStaff(t, admin, 'COMPLIANCE_OFFICER')];
    const core = await partnerWithToken(t, admin, 'INTERNAL');
    customerId = (await gqlOk<{ createCustomer: { id: string } }>(
      t.gql,
      'mutation($i: CreateCustomerInput!) { createCustomer(input: $i) { id } }',
      { i: { externalRef: 'dt-1', fullName: 'Dora Datetime', transactionLimit: '1000.00', dailyLimit: '50000.00' } },
      co.accessToken,
    )).createCustomer.id;
    // Two large transactions, each raising its own alert (one per customer and rule: so two customers).
    const other = (await gqlOk<{ createCustomer: { id: string } }>(t.gql, 'mutation { createCustomer(input: {externalRef: "dt-2", transactionLimit: "1000.00", dailyLimit: "50000.00"}) { id } }', undefined, co.accessToken)).createCustomer.id;
    const made = [];
    for (const [c, occurredAt] of [[customerId, '2025-12-31T23:30:00Z'], [customerId, '2026-01-01T00:30:00Z'], [other, '2026-01-01T00:30:00Z']] as const) {
      const res = await ingest(t, core.token, [{ customerId: c, type: 'TRANSACTION', amount: '1500.00', currency: 'EUR', occurredAt }]);
      made.push(res.data!.ingestEvents[0]!.event!.id);
    }
    const alertOf = async (c: string) => (await sql.query(`SELECT a.id FROM alert a JOIN rule r ON r.id = a.rule_id WHERE a.customer_id = $1 AND r.code = 'LARGE_TRANSACTION'`, [c])).rows[0].id as string;
    before = { event: made[0], alert: await alertOf(customerId) };
    after = { event: made[1], alert: await alertOf(other) };
    await sql.query(`UPDATE alert SET created_at = $2 WHERE id = $1`, [before.alert, '2025-12-31T23:30:00Z']);
    await sql.query(`UPDATE alert SET created_at = $2 WHERE id = $1`, [after.alert, '2026-01-01T00:30:00Z']);
  }, 120_000);
  afterAll(async () => {
    await sql.end();
    await t.close();
  });

  describe('the reported reproductions are BAD_USER_INPUT, not INTERNAL_SERVER_ERROR', () => {
    it('alerts(filter: {from: "yesterday"}) as an ANALYST', async () => {
      refused(await t.gql('{ alerts(filter: {from: "yesterday"}) { totalCount } }', undefined, { token: analyst.accessToken }), FORMAT);
    });
    it('events(filter: {to: "x"})', async () => {
      refused(await t.gql('{ events(filter: {to: "x"}) { totalCount } }', undefined, { token: analyst.accessToken }), FORMAT);
    });
    it('customerAccessReport(customerId, from: "x")', async () => {
      refused(await t.gql(`{ customerAccessReport(customerId: "${customerId}", from: "x") { actorId } }`, undefined, { token: auditor.accessToken }), FORMAT);
    });
    it('the inline literal error points at the literal', async () => {
      const res = await t.gql('{ alerts(filter: {from: "yesterday"}) { totalCount } }', undefined, { token: analyst.accessToken });
      expect(res.errors?.[0].message).toMatch(FORMAT);
      expect((res.errors?.[0] as { locations?: unknown }).locations).toEqual([{ line: 1, column: 25 }]);
    });
  });

  describe('as variables, naming the path', () => {
    it('a whole filter variable: the field inside it', async () => {
      refused(await t.gql('query($f: AlertsFilter) { alerts(filter: $f) { totalCount } }', { f: { from: 'yesterday' } }, { token: analyst.accessToken }), FORMAT, 'from');
      refused(await t.gql('query($f: EventsFilter) { events(filter: $f) { totalCount } }', { f: { to: 'x' } }, { token: analyst.accessToken }), FORMAT, 'to');
    });
    it('a DateTime variable ($from: DateTime): the variable', async () => {
      refused(await t.gql('query($from: DateTime) { alerts(filter: {from: $from}) { totalCount } }', { from: 'yesterday' }, { token: analyst.accessToken }), FORMAT, 'from');
      refused(
        await t.gql('query($c: ID!, $from: DateTime) { customerAccessReport(customerId: $c, from: $from) { actorId } }', { c: customerId, from: 'x' }, { token: auditor.accessToken }),
        FORMAT,
        'from',
      );
    });
    it('the same document, valid first and then not (its cost already known)', async () => {
      const QUERY = 'query($to: DateTime) { events(filter: {to: $to}) { totalCount } }';
      expect((await t.gql(QUERY, { to: '2026-01-01T00:00:00Z' }, { token: analyst.accessToken })).errors).toBeUndefined();
      refused(await t.gql(QUERY, { to: '2026-01-01' }, { token: analyst.accessToken }), BARE_DATE, 'to');
      refused(await t.gql(QUERY, { to: 'yesterday' }, { token: analyst.accessToken }), FORMAT, 'to');
    });
  });

  describe('ambiguous or non-string instants', () => {
    it.each([
      ['a local time without offset', '2024-01-01T00:00:00', NO_OFFSET],
      ['a local time with a fraction', '2024-01-01T00:00:00.000', NO_OFFSET],
      ['a bare date', '2024-01-01', BARE_DATE],
      ['a space for the T', '2024-01-01 00:00:00Z', FORMAT],
      ['a day that does not exist', '2026-02-30T00:00:00Z', /DateTime must be a real date and time/],
    ])('%s is refused inline and as a variable', async (_what, value, reason) => {
      refused(await t.gql(`{ alerts(filter: {from: "${value}"}) { totalCount } }`, undefined, { token: analyst.accessToken }), reason);
      refused(await t.gql(`{ events(filter: {to: "${value}"}) { totalCount } }`, undefined, { token: analyst.accessToken }), reason);
      refused(await t.gql('query($from: DateTime) { alerts(filter: {from: $from}) { totalCount } }', { from: value }, { token: analyst.accessToken }), reason, 'from');
      refused(await t.gql('query($f: EventsFilter) { events(filter: $f) { totalCount } }', { f: { from: value } }, { token: analyst.accessToken }), reason, 'from');
      refused(await t.gql('query($c: ID!, $to: DateTime) { customerAccessReport(customerId: $c, to: $to) { actorId } }', { c: customerId, to: value }, { token: auditor.accessToken }), reason, 'to');
    });
    it('a number (epoch) is refused inline and as a variable', async () => {
      refused(await t.gql('{ alerts(filter: {from: 1767225600000}) { totalCount } }', undefined, { token: analyst.accessToken }), NOT_STRING);
      refused(await t.gql('query($from: DateTime) { alerts(filter: {from: $from}) { totalCount } }', { from: 1767225600000 }, { token: analyst.accessToken }), NOT_STRING, 'from');
    });
    it('a bad DateTime in a mutation input writes nothing', async () => {
      const res = await t.gql(
        'mutation($i: CreatePartnerInput!) { createPartner(input: $i) { id } }',
        { i: { name: 'Dated Partner', contactEmail: 'ops@dated.test', trustLevel: 'EXTERNAL', allowedScopes: ['events:write'], agreementSignedAt: '2026-01-01', agreementExpiresAt: '2030-01-01T00:00:00Z' } },
        { token: admin.accessToken },
      );
      refused(res, BARE_DATE, 'agreementSignedAt');
      expect((await sql.query(`SELECT 1 FROM partner WHERE name = 'Dated Partner'`)).rows).toEqual([]);
    });
  });

  describe('valid instants work and filter by the instant they name', () => {
    const eventIds = async (filter: string, variables?: Record<string, unknown>) =>
      (await gqlOk<{ events: { nodes: Array<{ id: string }> } }>(
        t.gql,
        `query($c: ID!${Object.keys(variables ?? {}).map((name) => `, $${name}: DateTime`).join('')}) { events(filter: {customerId: $c${filter}}) { nodes { id } } }`,
        { c: customerId, ...variables },
        analyst.accessToken,
      )).events.nodes.map((e) => e.id);
    const alertIds = async (filter: string) =>
      (await gqlOk<{ alerts: { nodes: Array<{ id: string }> } }>(t.gql, `{ alerts(filter: {${filter}}, first: 100) { nodes { id } } }`, undefined, analyst.accessToken)).alerts.nodes.map((a) => a.id);

    it('events: Z and +01:00 forms of the same instant, inline and as variables', async () => {
      expect(await eventIds(', from: "2026-01-01T00:00:00Z"')).toEqual([after.event]);
      expect(await eventIds(', from: "2026-01-01T01:00:00+01:00"')).toEqual([after.event]);
      expect(await eventIds(', to: "2026-01-01T01:00:00+01:00"')).toEqual([before.event]);
      expect(await eventIds(', from: $from', { from: '2026-01-01T01:00:00+01:00' })).toEqual([after.event]);
      expect(await eventIds(', to: $to', { to: '2026-01-01T00:00:00Z' })).toEqual([before.event]);
      // 00:30+01:00 is 2025-12-31T23:30Z: the earlier event is at, not before, it.
      expect(await eventIds(', from: $from, to: $to', { from: '2026-01-01T00:30:00+01:00', to: '2026-01-01T01:00:00+01:00' })).toEqual([before.event]);
    });

    it('alerts: by creation instant', async () => {
      expect(await alertIds('from: "2026-01-01T00:00:00Z", to: "2026-01-01T02:00:00+01:00"')).toEqual([after.alert]);
      expect(await alertIds('from: "2026-01-01T01:00:00+01:00", to: "2026-01-01T02:00:00+01:00"')).toEqual([after.alert]);
      expect(await alertIds('to: "2026-01-01T01:00:00+01:00"')).toEqual([before.alert]);
      expect(await alertIds('to: "2026-01-01T00:00:00Z"')).toEqual([before.alert]);
    });

    it('customerAccessReport: reads at or after `from`, before `to`', async () => {
      await gqlOk(t.gql, 'query($id: ID!) { customer(id: $id) { fullName } }', { id: customerId }, co.accessToken);
      const REPORT = 'query($c: ID!, $from: DateTime, $to: DateTime) { customerAccessReport(customerId: $c, from: $from, to: $to) { actorId } }';
      const report = async (variables: Record<string, unknown>) =>
        (await gqlOk<{ customerAccessReport: Array<{ actorId: string }> }>(t.gql, REPORT, { c: customerId, ...variables }, auditor.accessToken)).customerAccessReport;
      expect(await report({ from: '2026-01-01T00:00:00Z' })).toEqual([{ actorId: co.userId }]);
      expect(await report({ from: '2026-01-01T01:00:00+01:00' })).toEqual([{ actorId: co.userId }]);
      expect(await report({ to: '2026-01-01T01:00:00+01:00' })).toEqual([]);
      const inline = await gqlOk<{ customerAccessReport: unknown[] }>(t.gql, `{ customerAccessReport(customerId: "${customerId}", from: "2026-01-01T01:00:00+01:00") { actorId } }`, undefined, auditor.accessToken);
      expect(inline.customerAccessReport).toEqual([{ actorId: co.userId }]);
    });
  });

  it('DateTime outputs keep their UTC form', async () => {
    const { event } = await gqlOk<{ event: { occurredAt: string; receivedAt: string } }>(t.gql, 'query($id: ID!) { event(id: $id) { occurredAt receivedAt } }', { id: before.event }, analyst.accessToken);
    expect(event.occurredAt).toBe('2025-12-31T23:30:00.000Z');
    expect(event.receivedAt).toMatch(ISO_UTC);
    const { alert } = await gqlOk<{ alert: { createdAt: string; lastSeenAt: string } }>(t.gql, 'query($id: ID!) { alert(id: $id) { createdAt lastSeenAt } }', { id: after.alert }, analyst.accessToken);
    expect(alert.createdAt).toBe('2026-01-01T00:30:00.000Z');
    expect(alert.lastSeenAt).toMatch(ISO_UTC);
    const { serverInfo } = await gqlOk<{ serverInfo: { time: string } }>(t.gql, '{ serverInfo { time } }');
    expect(serverInfo.time).toMatch(ISO_UTC);
  });
});
