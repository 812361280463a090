import { startTestApp, type TestApp } from '../helpers/app';
import { createStaff, gqlOk, signInAdmin, type SignedIn } from '../helpers/auth';
import { ingest, partnerWithToken } from '../helpers/monitoring';

const minutesAgo = (m: number) => new Date(Date.now() - m * 60_000).toISOString();

describe('LOGIN_LOCK_MINUTES sets how long LOCK_LOGIN locks a login', () => {
  let t: TestApp;
  let co: SignedIn;
  let core: { id: string; token: string };

  beforeAll(async () => {
    t = await startTestApp({ LOGIN_LOCK_MINUTES: '5' });
    const admin = await signInAdmin(t);
    co = await createStaff(t, admin, 'COMPLIANCE_OFFICER');
    core = await partnerWithToken(t, admin, 'INTERNAL');
  }, 120_000);
  afterAll(() => t.close());

  it('locks for the configured 5 minutes instead of the default 30', async () => {
    const c = (await gqlOk<{ createCustomer: { id: string } }>(t.gql, 'mutation { createCustomer(input: {externalRef: "lock-5", transactionLimit: "100.00"}) { id } }', undefined, co.accessToken)).createCustomer.id;
    // A burst of five failed logins ten minutes ago (LOGIN_FAILURE_BURST): locked from then for 5 minutes.
    const burst = Array.from({ length: 5 }, () => ({ customerId: c, type: 'LOGIN', occurredAt: minutesAgo(10), attributes: { outcome: 'FAILURE' } }));
    expect((await ingest(t, core.token, burst)).errors).toBeUndefined();
    const { customer } = await gqlOk<{ customer: { loginLock: { lockedSince: string; lockedUntil: string } } }>(t.gql, 'query($c: ID!) { customer(id: $c) { loginLock { lockedSince lockedUntil } } }', { c }, co.accessToken);
    expect(new Date(customer.loginLock.lockedUntil).getTime() - new Date(customer.loginLock.lockedSince).getTime()).toBe(5 * 60_000);
    const login = async (at: string) => (await ingest(t, core.token, [{ customerId: c, type: 'LOGIN', occurredAt: at, attributes: { outcome: 'SUCCESS' } }])).data!.ingestEvents[0]!.decision;
    expect(await login(minutesAgo(7))).toBe('BLOCK'); // inside [−10, −5)
    expect(await login(minutesAgo(4))).toBe('ALLOW'); // after it; under the default 30 minutes still locked
  });
});
