import { WebhookCircuits } from './webhook-circuits';
import { WEBHOOK_SETTINGS } from './webhooks.settings';

describe('WebhookCircuits', () => {
  const hook = 'webhook-1';
  let circuits: WebhookCircuits;
  beforeEach(() => {
    circuits = Object.assign(new WebhookCircuits(), { threshold: 3, cooldownMs: 1_000, maxCooldownMs: 3_000, spreadMs: 0 });
  });
  const fail = (times: number, at: number) => {
    for (let i = 0; i < times; i++) circuits.record(hook, circuits.admit(hook, at) as { probe: boolean }, false, at);
  };

  it('lets attempts through until `threshold` fail in a row; a success starts the count again', () => {
    fail(2, 0);
    circuits.record(hook, { probe: false }, true, 0);
    fail(2, 0);
    expect(circuits.admit(hook, 0)).toEqual({ send: true, probe: false });
    expect(circuits.openCount()).toBe(0);
  });

  it('holds attempts back for the cool-down once open, then lets one probe through at a time', () => {
    fail(3, 100);
    expect(circuits.openCount()).toBe(1);
    expect(circuits.admit(hook, 500)).toEqual({ send: false, until: new Date(1_100) });
    expect(circuits.admit(hook, 1_100)).toEqual({ send: true, probe: true });
    // While the probe is out, the others wait as long as a probe may take.
    expect(circuits.admit(hook, 1_200)).toEqual({ send: false, until: new Date(1_200 + WEBHOOK_SETTINGS.timeoutMs) });
    circuits.record(hook, { probe: true }, true, 1_300);
    expect(circuits.admit(hook, 1_300)).toEqual({ send: true, probe: false });
    expect(circuits.openCount()).toBe(0);
  });

  it('doubles the cool-down after each failed probe, up to maxCooldownMs', () => {
    fail(3, 0);
    const probeFails = (at: number) => {
      expect(circuits.admit(hook, at)).toEqual({ send: true, probe: true });
      circuits.record(hook, { probe: true }, false, at);
    };
    probeFails(1_000);
    expect(circuits.admit(hook, 2_999)).toMatchObject({ send: false, until: new Date(3_000) });
    // 4 000 ms is over the cap: 3 000 from now on.
    probeFails(3_000);
    expect(circuits.admit(hook, 5_999)).toMatchObject({ until: new Date(6_000) });
    probeFails(6_000);
    expect(circuits.admit(hook, 8_999)).toMatchObject({ until: new Date(9_000) });
  });

  it('an attempt admitted before the circuit opened does not move the reopening when it fails late', () => {
    const early = circuits.admit(hook, 0) as { probe: boolean };
    fail(3, 0);
    circuits.record(hook, early, false, 900);
    expect(circuits.admit(hook, 1_000)).toEqual({ send: true, probe: true });
  });

  it('a probe abandoned without an outcome lets the next attempt probe', () => {
    fail(3, 0);
    const probe = circuits.admit(hook, 1_000) as { probe: boolean };
    expect(probe.probe).toBe(true);
    circuits.abandon(hook, probe);
    expect(circuits.admit(hook, 1_001)).toEqual({ send: true, probe: true });
  });

  it('keeps webhooks apart', () => {
    fail(3, 0);
    expect(circuits.admit('webhook-2', 0)).toEqual({ send: true, probe: false });
  });

  it('spreads held attempts over spreadMs after the reopening', () => {
    circuits.spreadMs = 500;
    fail(3, 0);
    for (let i = 0; i < 20; i++) {
      const until = (circuits.admit(hook, 0) as { until: Date }).until.getTime();
      expect(until).toBeGreaterThanOrEqual(1_000);
      expect(until).toBeLessThan(1_500);
    }
  });
});
