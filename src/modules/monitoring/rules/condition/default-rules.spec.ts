import { computeAggregateInMemory } from './aggregate-memory';
import { compileCondition } from './compile-condition';
import { DEFAULT_RULE_CONDITIONS, SANCTIONED_COUNTERPARTIES } from './default-rules';
import { parseDuration } from './duration';
import { validateCondition } from './validate-condition';
import { COMMUNICATION_FLAGS, EVENT_TYPES } from './vocabulary';

const NOW = Date.parse('2025-03-01T12:00:00.000Z');
const MIN = 60_000;
const DAY = 1440 * MIN;
type Ev = Record<string, unknown>;
const ev = (type: string, msAgo: number, fields: Ev = {}): Ev => ({
  type,
  occurredAt: new Date(NOW - msAgo).toISOString(),
  flags: [],
  attributes: {},
  ...fields,
});

/**
 * Evaluates a default rule for `current` as the monitoring pipeline does: the current event is stored
 * with the history first (windows include it), aggregates are computed beforehand, then the condition runs.
 */
function fires(code: string, current: Ev, history: Ev[] = [], customer: Ev = {}, lists: Record<string, string[]> = {}): boolean {
  const rule = DEFAULT_RULE_CONDITIONS.find((r) => r.code === code)!;
  expect(rule.eventTypes).toContain(current.type);
  const compiled = compileCondition(JSON.parse(JSON.stringify(rule.condition)));
  const list = (c: string) => new Set(lists[c] ?? []);
  const stored = [...history, current];
  const values = new Map(compiled.aggregates.map((s) => [s.key, computeAggregateInMemory(s, stored, current, list)]));
  return compiled.evaluate({ event: current, customer, aggregate: (k) => values.get(k) as number | null, list });
}

describe('DEFAULT_RULE_CONDITIONS', () => {
  it('holds the ten rules of the default pack, each valid, raising an alert, deduplicated over P1D', () => {
    expect(DEFAULT_RULE_CONDITIONS.map((r) => r.code)).toEqual([
      'LARGE_TRANSACTION',
      'FREQUENT_PROFILE_CHANGES',
      'LOGIN_FAILURE_BURST',
      'HOURLY_VELOCITY',
      'NEW_DEVICE_LARGE_AMOUNT',
      'DORMANT_REACTIVATION',
      'SPENDING_SPIKE',
      'COMMUNICATION_FLAG',
      'WATCHLIST_COUNTERPARTY',
      'VERIFICATION_FAILURES',
    ]);
    for (const r of DEFAULT_RULE_CONDITIONS) {
      expect({ code: r.code, errors: validateCondition(r.condition) }).toEqual({ code: r.code, errors: [] });
      expect(r.actions).toContain('RAISE_ALERT');
      expect(r.mode).toBe('ENFORCE');
      expect(parseDuration(r.dedupWindow)).toBe(DAY);
      expect(r.eventTypes.length).toBeGreaterThan(0);
      r.eventTypes.forEach((t) => expect(EVENT_TYPES).toContain(t));
      expect(r.name.length).toBeGreaterThan(0);
      expect(r.description.length).toBeGreaterThan(0);
    }
  });

  it.each([
    ['LARGE_TRANSACTION', 'HIGH', ['RAISE_ALERT', 'HOLD_TRANSACTION', 'NOTIFY_ACCOUNT_MANAGER']],
    ['FREQUENT_PROFILE_CHANGES', 'MEDIUM', ['RAISE_ALERT', 'REVIEW']],
    ['LOGIN_FAILURE_BURST', 'HIGH', ['RAISE_ALERT', 'LOCK_LOGIN']],
    ['HOURLY_VELOCITY', 'MEDIUM', ['RAISE_ALERT', 'REVIEW']],
    ['NEW_DEVICE_LARGE_AMOUNT', 'MEDIUM', ['RAISE_ALERT', 'REVIEW']],
    ['DORMANT_REACTIVATION', 'MEDIUM', ['RAISE_ALERT', 'REVIEW']],
    ['SPENDING_SPIKE', 'MEDIUM', ['RAISE_ALERT', 'REVIEW']],
    ['COMMUNICATION_FLAG', 'MEDIUM', ['RAISE_ALERT']],
    ['WATCHLIST_COUNTERPARTY', 'CRITICAL', ['RAISE_ALERT', 'BLOCK']],
    ['VERIFICATION_FAILURES', 'MEDIUM', ['RAISE_ALERT', 'REVIEW']],
  ])('%s: severity %s, actions %j', (code, severity, actions) => {
    const r = DEFAULT_RULE_CONDITIONS.find((x) => x.code === code)!;
    expect(r.severity).toBe(severity);
    expect(r.actions).toEqual(actions);
  });
});

