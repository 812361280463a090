import { SYSTEM_EVENT_SINK, type SystemEventSink } from '../../src/common/audit/system-event-sink';
import { DEFAULT_RULE_CONDITIONS } from '../../src/modules/monitoring/rules/condition/default-rules';
import { startTestApp, type TestApp } from '../helpers/app';
import { createStaff, gqlOk, signInAdmin, type SignedIn } from '../helpers/auth';
import { ingest, partnerWithToken } from '../helpers/monitoring';

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;

/** An event to ingest, `ago` milliseconds before the call's reference time. */
type Ev = Record<string, unknown> & { ago?: number };

const DEFAULT_PACK = [
  'COMMUNICATION_FLAG', 'DORMANT_REACTIVATION', 'FREQUENT_PROFILE_CHANGES', 'HOURLY_VELOCITY', 'LARGE_TRANSACTION',
  'LOGIN_FAILURE_BURST', 'NEW_DEVICE_LARGE_AMOUNT', 'SPENDING_SPIKE', 'VERIFICATION_FAILURES', 'WATCHLIST_COUNTERPARTY',
];

/**
 * Each rule of the seeded default pack (SPEC §5, §8) on real ingested events: it fires just past its
 * threshold and stays quiet just short of it (and at the edge of its window). Every case uses a fresh
 * customer and checks the decision of each event and the customer's alerts — all of them, so another rule
 * firing by accident shows up too. History is back-filled with past `occurredAt`s: windows are measured
 * from each event's own time, and the events of one call are screened in array order.
 */
