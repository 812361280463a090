import { randomBytes } from 'node:crypto';
import Redis from 'ioredis';
import request from 'supertest';
import type { INestApplication } from '@nestjs/common';
import { createApp } from '../../src/app.factory';
import { loadConfig } from '../../src/config/config';
import { startTestApp, testSecrets, type TestApp } from '../helpers/app';
import { createStaff, gqlOk, signInAdmin, type SignedIn } from '../helpers/auth';
import { ingest, partnerWithToken } from '../helpers/monitoring';
import { redisReachable, TEST_REDIS_URL } from '../helpers/redis';
import { subscribe, waitFor } from '../helpers/subscriptions';

const redisUp = redisReachable();
if (!redisUp) console.warn(`Redis at ${TEST_REDIS_URL} unreachable: skipping the multi-instance subscription tests`);

/** Another instance of the same deployment: same database and secrets, its own HTTP server. */
async function secondInstance(t: TestApp, name: string, env: Record<string, string>): Promise<{ app: INestApplication; url: string }> {
  const dir = `/tmp/${t.db.name}-${name}`;
  const config = loadConfig({ NODE_ENV: 'test', LOG_LEVEL: 'silent', TRUST_PROXY: 'loopback', DATABASE_URL: t.db.url, DATA_DIR: dir, AUDIT_CHECKPOINT_PATH: `${dir}/audit-checkpoints.jsonl`, NOTIFY_TRANSPORT: `file:${dir}/notify.jsonl`, ...env });
  const app = await createApp(config, t.db.url);
  await app.listen(0, '127.0.0.1');
  return { app, url: `ws://127.0.0.1:${(app.getHttpServer().address() as { port: number }).port}/graphql` };
}

(redisUp ? describe : describe.skip)('subscriptions across instances through Redis pub/sub', () => {
  const prefix = `custos-test-${randomBytes(4).toString('hex')}:`;
  const env = { REDIS_URL: TEST_REDIS_URL, REDIS_KEY_PREFIX: prefix, ...testSecrets() };
  let a: TestApp;
  let b: { app: INestApplication; url: string };
  let elsewhere: { app: INestApplication; url: string };
  let admin: SignedIn, co: SignedIn;

  beforeAll(async () => {
    a = await startTestApp(env);
    b = await secondInstance(a, 'b', env);
    // The same database but another deployment's prefix: it must hear nothing of this one.
    elsewhere = await secondInstance(a, 'other', { ...env, REDIS_KEY_PREFIX: `${prefix}other:` });
    admin = await signInAdmin(a);
    co = await createStaff(a, admin, 'COMPLIANCE_OFFICER');
  }, 120_000);
  afterAll(async () => {
    await b?.app.close();
    await elsewhere?.app.close();
    await a?.close();
  });

  it('delivers an alert raised on one instance to a subscriber connected to another, with typed fields intact', async () => {
    const onB = subscribe(b.url, co.accessToken, 'subscription { alertRaised { id severity createdAt firstSeenAt rule { code } customer { externalRef email } } }');
    const onOther = subscribe(elsewhere.url, co.accessToken, 'subscription { alertRaised { id } }');
    await Promise.all([onB.connected, onOther.connected]);
    await new Promise((r) => setTimeout(r, 300));

    const core = await partnerWithToken(a, admin, 'INTERNAL');
    const customer = (await gqlOk<{ createCustomer: { id: string } }>(a.gql, 'mutation { createCustomer(input: {externalRef: "redis-live-1", email: "redis.live@example.test", transactionLimit: "100.00"}) { id } }', undefined, co.accessToken)).createCustomer.id;
    const started = Date.now();
    const res = await ingest(a, core.token, [{ customerId: customer, type: 'TRANSACTION', amount: '500.00' }]);
    expect(res.data!.ingestEvents[0]!.decision).toBe('HOLD');

    await waitFor(() => onB.received.length >= 1);
    const pushed = onB.received[0].data!.alertRaised as { id: string; createdAt: string; firstSeenAt: string; rule: { code: string }; customer: { externalRef: string; email: string } };
    expect(pushed).toMatchObject({ severity: 'HIGH', rule: { code: 'LARGE_TRANSACTION' }, customer: { externalRef: 'redis-live-1', email: 'redis.live@example.test' } });
    // Dates survived the JSON hop as instants, not as strings passed through or nulls.
    expect(new Date(pushed.createdAt).getTime()).toBeGreaterThanOrEqual(started - 5_000);
    expect(pushed.firstSeenAt).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
    const { alerts } = await gqlOk<{ alerts: { nodes: Array<{ id: string }> } }>(a.gql, '{ alerts(filter: {customerId: "' + customer + '"}) { nodes { id } } }', undefined, co.accessToken);
    expect(alerts.nodes.map((n) => n.id)).toContain(pushed.id);

    await new Promise((r) => setTimeout(r, 500));
    expect(onB.received).toHaveLength(1);
    expect(onOther.received).toHaveLength(0);
    await onB.client.dispose();
    await onOther.client.dispose();
  });

  it('keeps each deployment\'s rate-limit counters under its own REDIS_KEY_PREFIX', async () => {
    const redis = new Redis(TEST_REDIS_URL);
    try {
      // A staff operation on this deployment, made here so the test does not rely on earlier ones: counted
      // under this deployment's prefix, and only there.
      expect((await gqlOk<{ me: { id: string } }>(a.gql, '{ me { id } }', undefined, co.accessToken)).me.id).toBe(co.userId);
      expect((await redis.keys(`${prefix}rl:staff-ops:${co.userId}*`)).length).toBeGreaterThan(0);
      expect(await redis.keys(`custos:rl:staff-ops:${co.userId}*`)).toEqual([]);
      // An operation on the other deployment counts under its own prefix.
      const other = elsewhere.app.getHttpServer();
      await request(other).post('/graphql').set('authorization', `Bearer ${co.accessToken}`).send({ query: '{ me { id } }' }).expect(200);
      expect((await redis.keys(`${prefix}other:rl:staff-ops:${co.userId}*`)).length).toBeGreaterThan(0);
    } finally {
      redis.disconnect();
    }
  });
});