describe('default rules around their thresholds', () => {
  it('LARGE_TRANSACTION: amount above the transaction limit', () => {
    const limit = { transactionLimit: '1000.00' };
    expect(fires('LARGE_TRANSACTION', ev('TRANSACTION', 0, { amount: '1000.01' }), [], limit)).toBe(true);
    expect(fires('LARGE_TRANSACTION', ev('TRANSACTION', 0, { amount: '1000.00' }), [], limit)).toBe(false);
    expect(fires('LARGE_TRANSACTION', ev('TRANSACTION', 0, { amount: '99999' }), [], { transactionLimit: null })).toBe(false);
  });

  it('FREQUENT_PROFILE_CHANGES: three within 24 hours, the current one included', () => {
    const current = ev('PROFILE_CHANGE', 0);
    expect(fires('FREQUENT_PROFILE_CHANGES', current, [ev('PROFILE_CHANGE', 60 * MIN), ev('PROFILE_CHANGE', DAY - 1)])).toBe(true);
    expect(fires('FREQUENT_PROFILE_CHANGES', current, [ev('PROFILE_CHANGE', 60 * MIN), ev('PROFILE_CHANGE', DAY)])).toBe(false);
    expect(fires('FREQUENT_PROFILE_CHANGES', current, [ev('PROFILE_CHANGE', 60 * MIN), ev('LOGIN', 5 * MIN)])).toBe(false);
  });

  it('LOGIN_FAILURE_BURST: five failed logins within 15 minutes', () => {
    const fail = (msAgo: number) => ev('LOGIN', msAgo, { attributes: { outcome: 'FAILURE' } });
    const ok = (msAgo: number) => ev('LOGIN', msAgo, { attributes: { outcome: 'SUCCESS' } });
    const four = [fail(MIN), fail(2 * MIN), fail(5 * MIN), fail(15 * MIN - 1)];
    expect(fires('LOGIN_FAILURE_BURST', fail(0), four)).toBe(true);
    expect(fires('LOGIN_FAILURE_BURST', fail(0), [...four.slice(0, 3), fail(15 * MIN)])).toBe(false);
    expect(fires('LOGIN_FAILURE_BURST', fail(0), [...four.slice(0, 3), ok(MIN)])).toBe(false);
    expect(fires('LOGIN_FAILURE_BURST', ok(0), [...four, fail(30)])).toBe(false);
  });

  it('HOURLY_VELOCITY: sum within one hour above the daily limit', () => {
    const customer = { dailyLimit: 1000 };
    const history = [ev('TRANSACTION', 30 * MIN, { amount: '600' }), ev('TRANSACTION', 61 * MIN, { amount: '5000' }), ev('PAYMENT', MIN, { amount: '900' })];
    expect(fires('HOURLY_VELOCITY', ev('TRANSACTION', 0, { amount: '400.01' }), history, customer)).toBe(true);
    expect(fires('HOURLY_VELOCITY', ev('TRANSACTION', 0, { amount: '400' }), history, customer)).toBe(false);
    expect(fires('HOURLY_VELOCITY', ev('TRANSACTION', 0, { amount: '400.01' }), history, { dailyLimit: null })).toBe(false);
  });

  it('NEW_DEVICE_LARGE_AMOUNT: unseen device in 90 days and above half the transaction limit', () => {
    const customer = { transactionLimit: 1000 };
    const tx = (amount: string, deviceId: string | null = 'd-new') => ev('TRANSACTION', 0, { amount, deviceId });
    const others = [ev('LOGIN', DAY, { deviceId: 'd-old' }), ev('TRANSACTION', 2 * DAY, { deviceId: 'd-old', amount: '10' })];
    expect(fires('NEW_DEVICE_LARGE_AMOUNT', tx('500.01'), others, customer)).toBe(true);
    expect(fires('NEW_DEVICE_LARGE_AMOUNT', tx('500.00'), others, customer)).toBe(false);
    expect(fires('NEW_DEVICE_LARGE_AMOUNT', tx('900'), [...others, ev('LOGIN', 89 * DAY, { deviceId: 'd-new' })], customer)).toBe(false);
    expect(fires('NEW_DEVICE_LARGE_AMOUNT', tx('900'), [...others, ev('LOGIN', 90 * DAY, { deviceId: 'd-new' })], customer)).toBe(true);
    expect(fires('NEW_DEVICE_LARGE_AMOUNT', tx('900', null), others, customer)).toBe(false);
    expect(fires('NEW_DEVICE_LARGE_AMOUNT', tx('900'), others, { transactionLimit: null })).toBe(false);
  });

  it('DORMANT_REACTIVATION: 90 quiet days, then more than 5000', () => {
    const tx = (amount: string) => ev('TRANSACTION', 0, { amount });
    expect(fires('DORMANT_REACTIVATION', tx('5000.01'), [], { daysSinceLastActivity: 90 })).toBe(true);
    expect(fires('DORMANT_REACTIVATION', tx('5000.01'), [], { daysSinceLastActivity: 89 })).toBe(false);
    expect(fires('DORMANT_REACTIVATION', tx('5000'), [], { daysSinceLastActivity: 400 })).toBe(false);
    // A customer with no previous event is not dormant.
    expect(fires('DORMANT_REACTIVATION', tx('9000'), [], { daysSinceLastActivity: null })).toBe(false);
  });

  it('SPENDING_SPIKE: above 5 × the average of the 7 days before the current 24 hours', () => {
    const tx = (amount: string, msAgo = 0) => ev('TRANSACTION', msAgo, { amount });
    // Average 100 in (now − 8 d, now − 1 d]; the edges: exactly 1 day ago is in, exactly 8 days ago is out.
    const history = [tx('50', DAY), tx('150', 3 * DAY), tx('100', 8 * DAY - 1), tx('99999', 8 * DAY), tx('99999', DAY - 1), ev('PAYMENT', 2 * DAY, { amount: '99999' })];
    expect(fires('SPENDING_SPIKE', tx('500.01'), history)).toBe(true);
    expect(fires('SPENDING_SPIKE', tx('500'), history)).toBe(false);
    // No history in the trailing window: no average, no spike.
    expect(fires('SPENDING_SPIKE', tx('1000000'), [tx('1', DAY - 1), tx('1', 9 * DAY)])).toBe(false);
  });

  it('COMMUNICATION_FLAG: content flagged THREAT or FRAUD at ingest', () => {
    const msg = (flags: string[]) => ev('COMMUNICATION', 0, { flags });
    expect(fires('COMMUNICATION_FLAG', msg([COMMUNICATION_FLAGS.THREAT]))).toBe(true);
    expect(fires('COMMUNICATION_FLAG', msg(['SPAM', COMMUNICATION_FLAGS.FRAUD]))).toBe(true);
    expect(fires('COMMUNICATION_FLAG', msg([]))).toBe(false);
    expect(fires('COMMUNICATION_FLAG', msg(['SPAM']))).toBe(false);
  });

  it('WATCHLIST_COUNTERPARTY: counterparty on the sanctioned list (seeded empty)', () => {
    const lists = { [SANCTIONED_COUNTERPARTIES]: ['EVIL CORP'] };
    expect(fires('WATCHLIST_COUNTERPARTY', ev('TRANSACTION', 0, { counterpartyRef: 'EVIL CORP' }), [], {}, lists)).toBe(true);
    expect(fires('WATCHLIST_COUNTERPARTY', ev('PAYMENT', 0, { counterpartyRef: 'EVIL CORP' }), [], {}, lists)).toBe(true);
    expect(fires('WATCHLIST_COUNTERPARTY', ev('TRANSACTION', 0, { counterpartyRef: 'GOOD' }), [], {}, lists)).toBe(false);
    expect(fires('WATCHLIST_COUNTERPARTY', ev('TRANSACTION', 0, { counterpartyRef: 'EVIL CORP' }))).toBe(false);
    expect(fires('WATCHLIST_COUNTERPARTY', ev('TRANSACTION', 0, {}), [], {}, lists)).toBe(false);
  });

  it('VERIFICATION_FAILURES: three failed verifications within one hour', () => {
    const fail = (msAgo: number) => ev('VERIFICATION', msAgo, { attributes: { outcome: 'FAILURE' } });
    expect(fires('VERIFICATION_FAILURES', fail(0), [fail(10 * MIN), fail(60 * MIN - 1)])).toBe(true);
    expect(fires('VERIFICATION_FAILURES', fail(0), [fail(10 * MIN), fail(60 * MIN)])).toBe(false);
    expect(fires('VERIFICATION_FAILURES', fail(0), [fail(10 * MIN), ev('LOGIN', MIN, { attributes: { outcome: 'FAILURE' } })])).toBe(false);
  });
});
