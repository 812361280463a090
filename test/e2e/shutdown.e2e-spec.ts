import { startTestApp, type TestApp } from '../helpers/app';
import { createStaff, gqlOk, signInAdmin } from '../helpers/auth';
import { ingest, partnerWithToken } from '../helpers/monitoring';
import { subscribe } from '../helpers/subscriptions';
import { Receiver } from '../helpers/webhooks';
import { connect } from 'node:net';
import { shutDown } from '../../src/server';

/** `npm start`'s shutdown (SIGTERM): what is open or in flight when it begins. */
describe('shutdown', () => {
  let t: TestApp | undefined;
  let receiver: Receiver | undefined;
  let shutDownDone = false;
  const stop = async (app: TestApp) => {
    await shutDown(app.app);
    shutDownDone = true;
  };
  afterEach(async () => {
    // After shutDown only the database is left; a test that failed before it leaves the app open.
    if (t) await (shutDownDone ? t.db.drop() : t.close());
    await receiver?.close();
    t = receiver = undefined;
    shutDownDone = false;
  });

  it('asks subscription sockets to go away (1001) instead of waiting the grace period out', async () => {
    t = await startTestApp();
    await t.app.listen(0, '127.0.0.1');
    const url = `ws://127.0.0.1:${(t.app.getHttpServer().address() as { port: number }).port}/graphql`;
    const admin = await signInAdmin(t);
    const live = subscribe(url, admin.accessToken, 'subscription { notificationReceived { id } }');
    await live.connected;
    const started = Date.now();
    await stop(t);
    // The grace period is 10 s: a socket that was not asked to close held shutdown for all of it.
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(await live.closed).toBe(1001);
  }, 60_000);

  it('ends each keep-alive connection carrying a request with its answer (Connection: close) instead of waiting for its timeout', async () => {
    t = await startTestApp();
    await t.app.listen(0, '127.0.0.1');
    const port = (t.app.getHttpServer().address() as { port: number }).port;
    const post = (query: string) => {
      const body = JSON.stringify({ query });
      return `POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
    };
    const open = async () => {
      const socket = connect(port, '127.0.0.1');
      await new Promise<void>((resolve) => socket.once('connect', resolve));
      const conn = { socket, answer: '', ended: new Promise<void>((resolve) => socket.once('close', () => resolve())) };
      socket.on('data', (chunk: Buffer) => (conn.answer += chunk.toString()));
      return conn;
    };
    // Neither connection is idle when shutdown starts: one has sent its headers and part of its body (the
    // request has begun), the other only part of its headers (its request has not, and begins during the drain).
    const [inFlight, arriving] = [await open(), await open()];
    const first = post('{ first: __typename }');
    const second = post('{ second: __typename }');
    const cut = first.indexOf('\r\n\r\n') + 9;
    inFlight.socket.write(first.slice(0, cut));
    arriving.socket.write(second.slice(0, 20));
    await new Promise((r) => setTimeout(r, 200));
    const started = Date.now();
    const stopping = stop(t);
    await new Promise((r) => setTimeout(r, 300));
    inFlight.socket.write(first.slice(cut));
    arriving.socket.write(second.slice(20));
    await Promise.all([inFlight.ended, arriving.ended]);
    // Both ended with their answers. Before, each stayed open for the keep-alive timeout (Fastify's 72 s,
    // then Node's 5 s), and shutdown waited for them or for the 10 s grace period.
    expect(Date.now() - started).toBeLessThan(2_000);
    await stopping;
    for (const [conn, field] of [[inFlight, 'first'], [arriving, 'second']] as const) {
      expect(conn.answer).toMatch(/^HTTP\/1\.1 200 /);
      expect(conn.answer).toContain(`{"data":{"${field}":"Query"}}`);
      expect(conn.answer.toLowerCase()).toContain('connection: close');
      expect(conn.answer.split('HTTP/1.1 ')).toHaveLength(2);
    }
  }, 60_000);

  it('waits for notification e-mails in flight before tearing down', async () => {
    const answered: number[] = [];
    // The notify receiver takes its time: the e-mail is still in flight when shutdown starts.
    receiver = await new Receiver(async (n) => {
      await new Promise((r) => setTimeout(r, 1_500));
      answered.push(n);
      return 200;
    }).start();
    t = await startTestApp({ NOTIFY_TRANSPORT: `webhook:${receiver.url}` });
    const admin = await signInAdmin(t);
    const [am, co] = [await createStaff(t, admin, 'ACCOUNT_MANAGER'), await createStaff(t, admin, 'COMPLIANCE_OFFICER')];
    const core = await partnerWithToken(t, admin, 'INTERNAL');
    const c = (await gqlOk<{ createCustomer: { id: string } }>(t.gql, 'mutation($m: ID!) { createCustomer(input: {externalRef: "shutdown-1", accountManagerId: $m, transactionLimit: "100.00"}) { id } }', { m: am.userId }, co.accessToken)).createCustomer.id;
    const before = receiver.requests.length;
    const res = await ingest(t, core.token, [{ customerId: c, type: 'TRANSACTION', amount: '500.00' }]);
    expect(res.data!.ingestEvents[0]!.decision).toBe('HOLD');
    await stop(t);
    // The hold's and the alert's e-mails to the account manager were answered before shutdown ended.
    const sent = receiver.requests.slice(before).map((r) => JSON.parse(r.body) as { to: string; subject: string });
    expect(sent.map((m) => m.to)).toEqual([am.email, am.email]);
    expect(answered).toHaveLength(receiver.requests.length);
  }, 60_000);
});
