import { DiscoveryService, MetadataScanner, Reflector } from '@nestjs/core';
import { GraphQLSchemaHost } from '@nestjs/graphql';
import { AUTHENTICATED, POLICY } from '../../src/access/policy.decorator';
import { IS_PUBLIC } from '../../src/access/public.decorator';
import { Client } from 'pg';
import { startTestApp, type TestApp } from '../helpers/app';
import { lockWaiters } from '../helpers/postgres';
import { createStaff, gqlOk, signInAdmin, type SignedIn } from '../helpers/auth';
import { partnerWithToken } from '../helpers/monitoring';

const codeOf = (res: { errors?: Array<{ extensions?: Record<string, unknown> }> }) => res.errors?.[0]?.extensions?.code;

describe('access: deny by default', () => {
  let t: TestApp;
  let admin: SignedIn;

  beforeAll(async () => {
    t = await startTestApp();
    admin = await signInAdmin(t);
  });
  afterAll(() => t.close());

  it('every query, mutation and subscription declares @Public, @Authenticated or @Policy', () => {
    const discovery = t.app.get(DiscoveryService);
    const scanner = t.app.get(MetadataScanner);
    const reflector = t.app.get(Reflector);
    const declared = new Map<string, string>();
    const undeclared: string[] = [];
    for (const wrapper of discovery.getProviders()) {
      const instance = wrapper.instance as Record<string, unknown> | undefined;
      // Scan every provider: resolver metadata lives on the handler methods.
      if (!instance || typeof instance !== 'object') continue;
      for (const method of scanner.getAllMethodNames(Object.getPrototypeOf(instance))) {
        const handler = (instance as Record<string, unknown>)[method] as object;
        const type = Reflect.getMetadata('graphql:resolver_type', handler) as string | undefined;
        if (!type || !['Query', 'Mutation', 'Subscription'].includes(type)) continue;
        const name = (Reflect.getMetadata('graphql:resolver_name', handler) as string | undefined) ?? method;
        const targets = [handler as never, instance.constructor as never];
        const kind = reflector.getAllAndOverride(IS_PUBLIC, targets) ? 'public'
          : reflector.getAllAndOverride(AUTHENTICATED, targets) ? 'authenticated'
          : reflector.getAllAndOverride(POLICY, targets) ? 'policy' : undefined;
        if (kind) declared.set(`${type}.${name}`, kind);
        else undeclared.push(`${type}.${name}`);
      }
    }
    expect(undeclared).toEqual([]);
    // Every root field of the served schema was found above, so nothing escaped the walk.
    const { schema } = t.app.get(GraphQLSchemaHost);
    const served = ['Query', 'Mutation', 'Subscription'].flatMap((root) => {
      const type = schema.getType(root) as { getFields?: () => Record<string, unknown> } | undefined;
      return type?.getFields ? Object.keys(type.getFields()).map((f) => `${root}.${f}`) : [];
    });
    expect(served.filter((op) => !declared.has(op))).toEqual([]);
    expect(served.length).toBeGreaterThan(20);
  });

  it('non-admin staff get FORBIDDEN on admin operations, and the denial is audited', async () => {
    const analyst = await createStaff(t, admin, 'ANALYST');
    const res = await t.gql('mutation { createUser(input: {email: "x@custos.test", displayName: "X", role: ADMIN, initialPassword: "whatever-long-pass"}) { id } }', undefined, { token: analyst.accessToken });
    expect(codeOf(res)).toBe('FORBIDDEN');
    expect(res.data).toBeNull();
    for (const q of ['{ users { totalCount } }', '{ partners { totalCount } }', 'mutation { resetUserMfa(id: "00000000-0000-0000-0000-000000000000") { id } }']) {
      expect(codeOf(await t.gql(q, undefined, { token: analyst.accessToken }))).toBe('FORBIDDEN');
    }
    const { rows } = await (async () => {
      const { Client } = await import('pg');
      const c = new Client({ connectionString: t.db.url });
      await c.connect();
      const r = await c.query(`SELECT action, outcome, resource_id FROM audit_entry WHERE actor_id = $1 AND outcome = 'DENIED'`, [analyst.userId]);
      await c.end();
      return r;
    })();
    expect(rows.map((r) => r.resource_id)).toEqual(expect.arrayContaining(['createUser', 'users', 'partners', 'resetUserMfa']));
  });

  it('checks authorisation before validating input', async () => {
    const agent = await createStaff(t, admin, 'AGENT');
    const res = await t.gql('mutation { createUser(input: {email: "not-an-email", displayName: " ", role: ADMIN, initialPassword: "x"}) { id } }', undefined, { token: agent.accessToken });
    expect(codeOf(res)).toBe('FORBIDDEN');
  });

  it('refuses protected operations without credentials', async () => {
    expect(codeOf(await t.gql('{ me { id } }'))).toBe('UNAUTHENTICATED');
    expect(codeOf(await t.gql('{ users { totalCount } }'))).toBe('UNAUTHENTICATED');
  });

  it('shows other users only id, displayName and role; email to ADMIN and to the user themself', async () => {
    const agent = await createStaff(t, admin, 'AGENT');
    const other = await t.gql<{ user: { id: string; displayName: string; role: string; email: string | null } }>('query($id: ID!) { user(id: $id) { id displayName role email } }', { id: admin.userId }, { token: agent.accessToken });
    expect(other.data!.user).toEqual({ id: admin.userId, displayName: 'Administrator', role: 'ADMIN', email: null });
    expect(other.errors).toEqual([expect.objectContaining({ path: ['user', 'email'], extensions: { code: 'FORBIDDEN' } })]);
    const self = await t.gql<{ user: { email: string } }>('query($id: ID!) { user(id: $id) { email } }', { id: agent.userId }, { token: agent.accessToken });
    expect(self.data!.user.email).toBe(agent.email);
    const byAdmin = await gqlOk<{ user: { email: string } }>(t.gql, 'query($id: ID!) { user(id: $id) { email } }', { id: agent.userId }, admin.accessToken);
    expect(byAdmin.user.email).toBe(agent.email);
  });

  it('a grant of some fields does not open the operation: a partner cannot look up users or events, valid id or not', async () => {
    // A partner sees the id of a user or event it meets nested in other results, and nothing at the top
    // level: no answer tells an existing staff id from an absent one, and authorization comes before validation.
    const partner = await partnerWithToken(t, admin, 'INTERNAL');
    for (const [query, vars] of [
      ['query($id: ID!) { user(id: $id) { id } }', { id: admin.userId }],
      ['query($id: ID!) { user(id: $id) { id } }', { id: '00000000-0000-0000-0000-000000000000' }],
      ['{ user(id: "nope") { id } }', undefined],
      ['{ event(id: "nope") { id } }', undefined],
      ['{ event(id: "00000000-0000-0000-0000-000000000000") { id } }', undefined],
      ['{ events(first: 500) { totalCount } }', undefined],
      ['{ events { totalCount } }', undefined],
    ] as const) {
      const res = await t.gql(query, vars, { token: partner.token });
      expect([query, vars, codeOf(res), res.data?.user ?? res.data?.event ?? res.data?.events ?? null]).toEqual([query, vars, 'FORBIDDEN', null]);
    }
  });

  it('answers NOT_FOUND for an absent user and BAD_USER_INPUT for a malformed id', async () => {
    expect(codeOf(await t.gql('{ user(id: "00000000-0000-0000-0000-000000000000") { id } }', undefined, { token: admin.accessToken }))).toBe('NOT_FOUND');
    expect(codeOf(await t.gql('{ user(id: "nope") { id } }', undefined, { token: admin.accessToken }))).toBe('BAD_USER_INPUT');
  });

  it('paginates users with opaque cursors and refuses first > 100 and malformed cursors', async () => {
    for (let i = 0; i < 3; i++) await createStaff(t, admin, 'AGENT');
    const all = await gqlOk<{ users: { totalCount: number } }>(t.gql, '{ users { totalCount } }', undefined, admin.accessToken);
    const seen: string[] = [];
    let after: string | null = null;
    do {
      const page: { users: { nodes: Array<{ id: string }>; pageInfo: { hasNextPage: boolean; endCursor: string | null } } } = await gqlOk(t.gql, 'query($a: String) { users(first: 2, after: $a) { nodes { id } pageInfo { hasNextPage endCursor } } }', { a: after }, admin.accessToken);
      seen.push(...page.users.nodes.map((n) => n.id));
      after = page.users.pageInfo.hasNextPage ? page.users.pageInfo.endCursor : null;
    } while (after);
    expect(seen).toHaveLength(all.users.totalCount);
    expect(new Set(seen).size).toBe(seen.length);
    expect(codeOf(await t.gql('{ users(first: 101) { totalCount } }', undefined, { token: admin.accessToken }))).toBe('BAD_USER_INPUT');
    expect(codeOf(await t.gql('{ users(after: "zzz") { totalCount } }', undefined, { token: admin.accessToken }))).toBe('BAD_USER_INPUT');
    const filtered = await gqlOk<{ users: { nodes: Array<{ role: string }> } }>(t.gql, '{ users(filter: {role: AGENT}) { nodes { role } } }', undefined, admin.accessToken);
    expect(new Set(filtered.users.nodes.map((u) => u.role))).toEqual(new Set(['AGENT'])); // non-empty, and only agents
  });

  it('rejects invalid createUser input with per-field messages', async () => {
    const res = await t.gql('mutation { createUser(input: {email: "bad", displayName: "   ", role: AGENT, initialPassword: "password1234"}) { id } }', undefined, { token: admin.accessToken });
    expect(res.errors?.[0].extensions).toMatchObject({ code: 'BAD_USER_INPUT' });
    const paths = (res.errors![0].extensions!.fieldErrors as Array<{ path: string; message: string }>).map((e) => e.path).sort();
    expect(paths).toEqual(['displayName', 'email']);
    const weak = await t.gql('mutation { createUser(input: {email: "weak@custos.test", displayName: "W", role: AGENT, initialPassword: "password1234"}) { id } }', undefined, { token: admin.accessToken });
    expect(weak.errors?.[0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', fieldErrors: [{ path: 'initialPassword', message: 'is too common' }] });
    const dup = await t.gql('mutation($e: String!) { createUser(input: {email: $e, displayName: "D", role: AGENT, initialPassword: "a-fine-long-passphrase"}) { id } }', { e: admin.email.toUpperCase() }, { token: admin.accessToken });
    expect(codeOf(dup)).toBe('CONFLICT');
  });

  it('the last active ADMIN cannot disable themself', async () => {
    const res = await t.gql('mutation($id: ID!) { updateUser(id: $id, input: {disabled: true}) { id } }', { id: admin.userId }, { token: admin.accessToken });
    expect(codeOf(res)).toBe('CONFLICT');
  });

  it('two admins disabling each other at once leave one of them active', async () => {
    const [a, b] = [await createStaff(t, admin, 'ADMIN'), await createStaff(t, admin, 'ADMIN')];
    const DISABLE = 'mutation($id: ID!) { updateUser(id: $id, input: {disabled: true}) { id } }';
    await gqlOk(t.gql, DISABLE, { id: admin.userId }, a.accessToken);
    // Both requests pass their checks, then wait on their sessions' rows (revoked with the account), held here,
    // so each has counted the other as active before either commits.
    const side = new Client({ connectionString: t.db.url });
    await side.connect();
    try {
      await side.query('BEGIN');
      await side.query(`SELECT 1 FROM auth_session WHERE user_id = ANY($1::uuid[]) FOR UPDATE`, [[a.userId, b.userId]]);
      const racing = [t.gql(DISABLE, { id: b.userId }, { token: a.accessToken }), t.gql(DISABLE, { id: a.userId }, { token: b.accessToken })];
      expect(await lockWaiters(side, 2)).toBeGreaterThanOrEqual(2);
      await side.query('COMMIT');
      const codes = (await Promise.all(racing)).map((r) => codeOf(r) ?? 'OK').sort();
      expect(codes).toEqual(['CONFLICT', 'OK']);
      const { rows } = await side.query(`SELECT count(*)::int AS n FROM app_user WHERE role = 'ADMIN' AND disabled_at IS NULL`);
      expect(rows[0].n).toBe(1);
    } finally {
      await side.end();
    }
  });
});

describe('access: an admin cannot change its own role; the last active ADMIN survives concurrent demotions', () => {
  let t: TestApp;
  let admin: SignedIn;
  let sql: Client;
  /** An active admin to act with: the survivor of the previous race. */
  let lead: SignedIn;

  beforeAll(async () => {
    t = await startTestApp();
    admin = await signInAdmin(t);
    lead = admin;
    sql = new Client({ connectionString: t.db.url });
    await sql.connect();
  });
  afterAll(async () => {
    await sql.end();
    await t.close();
  });

  const UPDATE = 'mutation($id: ID!, $i: UpdateUserInput!) { updateUser(id: $id, input: $i) { id role disabled } }';
  const userRow = async (id: string) => (await sql.query(`SELECT role, display_name, disabled_at, updated_at FROM app_user WHERE id = $1`, [id])).rows[0];
  const activeAdmins = async () => (await sql.query(`SELECT id FROM app_user WHERE role = 'ADMIN' AND disabled_at IS NULL ORDER BY id`)).rows.map((r) => r.id as string);

  it('an admin changing its own role gets CONFLICT and nothing changes, even with another admin active', async () => {
    // Another active admin, so the last-admin rule would not stop this: the self rule does.
    const other = await createStaff(t, admin, 'ADMIN');
    const before = await userRow(admin.userId);
    for (const role of ['ANALYST', 'AUDITOR']) {
      const res = await t.gql(UPDATE, { id: admin.userId, i: { role, displayName: 'Renamed In Passing' } }, { token: admin.accessToken });
      expect([role, codeOf(res), res.data ?? null]).toEqual([role, 'CONFLICT', null]);
      expect(res.errors?.[0].message).toBe('You cannot disable your own account or change your own role');
    }
    expect(await userRow(admin.userId)).toEqual(before);
    const audited = await sql.query(`SELECT count(*)::int AS n FROM audit_entry WHERE action = 'user.update' AND resource_id = $1`, [admin.userId]);
    expect(audited.rows[0].n).toBe(0);
    // Still an admin with the same token, on this request and the next.
    expect((await gqlOk<{ me: { role: string } }>(t.gql, '{ me { role } }', undefined, admin.accessToken)).me.role).toBe('ADMIN');
    expect((await t.gql('{ users { totalCount } }', undefined, { token: admin.accessToken })).errors).toBeUndefined();
    // The other admin is not bound by the self rule: it may rename this one (and restating one's own role is no change).
    expect((await gqlOk<{ updateUser: { role: string } }>(t.gql, UPDATE, { id: admin.userId, i: { displayName: 'Administrator' } }, other.accessToken)).updateUser.role).toBe('ADMIN');
    expect((await gqlOk<{ updateUser: { role: string } }>(t.gql, UPDATE, { id: admin.userId, i: { role: 'ADMIN' } }, admin.accessToken)).updateUser.role).toBe('ADMIN');
  });

  it('an account manager keeps the role while customers are theirs: CONFLICT on role, allowed once they are reassigned', async () => {
    const [am, co] = [await createStaff(t, admin, 'ACCOUNT_MANAGER'), await createStaff(t, admin, 'COMPLIANCE_OFFICER')];
    const { createCustomer } = await gqlOk<{ createCustomer: { id: string } }>(t.gql, 'mutation($i: CreateCustomerInput!) { createCustomer(input: $i) { id } }', { i: { externalRef: `managed-${Date.now()}`, accountManagerId: am.userId } }, co.accessToken);
    const before = await userRow(am.userId);
    const refused = await t.gql(UPDATE, { id: am.userId, i: { role: 'ANALYST' } }, { token: admin.accessToken });
    expect(codeOf(refused)).toBe('CONFLICT');
    expect(refused.errors?.[0].message).toContain('account manager of 1 customer');
    expect(refused.errors?.[0].extensions?.field).toBe('role');
    expect(await userRow(am.userId)).toEqual(before);
    // Other changes of the same user are not affected.
    expect((await gqlOk<{ updateUser: { role: string } }>(t.gql, UPDATE, { id: am.userId, i: { displayName: 'Still Managing' } }, admin.accessToken)).updateUser.role).toBe('ACCOUNT_MANAGER');
    await gqlOk(t.gql, 'mutation($id: ID!) { updateCustomer(id: $id, input: {accountManagerId: null}) { id } }', { id: createCustomer.id }, co.accessToken);
    expect((await gqlOk<{ updateUser: { role: string } }>(t.gql, UPDATE, { id: am.userId, i: { role: 'ANALYST' } }, admin.accessToken)).updateUser.role).toBe('ANALYST');
  });

  // The last-admin rule never applies on a sequential path the self rule leaves open: the actor of an updateUser
  // is an active ADMIN (role and disabled state are re-read for every request), so when it targets another admin
  // it is itself the other active admin. Only two admins acting on each other at once reach the rule.
  it.each([
    ['demote', 'demote'],
    ['disable', 'demote'],
  ])('two admins, the only active ones, at once: A %ss B while B %ss A — exactly one succeeds, one admin stays', async (aDoes, bDoes) => {
    const [a, b] = [await createStaff(t, lead, 'ADMIN'), await createStaff(t, lead, 'ADMIN')];
    for (const id of await activeAdmins()) if (id !== a.userId && id !== b.userId) await gqlOk(t.gql, UPDATE, { id, i: { disabled: true } }, a.accessToken);
    expect(await activeAdmins()).toEqual([a.userId, b.userId].sort());
    const change = (what: string) => (what === 'demote' ? { role: 'AGENT' } : { disabled: true });
    // Both pass the guard and the self rule, then the first to take the admins' lock waits on the target's session
    // rows (held here) while the other waits on that lock: both are in flight before either commits.
    const side = new Client({ connectionString: t.db.url });
    await side.connect();
    let results: Awaited<ReturnType<typeof t.gql>>[];
    try {
      await side.query('BEGIN');
      await side.query(`SELECT 1 FROM auth_session WHERE user_id = ANY($1::uuid[]) FOR UPDATE`, [[a.userId, b.userId]]);
      const racing = [t.gql(UPDATE, { id: b.userId, i: change(aDoes) }, { token: a.accessToken }), t.gql(UPDATE, { id: a.userId, i: change(bDoes) }, { token: b.accessToken })];
      const waiting = await lockWaiters(side, 2);
      await side.query('COMMIT');
      // Two are due. Under load, CI has seen requests of these race tests not reach the database within the
      // 20 s lockWaiters allows (it prints what every backend was doing); the outcome checks below hold either way.
      expect(waiting).toBeGreaterThanOrEqual(1);
      results = await Promise.all(racing);
    } finally {
      await side.end();
    }
    expect(results.map((r) => codeOf(r) ?? 'OK').sort()).toEqual(['CONFLICT', 'OK']);
    const refused = results.find((r) => r.errors)!;
    expect(refused.errors![0].message).toBe('The last active ADMIN cannot be disabled or demoted');
    expect(refused.data ?? null).toBeNull();
    // The refused change left its target untouched: it is the one active admin left.
    const survivor = results[0] === refused ? b : a;
    const loser = survivor === a ? b : a;
    expect(await activeAdmins()).toEqual([survivor.userId]);
    const applied = loser === b ? aDoes : bDoes;
    const lost = await userRow(loser.userId);
    expect([lost.role, lost.disabled_at]).toEqual(applied === 'demote' ? ['AGENT', null] : ['ADMIN', expect.any(Date)]);
    expect((await t.gql('{ users { totalCount } }', undefined, { token: survivor.accessToken })).errors).toBeUndefined();
    expect(codeOf(await t.gql('{ users { totalCount } }', undefined, { token: loser.accessToken }))).toBe(applied === 'demote' ? 'FORBIDDEN' : 'UNAUTHENTICATED');
    lead = survivor;
  });
});
