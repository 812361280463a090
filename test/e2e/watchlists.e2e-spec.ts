import { Client } from 'pg';
import { startTestApp, type TestApp } from '../helpers/app';
import { createStaff, gqlOk, signInAdmin, type SignedIn } from '../helpers/auth';
import { ingest, partnerWithToken } from '../helpers/monitoring';

const codeOf = (res: { errors?: Array<{ extensions?: Record<string, unknown> }> }) => res.errors?.[0]?.extensions?.code;
const fieldPaths = (res: { errors?: Array<{ extensions?: Record<string, unknown> }> }) =>
  ((res.errors?.[0]?.extensions?.fieldErrors ?? []) as Array<{ path: string }>).map((e) => e.path);
/** The rule engine re-checks its cache stamp at most once a second (for changes made by other instances). */
const pastStampTtl = () => new Promise((r) => setTimeout(r, 1100));

const CREATE = 'mutation($i: CreateWatchlistInput!) { createWatchlist(input: $i) { id code name entryCount createdAt updatedAt entries(first: 100) { nodes { value } totalCount pageInfo { hasNextPage endCursor } } } }';
const UPDATE = 'mutation($i: UpdateWatchlistEntriesInput!) { updateWatchlistEntries(input: $i) { id code entryCount updatedAt entries(first: 100) { nodes { value } totalCount } } }';
const ONE = 'query($c: String!, $first: Int, $after: String) { watchlist(code: $c) { id code name entryCount entries(first: $first, after: $after) { nodes { value } totalCount pageInfo { hasNextPage endCursor } } } }';

interface WatchlistView {
  id: string;
  code: string;
  name: string;
  entryCount: number;
  updatedAt: string;
  entries: { nodes: Array<{ value: string }>; totalCount: number; pageInfo: { hasNextPage: boolean; endCursor: string | null } };
}

