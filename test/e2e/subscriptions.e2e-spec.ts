import { startTestApp, type TestApp } from '../helpers/app';
import { createStaff, gqlOk, signInAdmin, type SignedIn } from '../helpers/auth';
import { ingest, partnerWithToken } from '../helpers/monitoring';
import WebSocket from 'ws';
import { subscribe, waitFor } from '../helpers/subscriptions';
import { RateLimiter } from '../../src/common/rate-limit/rate-limiter.service';
import { configuredBucket, RATE_LIMITS } from '../../src/common/rate-limit/rate-limits';
import { APP_CONFIG } from '../../src/config/config.module';
import type { AppConfig } from '../../src/config/config';

describe('subscriptions over graphql-ws', () => {
  let t: TestApp;
  let url: string;
  let admin: SignedIn, co: SignedIn, am: SignedIn, otherAm: SignedIn, agent: SignedIn;
  let core: { id: string; token: string };

  beforeAll(async () => {
    t = await startTestApp();
    await t.app.listen(0, '127.0.0.1');
    const port = (t.app.getHttpServer().address() as { port: number }).port;
    url = `ws://127.0.0.1:${port}/graphql`;
    admin = await signInAdmin(t);
    [co, am, otherAm, agent] = [await createStaff(t, admin, 'COMPLIANCE_OFFICER'), await createStaff(t, admin, 'ACCOUNT_MANAGER'), await createStaff(t, admin, 'ACCOUNT_MANAGER'), await createStaff(t, admin, 'AGENT')];
    core = await partnerWithToken(t, admin, 'INTERNAL');
  }, 120_000);
  afterAll(() => t.close());

  it('pushes alerts by severity and row scope, and notifications to their owner only', async () => {
    const all = subscribe(url, co.accessToken, 'subscription { alertRaised { id severity rule { code } customer { externalRef email } } }');
    const critical = subscribe(url, co.accessToken, 'subscription { alertRaised(minSeverity: CRITICAL) { id } }');
    const mine = subscribe(url, am.accessToken, 'subscription { alertRaised { id } }');
    const notMine = subscribe(url, otherAm.accessToken, 'subscription { alertRaised { id } }');
    const notes = subscribe(url, am.accessToken, 'subscription { notificationReceived { kind eventId } }');
    const otherNotes = subscribe(url, otherAm.accessToken, 'subscription { notificationReceived { kind } }');
    await Promise.all([all.connected, critical.connected, mine.connected, notMine.connected, notes.connected, otherNotes.connected]);
    await new Promise((r) => setTimeout(r, 200));
    const c = (await gqlOk<{ createCustomer: { id: string } }>(t.gql, 'mutation($m: ID!) { createCustomer(input: {externalRef: "live-1", email: "live.person@example.test", accountManagerId: $m, transactionLimit: "100.00"}) { id } }', { m: am.userId }, co.accessToken)).createCustomer.id;
    const res = await ingest(t, core.token, [{ customerId: c, type: 'TRANSACTION', amount: '500.00' }]);
    expect(res.data!.ingestEvents[0]!.decision).toBe('HOLD');
    await waitFor(() => all.received.length >= 1 && mine.received.length >= 1 && notes.received.length >= 2);
    await new Promise((r) => setTimeout(r, 300));
    const alert = all.received[0].data!.alertRaised as { severity: string; rule: { code: string }; customer: { externalRef: string; email: string } };
    expect(alert).toMatchObject({ severity: 'HIGH', rule: { code: 'LARGE_TRANSACTION' }, customer: { externalRef: 'live-1', email: 'live.person@example.test' } });
    expect(critical.received).toHaveLength(0);
    expect(notMine.received).toHaveLength(0);
    expect(otherNotes.received).toHaveLength(0);
    expect(notes.received.map((n) => (n.data!.notificationReceived as { kind: string }).kind).sort()).toEqual(['ALERT_RAISED', 'HOLD_PLACED']);
    for (const s of [all, critical, mine, notMine, notes, otherNotes]) await s.client.dispose();
    // The officer's full-value read of the e-mail in the pushed payload was audited before it left.
    const { Client } = await import('pg');
    const sql = new Client({ connectionString: t.db.url });
    await sql.connect();
    const { rows } = await sql.query(`SELECT fields FROM audit_entry WHERE action = 'customer.read_pii' AND customer_id = $1 AND actor_id = $2`, [c, co.userId]);
    await sql.end();
    expect(rows).toEqual([{ fields: ['email'] }]);
  });

  it('pushes an alert as the call leaves it: repeated by a later event of the same call, the push shows every occurrence', async () => {
    const live = subscribe(url, co.accessToken, 'subscription { alertRaised { id occurrences firstSeenAt lastSeenAt customer { externalRef } } }');
    await live.connected;
    await new Promise((r) => setTimeout(r, 200));
    const c = (await gqlOk<{ createCustomer: { id: string } }>(t.gql, 'mutation { createCustomer(input: {externalRef: "live-repeat", transactionLimit: "100.00"}) { id } }', {}, co.accessToken)).createCustomer.id;
    const at = Math.floor(Date.now() / 1000) * 1000;
    const [earlier, later] = [new Date(at - 10 * 60_000).toISOString(), new Date(at - 5 * 60_000).toISOString()];
    const res = await ingest(t, core.token, [
      { customerId: c, type: 'TRANSACTION', amount: '500.00', occurredAt: earlier },
      { customerId: c, type: 'TRANSACTION', amount: '700.00', occurredAt: later },
    ]);
    expect(res.data!.ingestEvents.map((r) => r!.decision)).toEqual(['HOLD', 'HOLD']);
    await waitFor(() => live.received.some((m) => (m.data!.alertRaised as { customer: { externalRef: string } }).customer.externalRef === 'live-repeat'));
    await new Promise((r) => setTimeout(r, 200));
    const pushed = live.received.map((m) => m.data!.alertRaised as { id: string; occurrences: number; firstSeenAt: string; lastSeenAt: string; customer: { externalRef: string } }).filter((a) => a.customer.externalRef === 'live-repeat');
    expect(pushed).toEqual([{ id: expect.any(String), occurrences: 2, firstSeenAt: earlier, lastSeenAt: later, customer: { externalRef: 'live-repeat' } }]);
    await live.client.dispose();
  });

  it('refuses unauthenticated and unauthorised subscribers without ever sending a next with errors', async () => {
    const anon = subscribe(url, undefined, 'subscription { alertRaised { id } }');
    expect(await anon.closed).toBe(4401);
    expect(anon.received).toHaveLength(0);
    const bogus = subscribe(url, 'not-a-token', 'subscription { alertRaised { id } }');
    expect(await bogus.closed).toBe(4401);
    const forbidden = subscribe(url, agent.accessToken, 'subscription { alertRaised { id } }');
    await waitFor(() => forbidden.errors.length > 0);
    expect(forbidden.received).toHaveLength(0);
    expect(JSON.stringify(forbidden.errors)).toContain('FORBIDDEN');
    await forbidden.client.dispose();
  });

  it('charges each subscription once against the subscriber\'s operation limit, and refuses one past it with an error, never a next', async () => {
    const officer = await createStaff(t, admin, 'COMPLIANCE_OFFICER');
    const limit = t.app.get<AppConfig>(APP_CONFIG).rateLimits.staffOperations;
    const bucket = configuredBucket(RATE_LIMITS.staffOperations, limit);
    const limiter = t.app.get(RateLimiter);
    await limiter.reset(bucket, officer.userId);
    await limiter.consume(bucket, officer.userId, limit - 2);
    // Two operations left: one subscription each (charged when requested, not again when it starts).
    const first = subscribe(url, officer.accessToken, 'subscription { alertRaised { id } }');
    await first.connected;
    const on = (query: string) => {
      const sink = { received: [] as unknown[], errors: [] as unknown[] };
      first.client.subscribe({ query }, { next: (v) => sink.received.push(v), error: (e) => sink.errors.push(e), complete: () => undefined });
      return sink;
    };
    const second = on('subscription { alertRaised { id severity } }');
    await new Promise((r) => setTimeout(r, 300));
    const third = on('subscription { alertRaised { id rule { code } } }');
    await waitFor(() => third.errors.length > 0);
    expect(third.received).toEqual([]);
    expect(third.errors).toEqual([[expect.objectContaining({ extensions: expect.objectContaining({ code: 'RATE_LIMITED', retryAfterSeconds: expect.any(Number) }) })]]);
    // The first two are live on the same socket.
    const c = (await gqlOk<{ createCustomer: { id: string } }>(t.gql, 'mutation { createCustomer(input: {externalRef: "live-limited", transactionLimit: "100.00"}) { id } }', undefined, co.accessToken)).createCustomer.id;
    expect((await ingest(t, core.token, [{ customerId: c, type: 'TRANSACTION', amount: '500.00' }])).data!.ingestEvents[0]!.decision).toBe('HOLD');
    await waitFor(() => first.received.length >= 1 && second.received.length >= 1);
    expect([first.errors, second.errors, first.closeCode]).toEqual([[], [], undefined]);
    await first.client.dispose();
  });

  it('counts and audits a connection without a valid credential as an HTTP request without one, under the client\'s forwarded address', async () => {
    const { Client } = await import('pg');
    const sql = new Client({ connectionString: t.db.url });
    await sql.connect();
    try {
      const from = (ip: string, token?: string) => subscribe(url, token, 'subscription { alertRaised { id } }', {}, { headers: { 'x-forwarded-for': ip } });
      // TRUST_PROXY=loopback (the test app): the address is the one the proxy forwarded, as over HTTP.
      expect(await from('203.0.113.7', 'not-a-token').closed).toBe(4401);
      expect(await from('203.0.113.8').closed).toBe(4401);
      const entries = async (ip: string) =>
        (await sql.query(`SELECT action, outcome, actor_type, ip, request_id IS NOT NULL AS has_request, details FROM audit_entry WHERE ip = $1 UNION ALL SELECT action, outcome, actor_type, ip, request_id IS NOT NULL, details FROM audit_entry_pending WHERE ip = $1`, [ip])).rows;
      expect(await entries('203.0.113.7')).toEqual([{ action: 'auth.invalid_credential', outcome: 'DENIED', actor_type: 'ANONYMOUS', ip: '203.0.113.7', has_request: true, details: { path: '/graphql', transport: 'websocket' } }]);
      expect(await entries('203.0.113.8')).toEqual([{ action: 'access.denied', outcome: 'DENIED', actor_type: 'ANONYMOUS', ip: '203.0.113.8', has_request: true, details: { reason: 'UNAUTHENTICATED', transport: 'websocket' } }]);

      // One address's bucket (60 a minute, shared with HTTP): past it, 4429 and nothing more is written.
      const flood = '203.0.113.9';
      for (let i = 0; i < 60; i++) expect(await t.gql('{ me { id } }', undefined, { token: 'not-a-token', ip: flood }).then((r) => r.errors?.[0]?.extensions?.code)).toBe('UNAUTHENTICATED');
      expect(await from(flood, 'not-a-token').closed).toBe(4429);
      expect(await entries(flood)).toHaveLength(60);
      // A valid credential from that address still connects: only attempts without one are limited.
      const valid = from(flood, co.accessToken);
      await valid.connected;
      await valid.client.dispose();
    } finally {
      await sql.end();
    }
  });

  it('records what happens on a socket under the subscriber, with its forwarded address and user agent', async () => {
    const { Client } = await import('pg');
    const sql = new Client({ connectionString: t.db.url });
    await sql.connect();
    try {
      const feed = await partnerWithToken(t, admin, 'INTERNAL');
      const client = { 'x-forwarded-for': '203.0.113.41', 'user-agent': 'feed-monitor/2.0' };
      // A partner may not subscribe to alerts: refused, and recorded as that partner's denied access.
      const refused = subscribe(url, feed.token, 'subscription { alertRaised { id } }', {}, { headers: client });
      await refused.connected;
      await waitFor(() => refused.errors.length > 0);
      expect(JSON.stringify(refused.errors)).toContain('FORBIDDEN');
      await refused.client.dispose();
      const rows = async (action: string) =>
        (await sql.query(
          `SELECT actor_type, partner_id, ip, user_agent, request_id IS NOT NULL AS has_request FROM audit_entry WHERE action = $1 AND partner_id = $2
           UNION ALL SELECT actor_type, partner_id, ip, user_agent, request_id IS NOT NULL FROM audit_entry_pending WHERE action = $1 AND partner_id = $2`,
          [action, feed.id],
        )).rows;
      const expected = { actor_type: 'PARTNER', partner_id: feed.id, ip: '203.0.113.41', user_agent: 'feed-monitor/2.0', has_request: true };
      expect(await rows('access.denied')).toEqual([expected]);
      // The token's use from that address: recorded with it, so a later use from another network is told apart.
      expect(await rows('partner_token.use')).toEqual([expected]);
      expect((await sql.query('SELECT last_used_ip FROM partner_token WHERE partner_id = $1', [feed.id])).rows).toEqual([{ last_used_ip: '203.0.113.41' }]);
    } finally {
      await sql.end();
    }
  });

  it('reads root fields through fragments: allowed ones are served, forbidden ones still refused', async () => {
    const DOC = 'subscription { ...Live } fragment Live on Subscription { ... on Subscription { alertRaised { id } } }';
    const officer = subscribe(url, co.accessToken, DOC);
    const refused = subscribe(url, agent.accessToken, DOC);
    await Promise.all([officer.connected, refused.connected]);
    await waitFor(() => refused.errors.length > 0);
    expect(JSON.stringify(refused.errors)).toContain('FORBIDDEN');
    await new Promise((r) => setTimeout(r, 200));
    expect(officer.errors).toEqual([]);
    const c = (await gqlOk<{ createCustomer: { id: string } }>(t.gql, 'mutation { createCustomer(input: {externalRef: "live-fragment", transactionLimit: "100.00"}) { id } }', undefined, co.accessToken)).createCustomer.id;
    expect((await ingest(t, core.token, [{ customerId: c, type: 'TRANSACTION', amount: '500.00' }])).data!.ingestEvents[0]!.decision).toBe('HOLD');
    await waitFor(() => officer.received.length >= 1);
    expect(officer.received[0].data!.alertRaised).toEqual({ id: expect.any(String) });
    expect(refused.received).toHaveLength(0);
    await Promise.all([officer.client.dispose(), refused.client.dispose()]);
  });

  it('applies the query limits to subscription documents', async () => {
    let inner = 'id';
    for (let i = 0; i < 12; i++) inner = `customer { alerts { nodes { ${inner} } } }`;
    const deep = subscribe(url, co.accessToken, `subscription { alertRaised { ${inner} } }`);
    await waitFor(() => deep.errors.length > 0);
    // One error message carrying a single QUERY_TOO_COMPLEX error, however many nodes broke the depth limit.
    expect(deep.errors).toHaveLength(1);
    const [graphqlErrors] = deep.errors as Array<Array<{ extensions?: { code?: string } }>>;
    expect(graphqlErrors).toHaveLength(1);
    expect(graphqlErrors[0].extensions?.code).toBe('QUERY_TOO_COMPLEX');
    expect(deep.received).toHaveLength(0);
    await deep.client.dispose();
  });

  it('prices subscription documents as HTTP does: a selection over the cost limit is refused before any payload', async () => {
    // Depth 8, within the limit; 100 alerts × 100 events each is priced 10 000 and more, over the default 5 000.
    const costly = subscribe(url, co.accessToken, 'subscription { alertRaised { customer { alerts(first: 100) { nodes { customer { events(first: 100) { nodes { id } } } } } } } }');
    await waitFor(() => costly.errors.length > 0);
    expect(JSON.stringify(costly.errors)).toContain('QUERY_TOO_COMPLEX');
    expect(costly.received).toHaveLength(0);
    await costly.client.dispose();
    const cheap = subscribe(url, co.accessToken, 'subscription { alertRaised { customer { alerts(first: 10) { nodes { id } } } } }');
    await cheap.connected;
    await new Promise((r) => setTimeout(r, 300));
    expect(cheap.errors).toEqual([]);
    const c = (await gqlOk<{ createCustomer: { id: string } }>(t.gql, 'mutation { createCustomer(input: {externalRef: "live-cheap", transactionLimit: "100.00"}) { id } }', undefined, co.accessToken)).createCustomer.id;
    expect((await ingest(t, core.token, [{ customerId: c, type: 'TRANSACTION', amount: '500.00' }])).data!.ingestEvents[0]!.decision).toBe('HOLD');
    await waitFor(() => cheap.received.length >= 1);
    expect(cheap.received[0].data!.alertRaised).toEqual({ customer: { alerts: { nodes: [{ id: expect.any(String) }] } } });
    expect(cheap.errors).toEqual([]);
    await cheap.client.dispose();
  });

  it('serves subscriptions only: a query or a mutation over the socket is refused and never runs', async () => {
    const user = await createStaff(t, admin, 'ANALYST');
    // Over HTTP one request may sign in once; the socket must not become a way around that (or the per-IP counters).
    const signIns = subscribe(url, user.accessToken, 'mutation { a: login(input: {email: "x@custos.test", password: "wrong-password-1"}) { next } b: login(input: {email: "x@custos.test", password: "wrong-password-2"}) { next } }');
    const logout = subscribe(url, user.accessToken, 'mutation { logout }');
    const query = subscribe(url, user.accessToken, '{ me { id } }');
    await waitFor(() => signIns.errors.length > 0 && logout.errors.length > 0 && query.errors.length > 0);
    for (const s of [signIns, logout, query]) {
      expect(s.received).toHaveLength(0);
      expect(JSON.stringify(s.errors)).toContain('BAD_REQUEST');
      await s.client.dispose();
    }
    // The logout never ran: the session still works.
    expect((await gqlOk<{ me: { id: string } }>(t.gql, '{ me { id } }', undefined, user.accessToken)).me.id).toBe(user.userId);
  });

  it('closes the socket with 4401 when the token expires, on the dot rather than at the next periodic check', async () => {
    const expiresAt = new Date(Date.now() + 3_000).toISOString();
    const { issuePartnerToken } = await gqlOk<{ issuePartnerToken: { token: string } }>(
      t.gql,
      'mutation($p: ID!, $e: DateTime!) { issuePartnerToken(input: {partnerId: $p, name: "short-lived", scopes: ["events:write"], expiresAt: $e}) { token } }',
      { p: core.id, e: expiresAt },
      admin.accessToken,
    );
    const opened = Date.now();
    const s = subscribe(url, issuePartnerToken.token, 'subscription { notificationReceived { kind } }');
    await s.connected;
    const code = await Promise.race([s.closed, new Promise((r) => setTimeout(() => r('still open'), 10_000))]);
    expect(code).toBe(4401);
    // Well before the 15 s re-check: the expiry timer closed it.
    expect(Date.now() - opened).toBeLessThan(8_000);
    expect(Date.now()).toBeGreaterThanOrEqual(Date.parse(expiresAt) - 50);
  });

  it('bounds a socket message at 1 MB, as an HTTP body, even before the connection is authenticated', async () => {
    const closeCodeFor = (bytes: number) =>
      new Promise<number>((resolve, reject) => {
        const socket = new WebSocket(url, 'graphql-transport-ws');
        socket.on('open', () => socket.send(JSON.stringify({ type: 'connection_init', payload: { padding: 'x'.repeat(bytes) } })));
        socket.on('message', () => socket.close(1000)); // connection_ack (or error): the message was read
        socket.on('close', (code) => resolve(code));
        socket.on('error', reject);
      });
    expect(await closeCodeFor(2 * 1024 * 1024)).toBe(1009); // message too big
    expect(await closeCodeFor(900 * 1024)).not.toBe(1009);
  });

  it('delivers nothing raised after a logout: the socket closes at that payload, not at the next periodic check', async () => {
    const officer = await createStaff(t, admin, 'COMPLIANCE_OFFICER');
    const s = subscribe(url, officer.accessToken, 'subscription { alertRaised { id customer { externalRef email } } }');
    await s.connected;
    await new Promise((r) => setTimeout(r, 200));
    await gqlOk(t.gql, 'mutation { logout }', undefined, officer.accessToken);
    const started = Date.now();
    const c = (await gqlOk<{ createCustomer: { id: string } }>(t.gql, 'mutation { createCustomer(input: {externalRef: "live-after-logout", email: "gone@example.test", transactionLimit: "100.00"}) { id } }', undefined, co.accessToken)).createCustomer.id;
    expect((await ingest(t, core.token, [{ customerId: c, type: 'TRANSACTION', amount: '500.00' }])).data!.ingestEvents[0]!.decision).toBe('HOLD');
    expect(await Promise.race([s.closed, new Promise((r) => setTimeout(() => r('still open'), 10_000))])).toBe(4401);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(s.received).toHaveLength(0);
    await s.client.dispose();
  }, 30_000);

  it('closes the socket with 4401 when the session is revoked, and with 4403 when the role changes', async () => {
    const user = await createStaff(t, admin, 'ANALYST');
    const demoted = await createStaff(t, admin, 'ANALYST');
    const s = subscribe(url, user.accessToken, 'subscription { alertRaised { id } }');
    const d = subscribe(url, demoted.accessToken, 'subscription { alertRaised { id customer { externalRef } } }');
    await Promise.all([s.connected, d.connected]);
    await gqlOk(t.gql, 'mutation { logout }', undefined, user.accessToken);
    // Sessions survive a role change (the next HTTP request runs under the new role); the socket's ability
    // was built under the old one, so the socket ends.
    await gqlOk(t.gql, 'mutation($id: ID!) { updateUser(id: $id, input: {role: AUDITOR}) { role } }', { id: demoted.userId }, admin.accessToken);
    const within = (closed: Promise<unknown>) => Promise.race([closed, new Promise((r) => setTimeout(() => r('still open'), 20_000))]);
    expect(await Promise.all([within(s.closed), within(d.closed)])).toEqual([4401, 4403]);
    expect(d.received).toHaveLength(0);
    await Promise.all([s.client.dispose(), d.client.dispose()]);
  }, 30_000);

  describe('with GRAPHQL_MAX_SOCKETS_PER_PRINCIPAL=2', () => {
    let small: TestApp;
    let smallUrl: string;
    beforeAll(async () => {
      small = await startTestApp({ GRAPHQL_MAX_SOCKETS_PER_PRINCIPAL: '2' });
      await small.app.listen(0, '127.0.0.1');
      smallUrl = `ws://127.0.0.1:${(small.app.getHttpServer().address() as { port: number }).port}/graphql`;
    }, 60_000);
    afterAll(() => small.close());

    /** This instance's gauges on /metrics: open sockets, and live `alertRaised` subscriptions. */
    const gauges = async () => {
      const text = (await small.http().get('/metrics')).text;
      const read = (pattern: RegExp) => Number(pattern.exec(text)?.[1] ?? NaN);
      return { sockets: read(/^custos_graphql_sockets_open (\d+)$/m), alertRaised: read(/^custos_graphql_subscriptions_live\{field="alertRaised"\} (\d+)$/m) };
    };
    /** The gauges move just after a socket is acknowledged or a subscription starts or ends: polled, not slept for. */
    const gaugesReach = async (want: { sockets: number; alertRaised: number }) => {
      for (const deadline = Date.now() + 5_000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 50))) {
        if (JSON.stringify(await gauges()) === JSON.stringify(want)) return;
      }
      expect(await gauges()).toEqual(want);
    };

    it('closes a user\'s or a partner\'s socket past the cap with 4429, and frees a place when one closes', async () => {
      expect(await gauges()).toEqual({ sockets: 0, alertRaised: 0 });
      const smallAdmin = await signInAdmin(small);
      const [officer, other] = [await createStaff(small, smallAdmin, 'COMPLIANCE_OFFICER'), await createStaff(small, smallAdmin, 'COMPLIANCE_OFFICER')];
      const partner = await partnerWithToken(small, smallAdmin, 'INTERNAL');
      const open = (token: string) => subscribe(smallUrl, token, 'subscription { alertRaised { id } }');
      const first = open(officer.accessToken);
      const second = open(officer.accessToken);
      await Promise.all([first.connected, second.connected]);
      await gaugesReach({ sockets: 2, alertRaised: 2 });
      const third = open(officer.accessToken);
      expect(await third.closed).toBe(4429);
      // Someone else's sockets are counted apart.
      const others = open(other.accessToken);
      await others.connected;
      await gaugesReach({ sockets: 3, alertRaised: 3 }); // the refused socket is in neither gauge
      // A subscription the client completes is no longer live; its socket stays open.
      const stop = second.client.subscribe({ query: 'subscription { alertRaised { id } }' }, { next: () => undefined, error: () => undefined, complete: () => undefined });
      await gaugesReach({ sockets: 3, alertRaised: 4 });
      stop();
      await gaugesReach({ sockets: 3, alertRaised: 3 });
      // The refused socket took no place; a closed one gives its place back, once.
      await first.client.dispose();
      await waitFor(() => first.closeCode !== undefined);
      await gaugesReach({ sockets: 2, alertRaised: 2 });
      const again = open(officer.accessToken);
      await again.connected;
      const oneTooMany = open(officer.accessToken);
      expect(await oneTooMany.closed).toBe(4429);
      // A partner's sockets count together over its tokens.
      const secondToken = (await gqlOk<{ issuePartnerToken: { token: string } }>(
        small.gql,
        'mutation($p: ID!, $e: DateTime!) { issuePartnerToken(input: {partnerId: $p, name: "second", scopes: ["customers:read"], expiresAt: $e}) { token } }',
        { p: partner.id, e: new Date(Date.now() + 86_400_000).toISOString() },
        smallAdmin.accessToken,
      )).issuePartnerToken.token;
      const [p1, p2] = [open(partner.token), open(partner.token)];
      await Promise.all([p1.connected, p2.connected]);
      expect(await open(secondToken).closed).toBe(4429);
      // A partner may hold a socket but no subscription: refused subscriptions are never live.
      await waitFor(() => p1.errors.length > 0 && p2.errors.length > 0);
      await gaugesReach({ sockets: 5, alertRaised: 3 });
      for (const s of [second, others, again, p1, p2]) {
        expect(s.closeCode).toBeUndefined();
        await s.client.dispose();
      }
      await gaugesReach({ sockets: 0, alertRaised: 0 });
    }, 30_000);
  });
});
