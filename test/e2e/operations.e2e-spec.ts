import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { DataSource } from 'typeorm';
import { startTestApp, type TestApp } from '../helpers/app';
import { MAX_OPERATION_LABELS } from '../../src/graphql/plugins';
import { gqlOk, signInAdmin } from '../helpers/auth';
import { ingest, partnerWithToken } from '../helpers/monitoring';

describe('operations endpoints', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(() => t.close());

  it('reports liveness', async () => {
    const res = await t.http().get('/health/live');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ status: 'ok' });
  });

  it('reports readiness: database up and migrations applied', async () => {
    const res = await t.http().get('/health/ready');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ status: 'ok', database: 'up', migrations: 'applied' });
  });

  it('answers probes that arrive while a readiness check runs with that check, not one check each', async () => {
    const dataSource = t.app.get(DataSource);
    const query = dataSource.query.bind(dataSource);
    // The database answering slowly, so that the probes overlap.
    const spy = jest.spyOn(dataSource, 'query').mockImplementation(async (text: string, params?: unknown[]) => {
      if (text === 'SELECT 1') await new Promise((r) => setTimeout(r, 300));
      return query(text, params);
    });
    try {
      const answers = await Promise.all(Array.from({ length: 10 }, () => t.http().get('/health/ready')));
      expect(answers.map((a) => [a.status, a.body])).toEqual(answers.map(() => [200, { status: 'ok', database: 'up', migrations: 'applied' }]));
      const checks = spy.mock.calls.filter(([text]) => text === 'SELECT 1').length;
      expect(checks).toBeGreaterThanOrEqual(1);
      expect(checks).toBeLessThanOrEqual(2);
      // The next probe after them checks again.
      expect((await t.http().get('/health/ready')).status).toBe(200);
      expect(spy.mock.calls.filter(([text]) => text === 'SELECT 1')).toHaveLength(checks + 1);
    } finally {
      spy.mockRestore();
    }
  });

  it('exposes Prometheus metrics with GraphQL latency by operation name', async () => {
    await t.gql('query ServerProbe { serverInfo { version } }');
    const res = await t.http().get('/metrics');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/text\/plain/);
    expect(res.text).toMatch(/custos_graphql_operation_duration_seconds_count\{operation="ServerProbe",type="query",outcome="ok"\} 1/);
    expect(res.text).toMatch(/custos_http_request_duration_seconds_count\{method="POST",route="\/graphql",status="200"\}/);
  });

  it('keeps the operation label bounded: names of unresolved operations are not labels, and past the bound they count as other', async () => {
    const labelsOf = async () => new Set([...(await t.http().get('/metrics')).text.matchAll(/custos_graphql_operation_duration_seconds_count\{operation="([^"]*)"/g)].map((m) => m[1]));
    // Unauthenticated, never reaching a resolver: a name that matches no operation, and a document that does not parse.
    for (let i = 0; i < 5; i++) {
      await t.http().post('/graphql').set('content-type', 'application/json').send({ query: '{ __typename }', operationName: `junk${i}` });
      await t.http().post('/graphql').set('content-type', 'application/json').send({ query: `query Broken${i} {`, operationName: `Broken${i}` });
    }
    const afterJunk = await labelsOf();
    expect([...afterJunk].filter((l) => /^(junk|Broken)\d$/.test(l))).toEqual([]);
    expect(afterJunk.has('unknown')).toBe(true);
    for (let i = 0; i < MAX_OPERATION_LABELS + 20; i++) await t.gql(`query Named${i} { __typename }`);
    const labels = await labelsOf();
    expect(labels.size).toBeLessThanOrEqual(MAX_OPERATION_LABELS + 3); // + unknown, anonymous, other
    expect(labels.has('other')).toBe(true);
  });

  it('counts screened events, decisions and new alerts once committed, and reports queue lag', async () => {
    const admin = await signInAdmin(t);
    const partner = await partnerWithToken(t, admin, 'EXTERNAL');
    const created = await gqlOk<{ createCustomer: { id: string } }>(t.gql, 'mutation { createCustomer(input: {externalRef: "metrics-1", transactionLimit: "100.00"}) { id } }', undefined, partner.token);
    const customerId = created.createCustomer.id;
    const metric = async (pattern: RegExp) => Number(pattern.exec((await t.http().get('/metrics')).text)?.[1] ?? 0);
    const allowed = /custos_decisions_total\{decision="ALLOW"\} (\d+)/;
    const held = /custos_decisions_total\{decision="HOLD"\} (\d+)/;
    const transactions = /custos_events_ingested_total\{type="TRANSACTION",source="PARTNER"\} (\d+)/;
    const highAlerts = /custos_alerts_raised_total\{kind="RULE",severity="HIGH"\} (\d+)/;
    const before = { allowed: await metric(allowed), held: await metric(held), transactions: await metric(transactions), alerts: await metric(highAlerts) };

    const res = await ingest(t, partner.token, [
      { customerId, type: 'TRANSACTION', amount: '10.00', currency: 'EUR' },
      { customerId, type: 'TRANSACTION', amount: '500.00', currency: 'EUR' },
    ]);
    expect(res.data?.ingestEvents.map((r) => r?.decision)).toEqual(['ALLOW', 'HOLD']);
    expect(await metric(transactions)).toBe(before.transactions + 2);
    expect(await metric(allowed)).toBe(before.allowed + 1);
    expect(await metric(held)).toBe(before.held + 1);
    // LARGE_TRANSACTION (HIGH) opened one alert.
    expect(await metric(highAlerts)).toBe(before.alerts + 1);

    // A call refused as a whole (too many events) screens nothing and counts nothing.
    const tooMany = await ingest(t, partner.token, Array.from({ length: 1001 }, () => ({ customerId, type: 'TRANSACTION', amount: '1.00', currency: 'EUR' })));
    expect(tooMany.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect(await metric(transactions)).toBe(before.transactions + 2);

    const text = (await t.http().get('/metrics')).text;
    expect(text).toMatch(/custos_queue_lag_seconds\{queue="webhooks"\} \d/);
    expect(text).toMatch(/custos_queue_due_messages\{queue="webhooks"\} \d/);
  });
});

describe('readiness when the database is gone', () => {
  it('answers 503', async () => {
    const t = await startTestApp();
    try {
      await t.app.get(require('typeorm').DataSource).destroy();
      const res = await t.http().get('/health/ready');
      expect(res.status).toBe(503);
      expect(res.body.database).toBe('down');
    } finally {
      await t.db.drop();
      await t.app.close().catch(() => undefined);
    }
  });
});

describe('production start-up', () => {
  it('refuses to start without required secrets, with a one-line reason', () => {
    const root = join(__dirname, '..', '..');
    const result = spawnSync(process.execPath, ['-r', 'ts-node/register/transpile-only', 'src/main.ts'], {
      cwd: root,
      env: { PATH: process.env.PATH, NODE_ENV: 'production', DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/postgres' },
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(result.status).toBe(1);
    const lines = result.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^Custos cannot start: production mode requires PII_KEYS, BLIND_INDEX_KEY, TOKEN_SECRET, AUDIT_CHAIN_KEY$/);
  });

  describe('with METRICS_TOKEN set', () => {
    const TOKEN = 'm'.repeat(24) + '-scrape-token-01';
    let guarded: TestApp;
    beforeAll(async () => {
      guarded = await startTestApp({ METRICS_TOKEN: TOKEN });
    });
    afterAll(() => guarded.close());

    it('serves /metrics only to a scraper presenting the token; health stays open', async () => {
      for (const authorization of [undefined, 'Bearer wrong', `Bearer ${TOKEN}x`, TOKEN, `Basic ${TOKEN}`]) {
        const req = guarded.http().get('/metrics');
        const res = await (authorization ? req.set('authorization', authorization) : req);
        expect([authorization, res.status, res.headers['www-authenticate'], res.text.includes('custos_')]).toEqual([authorization, 401, 'Bearer realm="metrics"', false]);
      }
      const ok = await guarded.http().get('/metrics').set('authorization', `Bearer ${TOKEN}`);
      expect(ok.status).toBe(200);
      expect(ok.text).toMatch(/custos_http_request_duration_seconds/);
      expect((await guarded.http().get('/health/ready')).status).toBe(200);
      expect((await guarded.http().get('/health/live')).status).toBe(200);
    });
  });
});
