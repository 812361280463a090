import { Client } from 'pg';
import type { TestApp } from '../helpers/app';
import { createStaff, gqlOk, type SignedIn, startAppWithAdmin, stopAppWithAdmin } from '../helpers/auth';
import { lockWaiters, spyOnQueries } from '../helpers/postgres';

const codeOf = (res: { errors?: Array<{ extensions?: Record<string, unknown> }> }) => res.errors?.[0]?.extensions?.code;
const CREATE = `mutation($i: CreatePartnerInput!) { createPartner(input: $i) { id name trustLevel allowedScopes eventsPerMinute suspended agreementExpiresAt } }`;
const ISSUE = `mutation($i: IssuePartnerTokenInput!) { issuePartnerToken(input: $i) { token tokenInfo { id prefix scopes expiresAt lastUsedAt } } }`;
const SUSPEND = 'mutation($id: ID!, $s: Boolean!) { updatePartner(id: $id, input: {suspended: $s}) { suspended } }';
const ASSESS = 'mutation($i: RecordPartnerAssessmentInput!) { recordPartnerAssessment(input: $i) { suspended } }';
const future = (days: number) => new Date(Date.now() + days * 86_400_000).toISOString();

describe('identity: partners and partner tokens', () => {
  let t: TestApp;
  let admin: SignedIn;
  let sql: Client;
  let n = 0;

  beforeAll(async () => ({ t, admin, sql } = await startAppWithAdmin()));
  afterAll(() => stopAppWithAdmin({ t, sql }));

  async function partner(overrides: Record<string, unknown> = {}) {
    const input = { name: `Partner ${++n}`, contactEmail: 'ops@partner.test', trustLevel: 'EXTERNAL', allowedScopes: ['customers:read', 'events:write'], agreementSignedAt: new Date(Date.now() - 86_400_000).toISOString(), agreementExpiresAt: future(365), ...overrides };
    return (await gqlOk<{ createPartner: { id: string; eventsPerMinute: number } }>(t.gql, CREATE, { i: input }, admin.accessToken)).createPartner;
  }
  async function token(partnerId: string, scopes = ['events:write'], expiresAt = future(30)) {
    return (await gqlOk<{ issuePartnerToken: { token: string; tokenInfo: { id: string; prefix: string } } }>(t.gql, ISSUE, { i: { partnerId, name: 'feed', scopes, expiresAt } }, admin.accessToken)).issuePartnerToken;
  }
  /** Any authenticated request as the partner: an empty ingest call (its tokens carry events:write). */
  const probe = (tok: string) => t.gql<{ ingestEvents: unknown[] }>('mutation { ingestEvents(events: []) { decision } }', undefined, { token: tok });

  it('creates partners with trust-level throughput defaults and refuses duplicates and bad input', async () => {
    const p = await partner();
    expect(p.eventsPerMinute).toBe(100_000);
    expect((await partner({ trustLevel: 'INTERNAL' })).eventsPerMinute).toBe(3_000_000);
    const dup = await t.gql(CREATE, { i: { name: `partner ${n}`, contactEmail: 'x@y.test', trustLevel: 'EXTERNAL', allowedScopes: [], agreementSignedAt: '2026-01-01T00:00:00Z', agreementExpiresAt: '2027-01-01T00:00:00Z' } }, { token: admin.accessToken });
    expect(codeOf(dup)).toBe('CONFLICT');
    const bad = await t.gql(CREATE, { i: { name: '   ', contactEmail: 'not-an-email', trustLevel: 'EXTERNAL', allowedScopes: ['root:all'], agreementSignedAt: '2026-01-01T00:00:00Z', agreementExpiresAt: '2027-01-01T00:00:00Z' } }, { token: admin.accessToken });
    expect(codeOf(bad)).toBe('BAD_USER_INPUT');
    const paths = (bad.errors![0].extensions!.fieldErrors as Array<{ path: string }>).map((e) => e.path).sort();
    expect(paths).toEqual(['allowedScopes', 'contactEmail', 'name']);
  });

  it('issues ptk_ tokens shown once, stored only as a digest, within the partner scopes and agreement', async () => {
    const p = await partner();
    const issued = await token(p.id);
    expect(issued.token).toMatch(/^ptk_[A-Za-z0-9_-]{8}_[A-Za-z0-9_-]{43}$/);
    // The prefix is the token's public id, no part of its 256-bit secret.
    expect(issued.tokenInfo.prefix).toBe(issued.token.slice(0, 12));
    expect(issued.token.slice(13)).not.toContain(issued.tokenInfo.prefix.slice(4));
    const { rows } = await sql.query('SELECT token_digest FROM partner_token WHERE id = $1', [issued.tokenInfo.id]);
    expect(rows[0].token_digest).not.toContain(issued.token.slice(4));
    const outside = await t.gql(ISSUE, { i: { partnerId: p.id, name: 'x', scopes: ['complaints:write'], expiresAt: future(10) } }, { token: admin.accessToken });
    expect(outside.errors?.[0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', fieldErrors: [{ path: 'scopes' }] });
    const beyond = await t.gql(ISSUE, { i: { partnerId: p.id, name: 'x', scopes: ['events:write'], expiresAt: future(400) } }, { token: admin.accessToken });
    expect(beyond.errors?.[0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', fieldErrors: [{ path: 'expiresAt' }] });
  });

  it('a valid token authenticates and records lastUsedAt; it may not look users up', async () => {
    const p = await partner();
    const issued = await token(p.id);
    const res = await probe(issued.token);
    expect(res.errors).toBeUndefined();
    expect(res.data!.ingestEvents).toEqual([]);
    // A partner sees the id of a user it meets in other results (an account manager), never a user lookup.
    const lookup = await t.gql('query($id: ID!) { user(id: $id) { id } }', { id: admin.userId }, { token: issued.token });
    expect([codeOf(lookup), lookup.data]).toEqual(['FORBIDDEN', { user: null }]);
    const { rows } = await sql.query('SELECT last_used_at FROM partner_token WHERE id = $1', [issued.tokenInfo.id]);
    expect(rows[0].last_used_at).not.toBeNull();
  });

  it('a partner cannot call staff operations (FORBIDDEN)', async () => {
    const p = await partner();
    const issued = await token(p.id);
    expect(codeOf(await t.gql('{ me { id } }', undefined, { token: issued.token }))).toBe('FORBIDDEN');
    expect(codeOf(await t.gql('{ partners { totalCount } }', undefined, { token: issued.token }))).toBe('FORBIDDEN');
  });

  it('revoked, expired, suspended, agreement-expired and FAIL-assessed tokens stop working on the next request', async () => {
    const revokedP = await partner();
    const revoked = await token(revokedP.id);
    expect((await probe(revoked.token)).errors).toBeUndefined();
    await gqlOk(t.gql, 'mutation($id: ID!) { revokePartnerToken(id: $id) { revokedAt } }', { id: revoked.tokenInfo.id }, admin.accessToken);
    expect(codeOf(await probe(revoked.token))).toBe('UNAUTHENTICATED');

    const expiredP = await partner();
    const expired = await token(expiredP.id);
    await sql.query(`UPDATE partner_token SET expires_at = now() - interval '1 second' WHERE id = $1`, [expired.tokenInfo.id]);
    expect(codeOf(await probe(expired.token))).toBe('UNAUTHENTICATED');

    const suspendedP = await partner();
    const suspended = await token(suspendedP.id);
    await gqlOk(t.gql, 'mutation($id: ID!) { updatePartner(id: $id, input: {suspended: true}) { suspended } }', { id: suspendedP.id }, admin.accessToken);
    expect(codeOf(await probe(suspended.token))).toBe('UNAUTHENTICATED');
    await gqlOk(t.gql, 'mutation($id: ID!) { updatePartner(id: $id, input: {suspended: false}) { suspended } }', { id: suspendedP.id }, admin.accessToken);
    expect((await probe(suspended.token)).errors).toBeUndefined();

    const agreementP = await partner();
    const agreement = await token(agreementP.id);
    await sql.query(`UPDATE partner SET agreement_expires_at = now() - interval '1 second' WHERE id = $1`, [agreementP.id]);
    expect(codeOf(await probe(agreement.token))).toBe('UNAUTHENTICATED');

    const failP = await partner();
    const fail = await token(failP.id);
    const assessed = await gqlOk<{ recordPartnerAssessment: { suspended: boolean; lastAssessment: { result: string } } }>(
      t.gql,
      'mutation($i: RecordPartnerAssessmentInput!) { recordPartnerAssessment(input: $i) { suspended lastAssessment { result } } }',
      { i: { partnerId: failP.id, result: 'FAIL', notes: 'pen test findings open' } },
      admin.accessToken,
    );
    expect(assessed.recordPartnerAssessment).toEqual({ suspended: true, lastAssessment: { result: 'FAIL' } });
    expect(codeOf(await probe(fail.token))).toBe('UNAUTHENTICATED');
  });

  describe('a manual suspension and a failed assessment are independent', () => {
    const suspend = (id: string, s: boolean) => t.gql<{ updatePartner: { suspended: boolean } }>(SUSPEND, { id, s }, { token: admin.accessToken });
    const assess = async (partnerId: string, result: string) =>
      (await gqlOk<{ recordPartnerAssessment: { suspended: boolean } }>(t.gql, ASSESS, { i: { partnerId, result } }, admin.accessToken)).recordPartnerAssessment.suspended;

    it('ADMIN suspends, FAIL, then PASS: the manual suspension holds until an ADMIN lifts it', async () => {
      const p = await partner();
      const issued = await token(p.id);
      expect((await suspend(p.id, true)).data).toEqual({ updatePartner: { suspended: true } });
      expect(await assess(p.id, 'FAIL')).toBe(true);
      expect(await assess(p.id, 'PASS')).toBe(true);
      expect(codeOf(await probe(issued.token))).toBe('UNAUTHENTICATED');
      expect((await suspend(p.id, false)).data).toEqual({ updatePartner: { suspended: false } });
      expect((await probe(issued.token)).errors).toBeUndefined();
    });

    it('FAIL, then ADMIN suspends, then CONDITIONAL: the manual suspension is recorded and holds', async () => {
      const p = await partner();
      const issued = await token(p.id);
      expect(await assess(p.id, 'FAIL')).toBe(true);
      expect((await suspend(p.id, true)).data).toEqual({ updatePartner: { suspended: true } });
      // An ADMIN cannot lift the assessment's suspension with the toggle (unchanged).
      expect(codeOf(await suspend(p.id, false))).toBe('CONFLICT');
      expect(await assess(p.id, 'CONDITIONAL')).toBe(true);
      expect(codeOf(await probe(issued.token))).toBe('UNAUTHENTICATED');
      expect((await suspend(p.id, false)).data).toEqual({ updatePartner: { suspended: false } });
      expect((await probe(issued.token)).errors).toBeUndefined();
    });

    it('a FAIL committing while updatePartner(suspended: false) runs is not undone by it', async () => {
      const p = await partner();
      const issued = await token(p.id);
      await gqlOk(t.gql, SUSPEND, { id: p.id, s: true }, admin.accessToken);
      // Hold the partner row (not its key, so the assessment row can still be inserted): the FAIL queues on
      // its update first, then the lift; the FAIL commits before the lift gets the row.
      const side = new Client({ connectionString: t.db.url });
      await side.connect();
      let lifted: Awaited<ReturnType<typeof suspend>>;
      try {
        await side.query('BEGIN');
        await side.query('SELECT id FROM partner WHERE id = $1 FOR NO KEY UPDATE', [p.id]);
        const failing = t.gql(ASSESS, { i: { partnerId: p.id, result: 'FAIL' } }, { token: admin.accessToken });
        expect(await lockWaiters(sql, 1)).toBeGreaterThanOrEqual(1);
        const lifting = suspend(p.id, false);
        expect(await lockWaiters(sql, 2)).toBeGreaterThanOrEqual(2);
        await side.query('COMMIT');
        expect((await failing).errors).toBeUndefined();
        lifted = await lifting;
      } finally {
        await side.end();
      }
      expect(codeOf(lifted)).toBe('CONFLICT');
      expect(codeOf(await probe(issued.token))).toBe('UNAUTHENTICATED');
    });
  });

  it('narrowing the partner scopes narrows its existing tokens', async () => {
    const p = await partner({ allowedScopes: ['customers:read', 'events:write'] });
    const issued = await token(p.id, ['customers:read', 'events:write']);
    await gqlOk(t.gql, 'mutation($id: ID!) { updatePartner(id: $id, input: {allowedScopes: ["events:write"]}) { allowedScopes } }', { id: p.id }, admin.accessToken);
    const { rows } = await sql.query(`SELECT scopes FROM partner_token WHERE id = $1`, [issued.tokenInfo.id]);
    expect(rows[0].scopes).toEqual(['customers:read', 'events:write']);
    // The stored token keeps its list, but only the partner's remaining scopes take effect.
    expect((await probe(issued.token)).errors).toBeUndefined();
    expect(codeOf(await t.gql('{ customers(first: 1) { totalCount } }', undefined, { token: issued.token }))).toBe('FORBIDDEN');
  });

  it('lists partners with their tokens, paginated; only ADMIN may', async () => {
    const page1 = await gqlOk<{ partners: { nodes: Array<{ id: string; tokens: { totalCount: number } }>; pageInfo: { hasNextPage: boolean; endCursor: string }; totalCount: number } }>(
      t.gql, '{ partners(first: 2) { nodes { id tokens(first: 5) { totalCount nodes { prefix } } } pageInfo { hasNextPage endCursor } totalCount } }', undefined, admin.accessToken);
    expect(page1.partners.nodes).toHaveLength(2);
    expect(page1.partners.pageInfo.hasNextPage).toBe(true);
    const page2 = await gqlOk<{ partners: { nodes: Array<{ id: string }> } }>(t.gql, 'query($a: String) { partners(first: 2, after: $a) { nodes { id } } }', { a: page1.partners.pageInfo.endCursor }, admin.accessToken);
    expect(page2.partners.nodes.map((p) => p.id)).not.toContain(page1.partners.nodes[0].id);
    const analyst = await createStaff(t, admin, 'ANALYST');
    expect(codeOf(await t.gql('{ partners { totalCount } }', undefined, { token: analyst.accessToken }))).toBe('FORBIDDEN');
  });

  it("reads a page of partners, their latest assessments and a page of each one's tokens in a fixed number of statements", async () => {
    const LIST = `query($a: String) { partners(first: 100, after: $a) { nodes { id lastAssessment { result notes }
      tokens(first: 2) { totalCount nodes { id prefix createdAt revokedAt } pageInfo { hasNextPage endCursor } } } pageInfo { endCursor } } }`;
    type Page = { partners: { nodes: Array<{ id: string; lastAssessment: { result: string; notes: string | null } | null; tokens: { totalCount: number; nodes: Array<{ id: string; prefix: string; createdAt: string }>; pageInfo: { hasNextPage: boolean; endCursor: string } } }>; pageInfo: { endCursor: string } } };
    const start = (await gqlOk<Page>(t.gql, LIST, undefined, admin.accessToken)).partners.pageInfo.endCursor;
    const statements = async () => {
      const spy = spyOnQueries(t.app);
      try {
        const page = await gqlOk<Page>(t.gql, LIST, { a: start }, admin.accessToken);
        // Only the list's own reads: the session check and other bookkeeping run now and then, not per partner.
        return { page, count: spy.mock.calls.filter(([text]) => /\bpartner(_assessment|_token)?\b/.test(String(text))).length };
      } finally {
        spy.mockRestore();
      }
    };
    const made: Array<{ id: string; tokens: string[] }> = [];
    const add = async (k: number) => {
      for (let i = 0; i < k; i++) {
        const p = await partner();
        const tokens = [(await token(p.id)).tokenInfo.id, (await token(p.id)).tokenInfo.id, (await token(p.id)).tokenInfo.id];
        // Two assessments: the later one is the partner's latest.
        await gqlOk(t.gql, ASSESS, { i: { partnerId: p.id, result: 'CONDITIONAL', notes: 'first look' } }, admin.accessToken);
        await gqlOk(t.gql, ASSESS, { i: { partnerId: p.id, result: 'PASS', notes: `latest ${p.id}` } }, admin.accessToken);
        made.push({ id: p.id, tokens });
      }
    };
    await add(2);
    const small = await statements();
    await add(4);
    const large = await statements();
    expect(large.page.partners.nodes).toHaveLength(6);
    expect(large.count).toBe(small.count);
    expect(large.count).toBeLessThanOrEqual(4); // the page and its count, the assessments, the token pages and their counts
    for (const [i, node] of large.page.partners.nodes.entries()) {
      expect(node.id).toBe(made[i].id);
      expect(node.lastAssessment).toEqual({ result: 'PASS', notes: `latest ${made[i].id}` });
      expect(node.tokens.totalCount).toBe(3);
      expect(node.tokens.nodes.map((tk) => tk.id)).toEqual(made[i].tokens.slice(0, 2));
      expect(node.tokens.pageInfo.hasNextPage).toBe(true);
    }
    // The cursor of a batched token page continues where it stopped.
    const first = large.page.partners.nodes[0];
    const rest = await gqlOk<{ partners: { nodes: Array<{ id: string; tokens: { nodes: Array<{ id: string }>; pageInfo: { hasNextPage: boolean } } }> } }>(
      t.gql, 'query($a: String, $t: String) { partners(first: 1, after: $a) { nodes { id tokens(first: 2, after: $t) { nodes { id } pageInfo { hasNextPage } } } } }', { a: start, t: first.tokens.pageInfo.endCursor }, admin.accessToken);
    expect(rest.partners.nodes[0].tokens).toEqual({ nodes: [{ id: made[0].tokens[2] }], pageInfo: { hasNextPage: false } });
  });

  it('a token acts only within its scopes', async () => {
    const p = await partner({ allowedScopes: ['customers:read', 'customers:write', 'events:write'] });
    const eventsOnly = await token(p.id, ['events:write']);
    const readWrite = await token(p.id, ['customers:read', 'customers:write']);
    const create = 'mutation { createCustomer(input: {externalRef: "scope-probe-1"}) { id } }';
    expect(codeOf(await t.gql(create, undefined, { token: eventsOnly.token }))).toBe('FORBIDDEN');
    expect(codeOf(await t.gql('{ customers { totalCount } }', undefined, { token: eventsOnly.token }))).toBe('FORBIDDEN');
    expect((await t.gql(create, undefined, { token: readWrite.token })).errors).toBeUndefined();
    expect((await t.gql<{ customers: { totalCount: number } }>('{ customers { totalCount } }', undefined, { token: readWrite.token })).data!.customers.totalCount).toBe(1);
    expect(codeOf(await t.gql('mutation { ingestEvents(events: []) { decision } }', undefined, { token: readWrite.token }))).toBe('FORBIDDEN');
  });
});