describe('default rule pack', () => {
  let t: TestApp;
  let admin: SignedIn, co: SignedIn, am: SignedIn;
  let core: { id: string; token: string };
  let n = 0;

  const customer = async (limits: { transactionLimit: string; dailyLimit: string }) =>
    (await gqlOk<{ createCustomer: { id: string } }>(t.gql, 'mutation($i: CreateCustomerInput!) { createCustomer(input: $i) { id } }', { i: { externalRef: `rules-${++n}`, accountManagerId: am.userId, ...limits } }, co.accessToken)).createCustomer.id;

  /** Ingests the events (INTERNAL partner) for one customer; returns each event's decision. */
  const send = async (customerId: string, events: Ev[], base = Date.now()): Promise<string[]> => {
    const res = await ingest(t, core.token, events.map(({ ago = 0, ...e }) => ({ customerId, occurredAt: new Date(base - ago).toISOString(), ...e })));
    expect(res.errors).toBeUndefined();
    return res.data!.ingestEvents.map((r) => r!.decision!);
  };

  /** The rule codes of the customer's alerts, as staff see them. */
  const alerts = async (customerId: string): Promise<string[]> =>
    (await gqlOk<{ alerts: { nodes: Array<{ rule: { code: string } }> } }>(t.gql, 'query($c: ID!) { alerts(filter: {customerId: $c}, first: 100) { nodes { rule { code } } } }', { c: customerId }, co.accessToken)).alerts.nodes.map((a) => a.rule.code).sort();

  const tx = (amount: string, extra: Ev = {}): Ev => ({ type: 'TRANSACTION', amount, currency: 'EUR', ...extra });
  const login = (outcome: 'SUCCESS' | 'FAILURE', ago: number): Ev => ({ type: 'LOGIN', ago, attributes: { outcome } });

  beforeAll(async () => {
    t = await startTestApp();
    admin = await signInAdmin(t);
    [co, am] = [await createStaff(t, admin, 'COMPLIANCE_OFFICER'), await createStaff(t, admin, 'ACCOUNT_MANAGER')];
    core = await partnerWithToken(t, admin, 'INTERNAL');
  }, 120_000);
  afterAll(() => t.close());

  it('is seeded: the ten rules ACTIVE in ENFORCE mode, each raising an alert', async () => {
    const { rules } = await gqlOk<{ rules: { nodes: Array<{ code: string; version: number; mode: string; actions: string[]; dedupWindow: string }> } }>(
      t.gql, '{ rules(filter: {status: ACTIVE}, first: 100) { nodes { code version mode actions dedupWindow } } }', undefined, co.accessToken);
    expect(rules.nodes.map((r) => r.code)).toEqual(DEFAULT_PACK);
    for (const r of rules.nodes) expect(r).toMatchObject({ version: 1, mode: 'ENFORCE', actions: expect.arrayContaining(['RAISE_ALERT']), dedupWindow: 'P1D' });
  });

  it('is seeded exactly as the pack the code documents and tests (the migration keeps its own copy)', async () => {
    const { rules } = await gqlOk<{ rules: { nodes: Array<Record<string, unknown>> } }>(
      t.gql, '{ rules(filter: {status: ACTIVE}, first: 100) { nodes { code name description eventTypes severity actions mode dedupWindow condition } } }', undefined, co.accessToken);
    const seeded = Object.fromEntries(rules.nodes.map((r) => [r.code, r]));
    for (const r of DEFAULT_RULE_CONDITIONS) expect({ code: r.code, rule: seeded[r.code] }).toEqual({ code: r.code, rule: { ...r } });
    expect(Object.keys(seeded).sort()).toEqual(DEFAULT_RULE_CONDITIONS.map((r) => r.code).sort());
  });

  describe('LARGE_TRANSACTION (amount > transactionLimit → HOLD, account manager notified)', () => {
    const limits = { transactionLimit: '1000.00', dailyLimit: '5000.00' };

    it('fires one cent over the limit', async () => {
      const c = await customer(limits);
      const res = await ingest(t, core.token, [{ customerId: c, ...tx('1000.01') }]);
      expect(res.data!.ingestEvents[0]!.decision).toBe('HOLD');
      expect(await alerts(c)).toEqual(['LARGE_TRANSACTION']);
      const eventId = res.data!.ingestEvents[0]!.event!.id;
      const notes = await gqlOk<{ myNotifications: { nodes: Array<{ kind: string; eventId: string }> } }>(t.gql, '{ myNotifications(first: 100) { nodes { kind eventId } } }', undefined, am.accessToken);
      expect(notes.myNotifications.nodes.filter((x) => x.eventId === eventId).map((x) => x.kind).sort()).toEqual(['ALERT_RAISED', 'HOLD_PLACED']);
    });

    it('tells amounts and limits of 18 integer digits a cent apart', async () => {
      // As doubles both are 1e18: the limit reaches the rule as the customer's numeric text, not a JS number.
      const c = await customer({ transactionLimit: '999999999999999999.98', dailyLimit: '999999999999999999.99' });
      expect(await send(c, [tx('999999999999999999.98', { ago: 1000 })])).toEqual(['ALLOW']);
      expect(await send(c, [tx('999999999999999999.99')])).toEqual(['HOLD']);
    });

    it('stays quiet at exactly the limit', async () => {
      const c = await customer(limits);
      expect(await send(c, [tx('1000.00')])).toEqual(['ALLOW']);
      expect(await alerts(c)).toEqual([]);
    });
  });

  describe('FREQUENT_PROFILE_CHANGES (≥ 3 profile changes in 24 h → REVIEW)', () => {
    const limits = { transactionLimit: '1000.00', dailyLimit: '5000.00' };
    const change = (ago: number): Ev => ({ type: 'PROFILE_CHANGE', ago, attributes: { fields: ['email'] } });

    it('fires on the third change within 24 hours', async () => {
      const c = await customer(limits);
      expect(await send(c, [change(23 * HOUR), change(12 * HOUR), change(0)])).toEqual(['ALLOW', 'ALLOW', 'REVIEW']);
      expect(await alerts(c)).toEqual(['FREQUENT_PROFILE_CHANGES']);
    });

    it('stays quiet at two changes', async () => {
      const c = await customer(limits);
      expect(await send(c, [change(HOUR), change(0)])).toEqual(['ALLOW', 'ALLOW']);
      expect(await alerts(c)).toEqual([]);
    });

    it('stays quiet when the first of three is exactly 24 hours old (the window is (t − 24 h, t])', async () => {
      const c = await customer(limits);
      expect(await send(c, [change(DAY), change(12 * HOUR), change(0)])).toEqual(['ALLOW', 'ALLOW', 'ALLOW']);
      expect(await alerts(c)).toEqual([]);
    });
  });

  describe('LOGIN_FAILURE_BURST (≥ 5 failed logins in 15 min → alert + login locked for 30 min)', () => {
    const limits = { transactionLimit: '1000.00', dailyLimit: '5000.00' };
    const burst = (from: number) => [0, 3, 6, 9, 12].map((m) => login('FAILURE', from - m * MIN));

    it('fires on the fifth failure within 15 minutes; the next login, even a successful one, is blocked', async () => {
      const c = await customer(limits);
      const base = Date.now();
      expect(await send(c, burst(14 * MIN), base)).toEqual(['ALLOW', 'ALLOW', 'ALLOW', 'ALLOW', 'ALLOW']);
      expect(await alerts(c)).toEqual(['LOGIN_FAILURE_BURST']);
      expect(await send(c, [login('SUCCESS', 0)], base)).toEqual(['BLOCK']);
      expect(await send(c, [login('FAILURE', 0)], base)).toEqual(['BLOCK']);
    });

    it('stays quiet at four failures', async () => {
      const c = await customer(limits);
      expect(await send(c, [...burst(14 * MIN).slice(0, 4), login('SUCCESS', 0)])).toEqual(['ALLOW', 'ALLOW', 'ALLOW', 'ALLOW', 'ALLOW']);
      expect(await alerts(c)).toEqual([]);
    });

    it('stays quiet when the first of five failures is exactly 15 minutes older than the fifth', async () => {
      const c = await customer(limits);
      const spread = [15, 11, 7, 3, 0].map((m) => login('FAILURE', m * MIN));
      expect(await send(c, [...spread, login('SUCCESS', 0)])).toEqual(['ALLOW', 'ALLOW', 'ALLOW', 'ALLOW', 'ALLOW', 'ALLOW']);
      expect(await alerts(c)).toEqual([]);
    });

    it('locks for 30 minutes from the fifth failure, not longer', async () => {
      const c = await customer(limits);
      // The fifth failure 60 − 12 = 48 minutes ago: locked until 18 minutes ago.
      expect(await send(c, [...burst(60 * MIN), login('SUCCESS', 20 * MIN), login('SUCCESS', 17 * MIN), login('SUCCESS', 0)])).toEqual(['ALLOW', 'ALLOW', 'ALLOW', 'ALLOW', 'ALLOW', 'BLOCK', 'ALLOW', 'ALLOW']);
    });

    it('does not block a back-filled login from before the lock', async () => {
      const c = await customer(limits);
      const base = Date.now();
      await send(c, burst(14 * MIN), base);
      // Occurred three hours ago, reported late: the lock (from two minutes ago) did not exist yet.
      expect(await send(c, [login('SUCCESS', 3 * HOUR)], base)).toEqual(['ALLOW']);
    });

    it('blocks a back-filled login inside a lock that a later, overlapping burst extended', async () => {
      const c = await customer(limits);
      const base = Date.now();
      // Locked from 48 to 18 minutes ago.
      await send(c, burst(60 * MIN), base);
      // A second burst inside that lock is blocked, and its fifth failure (28 minutes ago) extends the lock
      // to 2 minutes from now: one span, from 48 minutes ago.
      expect(await send(c, burst(40 * MIN), base)).toEqual(['BLOCK', 'BLOCK', 'BLOCK', 'BLOCK', 'BLOCK']);
      // Reported late: 45 minutes ago lies in the span's first part.
      expect(await send(c, [login('SUCCESS', 45 * MIN)], base)).toEqual(['BLOCK']);
      // Before the span began: not blocked.
      expect(await send(c, [login('SUCCESS', 50 * MIN)], base)).toEqual(['ALLOW']);
    });
  });

  describe('HOURLY_VELOCITY (sum of transactions in 1 h > dailyLimit → REVIEW)', () => {
    const limits = { transactionLimit: '1000.00', dailyLimit: '1000.00' };

    it('fires when the hour adds up to one cent over the daily limit', async () => {
      const c = await customer(limits);
      expect(await send(c, [tx('600.00', { ago: 50 * MIN }), tx('400.01')])).toEqual(['ALLOW', 'REVIEW']);
      expect(await alerts(c)).toEqual(['HOURLY_VELOCITY']);
    });

    it('stays quiet when it adds up to exactly the daily limit', async () => {
      const c = await customer(limits);
      expect(await send(c, [tx('600.00', { ago: 50 * MIN }), tx('400.00')])).toEqual(['ALLOW', 'ALLOW']);
      expect(await alerts(c)).toEqual([]);
    });

    it('stays quiet when the earlier transaction is exactly an hour old', async () => {
      const c = await customer(limits);
      expect(await send(c, [tx('600.00', { ago: HOUR }), tx('400.01')])).toEqual(['ALLOW', 'ALLOW']);
      expect(await alerts(c)).toEqual([]);
    });
  });

  describe('NEW_DEVICE_LARGE_AMOUNT (device unseen for 90 days and amount > 50 % of transactionLimit → REVIEW)', () => {
    const limits = { transactionLimit: '1000.00', dailyLimit: '100000.00' };

    it('fires on a new device just above half the limit', async () => {
      const c = await customer(limits);
      expect(await send(c, [tx('500.01', { deviceId: 'dev-new' })])).toEqual(['REVIEW']);
      expect(await alerts(c)).toEqual(['NEW_DEVICE_LARGE_AMOUNT']);
    });

    it('fires on a device last seen exactly 90 days ago (outside the window)', async () => {
      const c = await customer(limits);
      expect(await send(c, [{ ...login('SUCCESS', 90 * DAY), deviceId: 'dev-old' }, tx('600.00', { deviceId: 'dev-old' })])).toEqual(['ALLOW', 'REVIEW']);
      expect(await alerts(c)).toEqual(['NEW_DEVICE_LARGE_AMOUNT']);
    });

    it('stays quiet on a device seen in the previous 90 days (on any kind of event)', async () => {
      const c = await customer(limits);
      expect(await send(c, [{ ...login('SUCCESS', 89 * DAY), deviceId: 'dev-known' }, tx('900.00', { deviceId: 'dev-known' })])).toEqual(['ALLOW', 'ALLOW']);
      expect(await alerts(c)).toEqual([]);
    });

    it('stays quiet on a new device at exactly half the limit, and without a device', async () => {
      const c = await customer(limits);
      expect(await send(c, [tx('500.00', { deviceId: 'dev-half' }), tx('900.00', { ago: -1 })])).toEqual(['ALLOW', 'ALLOW']);
      expect(await alerts(c)).toEqual([]);
    });
  });

  describe('DORMANT_REACTIVATION (previous event ≥ 90 days before, amount > 5000 → REVIEW)', () => {
    const limits = { transactionLimit: '10000.00', dailyLimit: '100000.00' };

    it('fires after exactly 90 quiet days', async () => {
      const c = await customer(limits);
      expect(await send(c, [tx('100.00', { ago: 90 * DAY }), tx('5000.01')])).toEqual(['ALLOW', 'REVIEW']);
      expect(await alerts(c)).toEqual(['DORMANT_REACTIVATION']);
    });

    it('stays quiet after 89 days', async () => {
      const c = await customer(limits);
      expect(await send(c, [tx('100.00', { ago: 89 * DAY }), tx('5000.01')])).toEqual(['ALLOW', 'ALLOW']);
      expect(await alerts(c)).toEqual([]);
    });

    it('stays quiet at exactly 5000, and when any other kind of event broke the silence', async () => {
      const dormant = await customer(limits);
      expect(await send(dormant, [tx('100.00', { ago: 120 * DAY }), tx('5000.00')])).toEqual(['ALLOW', 'ALLOW']);
      const active = await customer(limits);
      expect(await send(active, [tx('100.00', { ago: 200 * DAY }), login('SUCCESS', 30 * DAY), tx('6000.00')])).toEqual(['ALLOW', 'ALLOW', 'ALLOW']);
      expect([...(await alerts(dormant)), ...(await alerts(active))]).toEqual([]);
    });

    it("stays quiet on a customer's very first event", async () => {
      const c = await customer(limits);
      expect(await send(c, [tx('6000.00')])).toEqual(['ALLOW']);
      expect(await alerts(c)).toEqual([]);
    });
  });

  describe('SPENDING_SPIKE (amount > 5 × the average transaction of the 7 days before the last 24 h → REVIEW)', () => {
    const limits = { transactionLimit: '10000.00', dailyLimit: '100000.00' };
    // Averaged: the three 100s (in (t − 8 d, t − 1 d]). Not averaged: 9000 nine days back (it would lift the
    // average so nothing fires) and 1 twelve hours back (it would lower it so 500 fires).
    const history: Ev[] = [tx('9000.00', { ago: 9 * DAY }), tx('100.00', { ago: 7 * DAY }), tx('100.00', { ago: 4 * DAY }), tx('100.00', { ago: 2 * DAY }), tx('1.00', { ago: 12 * HOUR })];

    it('fires one cent above five times the average', async () => {
      const c = await customer(limits);
      expect(await send(c, [...history, tx('500.01')])).toEqual(['ALLOW', 'ALLOW', 'ALLOW', 'ALLOW', 'ALLOW', 'REVIEW']);
      expect(await alerts(c)).toEqual(['SPENDING_SPIKE']);
    });

    it('stays quiet at exactly five times the average', async () => {
      const c = await customer(limits);
      expect(await send(c, [...history, tx('500.00')])).toEqual(['ALLOW', 'ALLOW', 'ALLOW', 'ALLOW', 'ALLOW', 'ALLOW']);
      expect(await alerts(c)).toEqual([]);
    });

    it('compares exactly: quiet at five times an average whose double times five rounds below it, firing a cent above', async () => {
      // 5 × 1000.06 = 5000.30 exactly; in binary floating point it is 5000.299999999999.
      const averaged: Ev[] = [tx('1000.06', { ago: 2 * DAY })];
      const quiet = await customer(limits);
      expect(await send(quiet, [...averaged, tx('5000.30')])).toEqual(['ALLOW', 'ALLOW']);
      expect(await alerts(quiet)).toEqual([]);
      const fired = await customer(limits);
      expect(await send(fired, [...averaged, tx('5000.31')])).toEqual(['ALLOW', 'REVIEW']);
      expect(await alerts(fired)).toEqual(['SPENDING_SPIKE']);
    });

    it('stays quiet without history to average', async () => {
      const c = await customer(limits);
      expect(await send(c, [tx('1.00', { ago: 12 * HOUR }), tx('900.00')])).toEqual(['ALLOW', 'ALLOW']);
      expect(await alerts(c)).toEqual([]);
    });
  });

  describe('COMMUNICATION_FLAG (content flagged at ingest → alert only)', () => {
    const limits = { transactionLimit: '1000.00', dailyLimit: '5000.00' };
    const message = (content: string): Ev => ({ type: 'COMMUNICATION', channel: 'EMAIL', content });

    it.each([
      ['a threat', 'If you block my card again, I will find you.'],
      ['fraud words', 'Someone is using a stolen card, I think this is a scam.'],
    ])('raises an alert for %s without changing the decision', async (_label, content) => {
      const c = await customer(limits);
      expect(await send(c, [message(content)])).toEqual(['ALLOW']);
      expect(await alerts(c)).toEqual(['COMMUNICATION_FLAG']);
    });

    it('stays quiet for harmless content', async () => {
      const c = await customer(limits);
      expect(await send(c, [message('Thank you for sorting out my card so quickly, great skills.')])).toEqual(['ALLOW']);
      expect(await alerts(c)).toEqual([]);
    });
  });

  describe('WATCHLIST_COUNTERPARTY (counterparty on SANCTIONED_COUNTERPARTIES → BLOCK)', () => {
    const limits = { transactionLimit: '1000.00', dailyLimit: '5000.00' };

    beforeAll(async () => {
      await gqlOk(t.gql, 'mutation { updateWatchlistEntries(input: {code: "SANCTIONED_COUNTERPARTIES", add: ["CP-RULES-SANCTIONED"]}) { entryCount } }', undefined, co.accessToken);
      // Past the rule engine's stamp re-check, should the change be picked up that way.
      await new Promise((r) => setTimeout(r, 1100));
    });

    it('blocks a transaction to a listed counterparty', async () => {
      const c = await customer(limits);
      expect(await send(c, [tx('10.00', { counterpartyRef: 'CP-RULES-SANCTIONED' })])).toEqual(['BLOCK']);
      expect(await alerts(c)).toEqual(['WATCHLIST_COUNTERPARTY']);
    });

    it('stays quiet for another counterparty', async () => {
      const c = await customer(limits);
      expect(await send(c, [tx('10.00', { counterpartyRef: 'CP-RULES-OTHER' }), tx('10.00', { ago: -1 })])).toEqual(['ALLOW', 'ALLOW']);
      expect(await alerts(c)).toEqual([]);
    });
  });

  describe('VERIFICATION_FAILURES (≥ 3 failed verifications in 1 h → REVIEW; SYSTEM events only)', () => {
    const limits = { transactionLimit: '1000.00', dailyLimit: '5000.00' };
    let sink: SystemEventSink;
    beforeAll(() => {
      sink = t.app.get<SystemEventSink>(SYSTEM_EVENT_SINK);
    });
    const verify = async (customerId: string, steps: Array<[outcome: 'SUCCESS' | 'FAILURE', ago: number]>): Promise<string[]> => {
      const base = Date.now();
      const decisions: string[] = [];
      for (const [outcome, ago] of steps) {
        decisions.push((await sink.record({ customerId, type: 'VERIFICATION', occurredAt: new Date(base - ago), attributes: { outcome, method: 'SMS_OTP' } })).decision);
      }
      return decisions;
    };

    it('fires on the third failure within an hour', async () => {
      const c = await customer(limits);
      expect(await verify(c, [['FAILURE', 50 * MIN], ['FAILURE', 30 * MIN], ['FAILURE', 0]])).toEqual(['ALLOW', 'ALLOW', 'REVIEW']);
      expect(await alerts(c)).toEqual(['VERIFICATION_FAILURES']);
    });

    it('stays quiet at two failures and a success', async () => {
      const c = await customer(limits);
      expect(await verify(c, [['FAILURE', 50 * MIN], ['FAILURE', 30 * MIN], ['SUCCESS', 0]])).toEqual(['ALLOW', 'ALLOW', 'ALLOW']);
      expect(await alerts(c)).toEqual([]);
    });

    it('stays quiet when the first of three failures is exactly an hour old', async () => {
      const c = await customer(limits);
      expect(await verify(c, [['FAILURE', HOUR], ['FAILURE', 30 * MIN], ['FAILURE', 0]])).toEqual(['ALLOW', 'ALLOW', 'ALLOW']);
      expect(await alerts(c)).toEqual([]);
    });

    it('is refused from partners', async () => {
      const c = await customer(limits);
      const res = await ingest(t, core.token, [{ customerId: c, type: 'VERIFICATION', attributes: { outcome: 'FAILURE' } }]);
      expect(res.errors?.[0].extensions?.code).toBe('FORBIDDEN');
    });
  });
});
