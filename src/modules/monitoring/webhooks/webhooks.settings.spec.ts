import { WebhookRetryPolicy } from './webhooks.settings';

describe('WebhookRetryPolicy', () => {
  it('backs off exponentially up to the cap: 6 attempts within about an hour by default', () => {
    const policy = new WebhookRetryPolicy();
    const waits = [1, 2, 3, 4, 5].map((attempt) => policy.delayAfter(attempt));
    expect(waits).toEqual([10_000, 40_000, 160_000, 640_000, 2_560_000]);
    expect(policy.maxAttempts).toBe(6);
    expect(waits.reduce((a, b) => a + b, 0)).toBeLessThan(60 * 60_000);
    expect(policy.delayAfter(20)).toBe(policy.maxDelayMs);
  });
});
