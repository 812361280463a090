import { DiscoveryService, MetadataScanner, Reflector } from '@nestjs/core';
import { GraphQLSchemaHost } from '@nestjs/graphql';
import { AUTHENTICATED, POLICY } from '../../src/access/policy.decorator';
import { IS_PUBLIC } from '../../src/access/public.decorator';
import { Client } from 'pg';
import { startTestApp, type TestApp } from '../helpers/app';
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
    expect(filtered.users.nodes.every((u) => u.role === 'AGENT')).toBe(true);
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
      for (let i = 0; i < 100; i++) {
        const { rows } = await side.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`);
        if (rows[0].n >= 2) break;
        await new Promise((r) => setTimeout(r, 50));
      }
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
