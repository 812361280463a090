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

  it('answers a request in flight on a keep-alive connection, closes that connection then, and does not wait for its timeout', async () => {
    t = await startTestApp();
    await t.app.listen(0, '127.0.0.1');
    const port = (t.app.getHttpServer().address() as { port: number }).port;
    const post = (query: string, bodyPart?: number) => {
      const body = JSON.stringify({ query });
      const head = `POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`;
      return bodyPart === undefined ? head + body : [head + body.slice(0, bodyPart), body.slice(bodyPart)];
    };
    // A keep-alive request whose body is still arriving when shutdown starts: in flight, not idle.
    const socket = connect(port, '127.0.0.1');
    await new Promise<void>((resolve) => socket.once('connect', resolve));
    let answer = '';
    socket.on('data', (chunk: Buffer) => (answer += chunk.toString()));
    const ended = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    const [first, rest] = post('{ first: __typename }', 5) as string[];
    socket.write(first);
    await new Promise((r) => setTimeout(r, 200));
    const started = Date.now();
    const stopping = stop(t);
    await new Promise((r) => setTimeout(r, 300));
    // The rest of the body, and behind it a second request pipelined on the same connection during the drain.
    socket.write(rest + (post('{ second: __typename }') as string));
    await stopping;
    // Before, the answered connection stayed open for Fastify's keep-alive timeout (72 s, then Node's 5 s),
    // and shutdown waited for it or for the 10 s grace period.
    expect(Date.now() - started).toBeLessThan(3_000);
    await ended;
    const responses = answer.split(/(?=HTTP\/1\.1 )/);
    expect(responses).toHaveLength(2);
    expect(responses[0]).toMatch(/^HTTP\/1\.1 200 /);
    expect(responses[0]).toContain('{"data":{"first":"Query"}}');
    // The request that arrived during the drain is served, and told the connection ends with it.
    expect(responses[1]).toMatch(/^HTTP\/1\.1 200 /);
    expect(responses[1].toLowerCase()).toContain('connection: close');
    expect(responses[1]).toContain('{"data":{"second":"Query"}}');
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
