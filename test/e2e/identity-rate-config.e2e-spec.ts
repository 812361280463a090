import { startTestApp, type TestApp } from '../helpers/app';
import { signInAdmin } from '../helpers/auth';
import { partnerWithToken } from '../helpers/monitoring';

const codeOf = (res: { errors?: Array<{ extensions?: Record<string, unknown> }> }) => res.errors?.[0]?.extensions?.code;
const aliasedIngest = (n: number) => `mutation { ${Array.from({ length: n }, (_, i) => `i${i}: ingestEvents(events: []) { duplicate }`).join(' ')} }`;
const codes = (res: { errors?: Array<{ extensions?: Record<string, unknown> }> }) => (res.errors ?? []).map((e) => e.extensions?.code);
const aliasedMe = (n: number) => `query { ${Array.from({ length: n }, (_, i) => `m${i}: me { __typename }`).join(' ')} }`;

describe('identity: rate limits come from configuration and count operations (e2e)', () => {
  describe('staff operations per minute (RATE_LIMIT_STAFF_OPERATIONS_PER_MINUTE=3)', () => {
    let t: TestApp;
    beforeAll(async () => {
      t = await startTestApp({ RATE_LIMIT_STAFF_OPERATIONS_PER_MINUTE: '3' });
    });
    afterAll(() => t.close());

    it('counts each alias as an operation and refuses beyond the configured limit with retryAfterSeconds', async () => {
      const admin = await signInAdmin(t);
      const five = await t.gql(aliasedMe(5), undefined, { token: admin.accessToken });
      expect(codeOf(five)).toBe('RATE_LIMITED');
      expect(five.errors![0].extensions!.retryAfterSeconds).toBeGreaterThanOrEqual(1);
    });
  });

  describe('partner operations per minute (RATE_LIMIT_PARTNER_OPERATIONS_PER_MINUTE=2)', () => {
    let t: TestApp;
    beforeAll(async () => {
      t = await startTestApp({ RATE_LIMIT_PARTNER_OPERATIONS_PER_MINUTE: '2' });
    });
    afterAll(() => t.close());

    it('applies the limit per token: one exhausted token does not affect another partner', async () => {
      const admin = await signInAdmin(t);
      const a = await partnerWithToken(t, admin, 'EXTERNAL');
      const b = await partnerWithToken(t, admin, 'EXTERNAL');
      // Two operations: whatever the resolver answers, the limiter lets them through.
      expect(codes(await t.gql(aliasedIngest(2), undefined, { token: a.token }))).not.toContain('RATE_LIMITED');
      const refused = await t.gql(aliasedIngest(1), undefined, { token: a.token });
      expect(codeOf(refused)).toBe('RATE_LIMITED');
      expect(refused.errors![0].extensions!.retryAfterSeconds).toBeGreaterThanOrEqual(1);
      expect(codes(await t.gql(aliasedIngest(2), undefined, { token: b.token }))).not.toContain('RATE_LIMITED');
    });
  });
});