describe('watchlists', () => {
  let t: TestApp;
  let sql: Client;
  let admin: SignedIn, co: SignedIn, analyst: SignedIn, agent: SignedIn, auditor: SignedIn;
  let core: { id: string; token: string };
  let n = 0;

  const customer = async () =>
    (await gqlOk<{ createCustomer: { id: string } }>(t.gql, 'mutation($i: CreateCustomerInput!) { createCustomer(input: $i) { id } }', { i: { externalRef: `wl-${++n}`, transactionLimit: '1000.00', dailyLimit: '5000.00' } }, co.accessToken)).createCustomer.id;
  const create = (input: Record<string, unknown>, token = co.accessToken) => t.gql<{ createWatchlist: WatchlistView }>(CREATE, { i: input }, { token });
  const update = (input: Record<string, unknown>, token = co.accessToken) => t.gql<{ updateWatchlistEntries: WatchlistView }>(UPDATE, { i: input }, { token });
  const alertCodes = async (customerId: string) =>
    (await gqlOk<{ alerts: { nodes: Array<{ rule: { code: string } }> } }>(t.gql, 'query($c: ID!) { alerts(filter: {customerId: $c}) { nodes { rule { code } } } }', { c: customerId }, co.accessToken)).alerts.nodes.map((a) => a.rule.code);

  beforeAll(async () => {
    t = await startTestApp();
    sql = new Client({ connectionString: t.db.url });
    await sql.connect();
    admin = await signInAdmin(t);
    [co, analyst, agent, auditor] = [await createStaff(t, admin, 'COMPLIANCE_OFFICER'), await createStaff(t, admin, 'ANALYST'), await createStaff(t, admin, 'AGENT'), await createStaff(t, admin, 'AUDITOR')];
    core = await partnerWithToken(t, admin, 'INTERNAL');
  }, 120_000);
  afterAll(async () => {
    await sql.end();
    await t.close();
  });

  it('creates a watchlist with trimmed, de-duplicated entries, and refuses an existing code', async () => {
    const res = await create({ code: 'TEST_DEVICES', name: '  Known mule devices ', entries: [' dev-b', 'dev-a ', 'dev-b', 'dev-c'] });
    expect(res.errors).toBeUndefined();
    expect(res.data!.createWatchlist).toMatchObject({
      code: 'TEST_DEVICES',
      name: 'Known mule devices',
      entryCount: 3,
      entries: { nodes: [{ value: 'dev-a' }, { value: 'dev-b' }, { value: 'dev-c' }], totalCount: 3, pageInfo: { hasNextPage: false } },
    });
    const again = await create({ code: 'TEST_DEVICES', name: 'Again', entries: [] });
    expect(again.errors?.[0].extensions).toMatchObject({ code: 'CONFLICT' });
    // Entries are optional: a list may start empty.
    expect((await create({ code: 'TEST_EMPTY', name: 'Empty' })).data!.createWatchlist).toMatchObject({ entryCount: 0, entries: { nodes: [], totalCount: 0 } });

    const audit = await sql.query(`SELECT details, resource_id FROM audit_entry WHERE action = 'watchlist.create' ORDER BY id`);
    expect(audit.rows[0]).toEqual({ resource_id: res.data!.createWatchlist.id, details: { code: 'TEST_DEVICES', entries: 3, entryCount: 3 } });
    expect(JSON.stringify(audit.rows)).not.toContain('dev-a');
  });

  it('validates code, name and entries, naming the bad entry by index', async () => {
    const bad = async (input: Record<string, unknown>) => {
      const res = await create({ code: 'TEST_VALID', name: 'Valid', ...input });
      expect(codeOf(res)).toBe('BAD_USER_INPUT');
      return fieldPaths(res);
    };
    expect(await bad({ code: 'lower_case' })).toEqual(['code']);
    expect(await bad({ code: 'X' })).toEqual(['code']);
    expect(await bad({ code: `A${'B'.repeat(64)}` })).toEqual(['code']);
    expect(await bad({ name: '   ' })).toEqual(['name']);
    expect(await bad({ entries: ['ok', '  ', 'x'.repeat(201), 'NUL\u0000'] })).toEqual(['entries.1', 'entries.2', 'entries.3']);
    expect(await bad({ entries: Array.from({ length: 10_001 }, (_, i) => `CP-${i}`) })).toEqual(['entries']);
    expect(codeOf(await t.gql(ONE, { c: 'TEST_VALID' }, { token: co.accessToken }))).toBe('NOT_FOUND');
  });

  it('takes 10 000 entries in one call', async () => {
    const entries = Array.from({ length: 10_000 }, (_, i) => `BULK-${String(i).padStart(5, '0')}`);
    const res = await create({ code: 'TEST_BULK', name: 'Bulk', entries });
    expect(res.errors).toBeUndefined();
    expect(res.data!.createWatchlist).toMatchObject({ entryCount: 10_000, entries: { totalCount: 10_000, pageInfo: { hasNextPage: true } } });
    expect(res.data!.createWatchlist.entries.nodes[99]).toEqual({ value: 'BULK-00099' });
  });

  it('adds and removes entries, ignoring ones already present or absent, and moves updatedAt', async () => {
    const created = (await create({ code: 'TEST_CHANGES', name: 'Changes', entries: ['A1', 'A2'] })).data!.createWatchlist;
    const res = await update({ code: 'TEST_CHANGES', add: ['A2', ' A3 ', 'A3'], remove: ['A1', 'NOT-THERE'] });
    expect(res.errors).toBeUndefined();
    expect(res.data!.updateWatchlistEntries).toMatchObject({ id: created.id, entryCount: 2, entries: { nodes: [{ value: 'A2' }, { value: 'A3' }], totalCount: 2 } });
    expect(Date.parse(res.data!.updateWatchlistEntries.updatedAt)).toBeGreaterThan(Date.parse(created.updatedAt));
    const onlyRemove = await update({ code: 'TEST_CHANGES', remove: ['A2'] });
    expect(onlyRemove.data!.updateWatchlistEntries).toMatchObject({ entryCount: 1, entries: { nodes: [{ value: 'A3' }] } });
    expect(Date.parse(onlyRemove.data!.updateWatchlistEntries.updatedAt)).toBeGreaterThan(Date.parse(res.data!.updateWatchlistEntries.updatedAt));

    const audit = await sql.query(`SELECT details FROM audit_entry WHERE action = 'watchlist.update' AND resource_id = $1 ORDER BY id`, [created.id]);
    expect(audit.rows.map((r) => r.details)).toEqual([
      { code: 'TEST_CHANGES', requestedAdd: 2, requestedRemove: 2, added: 1, removed: 1, entryCount: 2 },
      { code: 'TEST_CHANGES', requestedAdd: 0, requestedRemove: 1, added: 0, removed: 1, entryCount: 1 },
    ]);

    expect(codeOf(await update({ code: 'TEST_UNKNOWN', add: ['X'] }))).toBe('NOT_FOUND');
    expect(fieldPaths(await update({ code: 'TEST_CHANGES' }))).toEqual(['add']);
    expect(fieldPaths(await update({ code: 'TEST_CHANGES', add: ['B'], remove: [' B'] }))).toEqual(['remove']);
    expect(fieldPaths(await update({ code: 'TEST_CHANGES', add: ['ok'], remove: [''] }))).toEqual(['remove.0']);
    expect(fieldPaths(await update({ code: 'TEST_CHANGES', add: Array.from({ length: 6000 }, (_, i) => `P${i}`), remove: Array.from({ length: 4001 }, (_, i) => `Q${i}`) }))).toEqual(['add']);
    expect(codeOf(await update({ code: 'bad code', add: ['X'] }))).toBe('BAD_USER_INPUT');
  });

  it('is for COMPLIANCE_OFFICER only, authorisation before validation', async () => {
    for (const who of [analyst, agent, auditor, admin]) {
      expect(codeOf(await create({ code: 'TEST_DENIED', name: 'Denied', entries: ['X'] }, who.accessToken))).toBe('FORBIDDEN');
      expect(codeOf(await create({ code: 'not valid', name: '' }, who.accessToken))).toBe('FORBIDDEN');
      expect(codeOf(await update({ code: 'SANCTIONED_COUNTERPARTIES', add: ['X'] }, who.accessToken))).toBe('FORBIDDEN');
      expect(codeOf(await t.gql('{ watchlists { totalCount } }', undefined, { token: who.accessToken }))).toBe('FORBIDDEN');
      expect(codeOf(await t.gql(ONE, { c: 'SANCTIONED_COUNTERPARTIES' }, { token: who.accessToken }))).toBe('FORBIDDEN');
    }
    expect(codeOf(await create({ code: 'TEST_DENIED', name: 'Denied' }, core.token))).toBe('FORBIDDEN');
    expect(codeOf(await t.gql('{ watchlists { totalCount } }', undefined, { token: core.token }))).toBe('FORBIDDEN');
    expect(codeOf(await t.gql('{ watchlists { totalCount } }'))).toBe('UNAUTHENTICATED');
    const { rows } = await sql.query(`SELECT count(*)::int AS n FROM watchlist WHERE code = 'TEST_DENIED'`);
    expect(rows[0].n).toBe(0);
    // The refused additions left the sanctions list as it was.
    const added = await sql.query(`SELECT count(*)::int AS n FROM watchlist_entry e JOIN watchlist w ON w.id = e.watchlist_id WHERE w.code = 'SANCTIONED_COUNTERPARTIES' AND e.value = 'X'`);
    expect(added.rows[0].n).toBe(0);
  });

  it('lists watchlists by code and pages through entries, values of any length included', async () => {
    const long = ['Ж'.repeat(200), `${'"'.repeat(199)}z`, '😀'.repeat(200), `${'Ж'.repeat(199)}Я`];
    const values = [...long, ...Array.from({ length: 7 }, (_, i) => `V${i}`)];
    await create({ code: 'TEST_PAGES', name: 'Pages', entries: values });
    const seen: string[] = [];
    const cursors: string[] = [];
    let after: string | null = null;
    let pages = 0;
    do {
      // One entry a page: every value, the longest included, ends a page and makes a cursor.
      const res: { watchlist: WatchlistView } = await gqlOk(t.gql, ONE, { c: 'TEST_PAGES', first: 1, after }, co.accessToken);
      expect(res.watchlist.entries.totalCount).toBe(values.length);
      seen.push(...res.watchlist.entries.nodes.map((e) => e.value));
      cursors.push(res.watchlist.entries.pageInfo.endCursor!);
      after = res.watchlist.entries.pageInfo.hasNextPage ? res.watchlist.entries.pageInfo.endCursor : null;
      pages++;
    } while (after && pages < 20);
    expect(pages).toBe(values.length);
    expect(cursors.every((c) => c.length <= 512)).toBe(true);
    // The long values' cursors carry a prefix and a digest rather than the value itself.
    expect(cursors.filter((c) => (JSON.parse(Buffer.from(c, 'base64url').toString()) as string[])[1] !== '')).toHaveLength(long.length);
    expect(new Set(seen).size).toBe(values.length);
    expect([...seen].sort()).toEqual([...values].sort());
    expect(codeOf(await t.gql(ONE, { c: 'TEST_PAGES', after: 'bm90LWEtY3Vyc29y' }, { token: co.accessToken }))).toBe('BAD_USER_INPUT');

    const all = await gqlOk<{ watchlists: { totalCount: number; nodes: Array<{ code: string; entryCount: number; entries: { nodes: Array<{ value: string }> } }> } }>(
      t.gql, '{ watchlists(first: 100) { totalCount nodes { code entryCount entries(first: 1) { nodes { value } } } } }', undefined, co.accessToken);
    const codes = all.watchlists.nodes.map((w) => w.code);
    expect(codes).toEqual([...codes].sort());
    expect(codes).toContain('SANCTIONED_COUNTERPARTIES');
    expect(all.watchlists.totalCount).toBe(codes.length);
    expect(all.watchlists.nodes.find((w) => w.code === 'TEST_PAGES')).toEqual({ code: 'TEST_PAGES', entryCount: values.length, entries: { nodes: [{ value: seen[0] }] } });
    const first = await gqlOk<{ watchlists: { nodes: Array<{ code: string }>; pageInfo: { endCursor: string } } }>(t.gql, '{ watchlists(first: 1) { nodes { code } pageInfo { endCursor } } }', undefined, co.accessToken);
    const second = await gqlOk<{ watchlists: { nodes: Array<{ code: string }> } }>(t.gql, 'query($a: String) { watchlists(first: 1, after: $a) { nodes { code } } }', { a: first.watchlists.pageInfo.endCursor }, co.accessToken);
    expect([...first.watchlists.nodes, ...second.watchlists.nodes].map((w) => w.code)).toEqual(codes.slice(0, 2));
  });

  it('blocks a transaction with a counterparty added to SANCTIONED_COUNTERPARTIES, and allows it again once removed', async () => {
    const c = await customer();
    const pay = (ref: string, type = 'TRANSACTION') => ingest(t, core.token, [{ customerId: c, type, amount: '10.00', currency: 'EUR', counterpartyRef: ref }]);
    expect((await pay('CP-SANCTIONED-1')).data!.ingestEvents[0]!.decision).toBe('ALLOW');

    expect((await update({ code: 'SANCTIONED_COUNTERPARTIES', add: ['CP-SANCTIONED-1'] })).errors).toBeUndefined();
    await pastStampTtl();
    expect((await pay('CP-SANCTIONED-1')).data!.ingestEvents[0]!.decision).toBe('BLOCK');
    expect((await pay('CP-SANCTIONED-1', 'PAYMENT')).data!.ingestEvents[0]!.decision).toBe('BLOCK');
    expect((await pay('CP-HARMLESS')).data!.ingestEvents[0]!.decision).toBe('ALLOW');
    expect(await alertCodes(c)).toEqual(['WATCHLIST_COUNTERPARTY']);

    expect((await update({ code: 'SANCTIONED_COUNTERPARTIES', remove: ['CP-SANCTIONED-1'] })).errors).toBeUndefined();
    await pastStampTtl();
    expect((await pay('CP-SANCTIONED-1')).data!.ingestEvents[0]!.decision).toBe('ALLOW');
  });

  it('refuses a rule condition naming a watchlist that does not exist, on createRule and updateRule, naming the node', async () => {
    const CREATE_RULE = 'mutation($i: CreateRuleInput!) { createRule(input: $i) { id version status condition } }';
    const UPDATE_RULE = 'mutation($id: ID!, $i: UpdateRuleInput!) { updateRule(id: $id, input: $i) { id version status name condition } }';
    const onList = (code: string) => ({ compare: { left: { field: 'counterpartyRef' }, op: 'in', right: { list: code } } });
    const rule = (code: string, condition: unknown) => ({ code, name: 'Watchlist rule', eventTypes: ['TRANSACTION'], severity: 'HIGH', actions: ['RAISE_ALERT'], condition });
    const refused = (res: { errors?: Array<{ message: string; extensions?: Record<string, unknown> }> }) => {
      expect(codeOf(res)).toBe('BAD_USER_INPUT');
      expect(res.errors![0].message).toMatch(/^Invalid rule condition: condition\.\S+ names no watchlist: create TEST_MISSING/);
      return res.errors![0].extensions!.fieldErrors;
    };

    // create: a missing code anywhere — here beside an existing one and inside an aggregate's where.
    const nested = {
      all: [
        onList('SANCTIONED_COUNTERPARTIES'),
        { compare: { left: { aggregate: { fn: 'count', eventTypes: ['TRANSACTION'], window: 'P1D', where: { not: onList('TEST_MISSING_MULES') } } }, op: 'gte', right: { value: 3 } } },
        { compare: { left: { field: 'deviceId' }, op: 'notIn', right: { list: 'TEST_MISSING_DEVICES' } } },
      ],
    };
    expect(refused(await t.gql(CREATE_RULE, { i: rule('TEST_LIST_RULE', nested) }, { token: co.accessToken }))).toEqual([
      { path: 'condition.all.1.compare.left.aggregate.where.not.compare.right.list', message: 'names no watchlist: create TEST_MISSING_MULES with createWatchlist first' },
      { path: 'condition.all.2.compare.right.list', message: 'names no watchlist: create TEST_MISSING_DEVICES with createWatchlist first' },
    ]);
    // Checked after the shape: a malformed condition still gets its own errors first.
    expect(fieldPaths(await t.gql(CREATE_RULE, { i: rule('TEST_LIST_RULE', { compare: { left: { field: 'counterpartyRef' }, op: 'in', right: { list: 7 } } }) }, { token: co.accessToken })))
      .toEqual(['condition.compare.right.list']);
    expect((await sql.query(`SELECT count(*)::int AS n FROM rule WHERE code = 'TEST_LIST_RULE'`)).rows[0].n).toBe(0);

    // Once the watchlists exist, the same condition is accepted.
    await create({ code: 'TEST_MISSING_MULES', name: 'Mules' });
    await create({ code: 'TEST_MISSING_DEVICES', name: 'Devices' });
    const draft = await gqlOk<{ createRule: { id: string; version: number; status: string } }>(t.gql, CREATE_RULE, { i: rule('TEST_LIST_RULE', nested) }, co.accessToken);
    expect(draft.createRule).toMatchObject({ version: 1, status: 'DRAFT' });

    // update of a DRAFT (edited in place): refused, and the draft keeps its condition.
    expect(refused(await t.gql(UPDATE_RULE, { id: draft.createRule.id, i: { condition: onList('TEST_MISSING_X') } }, { token: co.accessToken }))).toEqual([
      { path: 'condition.compare.right.list', message: 'names no watchlist: create TEST_MISSING_X with createWatchlist first' },
    ]);
    expect((await sql.query(`SELECT condition FROM rule WHERE id = $1`, [draft.createRule.id])).rows[0].condition).toEqual(nested);
    // An update that leaves the condition alone is not re-checked against the watchlists.
    expect((await gqlOk<{ updateRule: { name: string } }>(t.gql, UPDATE_RULE, { id: draft.createRule.id, i: { name: 'Renamed' } }, co.accessToken)).updateRule.name).toBe('Renamed');

    // update of an ACTIVE rule (would draft version N+1): refused, and no version is drafted.
    const { rules } = await gqlOk<{ rules: { nodes: Array<{ id: string }> } }>(t.gql, '{ rules(filter: {code: "WATCHLIST_COUNTERPARTY", status: ACTIVE}) { nodes { id } } }', undefined, co.accessToken);
    expect(refused(await t.gql(UPDATE_RULE, { id: rules.nodes[0].id, i: { condition: onList('TEST_MISSING_SANCTIONS') } }, { token: co.accessToken }))).toEqual([
      { path: 'condition.compare.right.list', message: 'names no watchlist: create TEST_MISSING_SANCTIONS with createWatchlist first' },
    ]);
    expect((await sql.query(`SELECT count(*)::int AS n FROM rule WHERE code = 'WATCHLIST_COUNTERPARTY'`)).rows[0].n).toBe(1);
    const v2 = await gqlOk<{ updateRule: { version: number; status: string } }>(t.gql, UPDATE_RULE, { id: rules.nodes[0].id, i: { condition: onList('TEST_MISSING_MULES') } }, co.accessToken);
    expect(v2.updateRule).toMatchObject({ version: 2, status: 'DRAFT' }); // a draft: version 1 stays the one that runs

    // A draft stored before codes were checked on save (written here straight into the table) cannot be
    // activated while it names a missing list; nothing is retired or activated.
    await sql.query(`UPDATE rule SET condition = $2 WHERE id = $1`, [draft.createRule.id, JSON.stringify(onList('TEST_MISSING_LEGACY'))]);
    const activation = await t.gql('mutation($id: ID!) { activateRule(id: $id) { status } }', { id: draft.createRule.id }, { token: co.accessToken });
    expect(refused(activation)).toEqual([{ path: 'condition.compare.right.list', message: 'names no watchlist: create TEST_MISSING_LEGACY with createWatchlist first' }]);
    expect((await sql.query(`SELECT status FROM rule WHERE id = $1`, [draft.createRule.id])).rows[0].status).toBe('DRAFT');
  });

  it('offers no way to delete a watchlist, so a list a rule reads cannot disappear from under it', async () => {
    const { data } = await t.gql<{ __schema: { mutationType: { fields: Array<{ name: string }> } } }>('{ __schema { mutationType { fields { name } } } }', undefined, { token: co.accessToken });
    expect(data!.__schema.mutationType.fields.map((f) => f.name).filter((n) => /watchlist/i.test(n)).sort()).toEqual(['createWatchlist', 'updateWatchlistEntries']);
  });

  it('sees a change another instance committed within about a second (the cache stamp watches watchlist.updated_at)', async () => {
    const c = await customer();
    const pay = async () => (await ingest(t, core.token, [{ customerId: c, type: 'TRANSACTION', amount: '10.00', counterpartyRef: 'CP-ELSEWHERE' }])).data!.ingestEvents[0]!.decision;
    expect(await pay()).toBe('ALLOW');
    // What another instance's updateWatchlistEntries commits, without this instance's local invalidation.
    await sql.query(`INSERT INTO watchlist_entry (watchlist_id, value) SELECT id, 'CP-ELSEWHERE' FROM watchlist WHERE code = 'SANCTIONED_COUNTERPARTIES'`);
    await sql.query(`UPDATE watchlist SET updated_at = greatest(clock_timestamp(), updated_at + interval '1 millisecond') WHERE code = 'SANCTIONED_COUNTERPARTIES'`);
    await pastStampTtl();
    expect(await pay()).toBe('BLOCK');
  });

  it('sees a rule version another instance activated even when its stamp is older than the newest active rule', async () => {
    const c = await customer();
    const pay = async () => {
      const res = await ingest(t, core.token, [{ customerId: c, type: 'TRANSACTION', amount: '10.00' }]);
      expect(res.errors).toBeUndefined();
      return res.data!.ingestEvents[0]!.decision;
    };
    const version = (v: number, threshold: number, status: string) =>
      sql.query(
        `INSERT INTO rule (code, version, name, event_types, condition, severity, actions, status, updated_at, activated_at)
         VALUES ('TEST_STAMP', $1, 'stamp', '{TRANSACTION}', $2, 'LOW', '{HOLD_TRANSACTION}', $3, '2000-01-01T00:00:00Z', now())`,
        [v, JSON.stringify({ compare: { left: { field: 'amount' }, op: 'gt', right: { value: threshold } } }), status],
      );
    await version(1, 1000000, 'ACTIVE');
    await pastStampTtl();
    expect(await pay()).toBe('ALLOW');
    // Another instance activates v2 in v1's place: as many active rules as before, and both stamped before the
    // newest of them (a transaction that started earlier commits later), so neither count nor time moved.
    await sql.query('BEGIN');
    await sql.query(`UPDATE rule SET status = 'RETIRED', retired_at = now() WHERE code = 'TEST_STAMP' AND version = 1`);
    await version(2, 5, 'ACTIVE');
    await sql.query('COMMIT');
    await pastStampTtl();
    expect(await pay()).toBe('HOLD');
    await sql.query(`UPDATE rule SET status = 'RETIRED', retired_at = now() WHERE code = 'TEST_STAMP'`);
  });
});
