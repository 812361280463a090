/**
 * Synthetic data for `npm run demo`: customers, their ordinary activity over the past days, and a known set of
 * injected anomalies, each shaped to trip exactly one rule of the default pack (SPEC §5, §8). Pure and
 * seeded: the same options give the same data (times are relative to `now`).
 *
 * Ordinary activity is kept inside bounds no default rule reaches: amounts vary within [0.5, 1.6] × the
 * customer's usual amount (so no transaction is 5 × any average of earlier ones), stay under 7 % of the
 * transaction limit (so a new phone never looks like "new device, large amount"), logins fail rarely and
 * singly, profile changes are days apart and messages are polite. Each injected customer gets a profile the
 * anomaly needs to stay clear of the other rules (see docs/DEMO.md for the arithmetic).
 */

export const DEMO_RULES = [
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
] as const;
export type DemoRule = (typeof DEMO_RULES)[number];

export const SANCTIONED_LIST = 'SANCTIONED_COUNTERPARTIES';
export const FLOODED_CATEGORY = 'BILLING';
export const COMPLAINT_CATEGORIES = ['PRODUCT_QUALITY', 'SERVICE', 'BILLING', 'FRAUD_REPORT', 'DATA_PRIVACY', 'RETURN_REFUND', 'OTHER'] as const;

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;

export interface DemoOptions {
  customers: number;
  days: number;
  seed: number;
  /** Reference time: the newest event is a little before it. */
  now: number;
  /** Prefix of every externalRef and event key, unique per run so runs never collide. */
  runId: string;
}

export interface DemoCustomer {
  index: number;
  externalRef: string;
  fullName: string;
  email: string;
  phone: string;
  nationalId: string;
  dateOfBirth: string;
  address: string;
  /** Index into the account managers the demo creates. */
  accountManager: number;
  transactionLimit: number;
  dailyLimit: number;
  /** The rule this customer's injected anomaly targets; undefined for an ordinary customer. */
  anomaly?: DemoRule;
}

export interface DemoEvent {
  customer: number;
  type: 'TRANSACTION' | 'LOGIN' | 'PROFILE_CHANGE' | 'COMMUNICATION' | 'PAYMENT';
  occurredAt: number;
  amount?: string;
  currency?: string;
  channel?: string;
  country?: string;
  ipAddress?: string;
  deviceId?: string;
  counterpartyRef?: string;
  content?: string;
  attributes?: Record<string, unknown>;
  /** Set on the events that make up an injected anomaly. */
  injected?: DemoRule;
}

/** A verification result recorded through `recordVerificationResult` (Custos alone creates VERIFICATION events). */
export interface DemoVerification {
  customer: number;
  method: 'DOCUMENT' | 'BIOMETRIC';
  result: 'PASSED' | 'FAILED';
  injected?: DemoRule;
}

export interface DemoComplaint {
  customer: number;
  category: string;
  channel: 'PHONE' | 'EMAIL' | 'ONLINE' | 'IN_PERSON' | 'SOCIAL' | 'PARTNER';
  severity: 'LOW' | 'MEDIUM' | 'HIGH' | 'CRITICAL';
  subject: string;
  description: string;
}

export interface DemoDataset {
  customers: DemoCustomer[];
  /** Sorted by occurredAt. */
  events: DemoEvent[];
  verifications: DemoVerification[];
  complaints: DemoComplaint[];
  /** Counterparties to put on the sanctioned watchlist before the events are sent. */
  sanctionedCounterparties: string[];
  /** Customer indexes per targeted rule: the truth the report is measured against. */
  injected: Record<DemoRule, number[]>;
  /** Number of account managers the customers are spread over. */
  accountManagers: number;
}

/** mulberry32: small, fast and good enough for synthetic data; deterministic per seed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const FIRST = ['Anna', 'Lukas', 'Sofia', 'Mateo', 'Emma', 'Noah', 'Mia', 'Liam', 'Chloé', 'Hugo', 'Ines', 'Marco', 'Giulia', 'Jan', 'Eva', 'Tomás', 'Lea', 'Oskar', 'Nora', 'Pieter', 'Zofia', 'Ahmed', 'Yara', 'Kenji', 'Mei', 'Ravi', 'Priya', 'Elif', 'Omar', 'Sara'];
const LAST = ['Müller', 'Schmidt', 'Dubois', 'Martin', 'Rossi', 'Bianchi', 'García', 'López', 'de Vries', 'Jansen', 'Kowalski', 'Nowak', 'Silva', 'Santos', 'Berg', 'Lind', 'Novak', 'Horvat', 'Yilmaz', 'Kaya', 'Tanaka', 'Chen', 'Sharma', 'Patel', 'Haddad', 'Okafor', 'Murphy', 'Byrne', 'Costa', 'Weber'];
const STREETS = ['Hauptstraße', 'Rue de la Paix', 'Via Roma', 'Calle Mayor', 'Kerkstraat', 'Main Street', 'Ulica Długa', 'Rua Augusta'];
const CITIES: Array<[string, string, string]> = [
  ['Berlin', 'DE', '+4930'], ['Munich', 'DE', '+4989'], ['Paris', 'FR', '+331'], ['Lyon', 'FR', '+334'], ['Milan', 'IT', '+3902'],
  ['Madrid', 'ES', '+3491'], ['Amsterdam', 'NL', '+3120'], ['Warsaw', 'PL', '+4822'], ['Lisbon', 'PT', '+35121'], ['Dublin', 'IE', '+3531'],
];
const CHANNELS = ['CARD', 'CARD', 'CARD', 'ONLINE', 'ONLINE', 'MOBILE', 'ATM'];
const TRAVEL = ['DE', 'FR', 'IT', 'ES', 'NL', 'AT', 'BE', 'PT', 'GB', 'US'];
const BILLERS = ['UTIL-POWER', 'UTIL-WATER', 'TELCO-MOBILE', 'ISP-FIBRE', 'INS-HOME', 'RENT'];
const MESSAGES = [
  'Hello, could you send me a copy of my last statement please?',
  'I would like to update my postal address next month.',
  'Thanks for the quick help on the phone yesterday.',
  'Can I raise my card limit before my holiday?',
  'Please confirm that my standing order was set up.',
  'Is there a fee for paying in another currency?',
  'I have a question about the interest on my savings account.',
  'My new card arrived, everything works, thank you.',
];
const FLAGGED_MESSAGES = [
  'If you do not reverse this charge I will find you and make you pay.',
  'Someone used my stolen card, this looks like a scam and an unauthorised payment.',
];
const COMPLAINT_TEXT: Record<string, [string, string]> = {
  PRODUCT_QUALITY: ['Card stopped working', 'The contactless chip on my card fails at most terminals.'],
  SERVICE: ['Long waiting time', 'I waited more than forty minutes on the phone line before anyone answered.'],
  BILLING: ['Charged twice for the monthly fee', 'My statement shows the account fee twice this month.'],
  FRAUD_REPORT: ['Payment I do not recognise', 'There is a card payment on my statement that I did not make.'],
  DATA_PRIVACY: ['Marketing without consent', 'I keep receiving marketing e-mails although I opted out.'],
  RETURN_REFUND: ['Refund not credited', 'The merchant confirmed a refund two weeks ago but it has not arrived.'],
  OTHER: ['Branch closed', 'The branch listed as open on Saturdays was closed when I visited.'],
};

const money = (n: number) => n.toFixed(2);

/** Builds the whole data set. Customers with an anomaly are spread evenly through the list. */
export function generateDemoData(o: DemoOptions): DemoDataset {
  const rnd = seededRandom(o.seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)];
  const between = (lo: number, hi: number) => lo + rnd() * (hi - lo);
  const int = (lo: number, hi: number) => Math.floor(between(lo, hi + 1));
  const end = o.now - 10 * MIN;
  const start = end - o.days * DAY;
  const accountManagers = Math.max(2, Math.min(8, Math.ceil(o.customers / 40)));

  // Which customers carry which anomaly: `perRule` customers per rule, evenly spaced.
  const perRule = Math.max(1, Math.floor(o.customers / 100));
  const anomalyOf = new Map<number, DemoRule>();
  const injectedCount = Math.min(o.customers, DEMO_RULES.length * perRule);
  const stride = o.customers / injectedCount;
  for (let k = 0; k < injectedCount; k++) anomalyOf.set(Math.floor(k * stride), DEMO_RULES[k % DEMO_RULES.length]);

  const customers: DemoCustomer[] = [];
  const events: DemoEvent[] = [];
  const verifications: DemoVerification[] = [];
  const injected = Object.fromEntries(DEMO_RULES.map((r) => [r, [] as number[]])) as Record<DemoRule, number[]>;
  const sanctionedCounterparties: string[] = [];

  for (let i = 0; i < o.customers; i++) {
    const anomaly = anomalyOf.get(i);
    const first = pick(FIRST);
    const last = pick(LAST);
    const [city, country, dial] = pick(CITIES);
    const ref = `${o.runId}-${String(i + 1).padStart(5, '0')}`;
    // Limits and usual amount: ordinary customers spend 1–4 % of their limit per transaction.
    let transactionLimit = pick([1000, 2000, 2500, 5000, 10000, 20000]);
    let dailyLimit = transactionLimit * pick([2, 3, 4, 5]);
    let usual = transactionLimit * between(0.01, 0.04);
    let spread: [number, number] = [0.5, 1.6];
    let txPerDay = between(0.3, 2.2);
    // Profiles the anomalies need (docs/DEMO.md): steady amounts, enough history, limits with room.
    switch (anomaly) {
      case 'LARGE_TRANSACTION':
        [transactionLimit, dailyLimit, usual] = [2000, 8000, 600];
        break;
      case 'NEW_DEVICE_LARGE_AMOUNT':
        [transactionLimit, dailyLimit, usual] = [5000, 20000, 1000];
        break;
      case 'HOURLY_VELOCITY':
        [transactionLimit, dailyLimit, usual] = [5000, 6000, 500];
        break;
      case 'SPENDING_SPIKE':
        [transactionLimit, dailyLimit, usual] = [10000, 30000, 100];
        break;
      case 'DORMANT_REACTIVATION':
        [transactionLimit, dailyLimit, usual] = [25000, 50000, 300];
        break;
      default:
        break;
    }
    if (anomaly) {
      spread = [0.85, 1.15];
      txPerDay = Math.max(txPerDay, 1.2);
    }
    customers.push({
      index: i,
      externalRef: ref,
      fullName: `${first} ${last}`,
      email: `${first}.${last}.${i + 1}@example.com`.toLowerCase().normalize('NFD').replace(/[^\x00-\x7f]/g, '').replace(/\s+/g, ''),
      phone: `${dial}${String(int(1_000_000, 9_999_999))}`,
      nationalId: `${country}${String(int(10_000_000, 99_999_999))}`,
      dateOfBirth: new Date(Date.UTC(int(1950, 2004), int(0, 11), int(1, 28))).toISOString().slice(0, 10),
      address: `${pick(STREETS)} ${int(1, 180)}, ${city}`,
      accountManager: i % accountManagers,
      transactionLimit,
      dailyLimit,
      anomaly,
    });
    if (anomaly) injected[anomaly].push(i);

    const devices = [`dev-${ref}-a`, ...(rnd() < 0.4 ? [`dev-${ref}-b`] : [])];
    let deviceSwitchAt = anomaly || rnd() > 0.15 ? Infinity : between(start, end);
    const ip = `${int(11, 220)}.${int(0, 255)}.${int(0, 255)}.${int(1, 254)}`;
    const device = (at: number) => {
      if (at >= deviceSwitchAt) {
        devices.splice(0, devices.length, `dev-${ref}-new-phone`);
        deviceSwitchAt = Infinity;
      }
      return pick(devices);
    };
    const mine: DemoEvent[] = [];
    const at = (day: number) => day + (7 + rnd() * 15) * HOUR;
    // The dormant customer's history lies before the 90-day quiet spell, and nothing else does.
    const activeFrom = anomaly === 'DORMANT_REACTIVATION' ? end - 150 * DAY : start;
    const activeTo = anomaly === 'DORMANT_REACTIVATION' ? end - 125 * DAY : end;
    const loginRate = between(0.4, 1.5);
    for (let day = activeFrom; day < activeTo; day += DAY) {
      const txs = anomaly ? Math.max(1, poisson(rnd, txPerDay)) : poisson(rnd, txPerDay);
      for (let k = 0; k < txs; k++) {
        const t = Math.min(at(day), activeTo - MIN);
        const travelling = rnd() < 0.05;
        mine.push({
          customer: i,
          type: 'TRANSACTION',
          occurredAt: t,
          amount: money(usual * between(spread[0], spread[1])),
          currency: 'EUR',
          channel: pick(CHANNELS),
          country: travelling ? pick(TRAVEL) : country,
          ipAddress: ip,
          deviceId: device(t),
          counterpartyRef: `MER-${String(int(1, 400)).padStart(4, '0')}`,
        });
      }
      for (let k = poisson(rnd, loginRate); k > 0; k--) {
        const t = Math.min(at(day), activeTo - MIN);
        const d = device(t);
        // Now and then a mistyped password, followed by a successful retry.
        if (rnd() < 0.06 && anomaly !== 'LOGIN_FAILURE_BURST') {
          mine.push({ customer: i, type: 'LOGIN', occurredAt: t - 2 * MIN, channel: 'MOBILE', ipAddress: ip, deviceId: d, attributes: { outcome: 'FAILURE' } });
        }
        mine.push({ customer: i, type: 'LOGIN', occurredAt: t, channel: 'MOBILE', ipAddress: ip, deviceId: d, attributes: { outcome: 'SUCCESS' } });
      }
      if (rnd() < 0.07) {
        mine.push({
          customer: i,
          type: 'PAYMENT',
          occurredAt: at(day),
          amount: money(between(20, 400)),
          currency: 'EUR',
          channel: 'DIRECT_DEBIT',
          counterpartyRef: pick(BILLERS),
          attributes: { daysLate: rnd() < 0.04 ? int(1, 12) : 0 },
        });
      }
      if (rnd() < 0.05) {
        mine.push({ customer: i, type: 'COMMUNICATION', occurredAt: at(day), channel: pick(['EMAIL', 'CHAT', 'SECURE_MESSAGE']), content: pick(MESSAGES) });
      }
    }
    // At most two profile changes for an ordinary customer, weeks apart; none for the injected ones but the burst.
    if (!anomaly && rnd() < 0.25) {
      const t = between(start, end - 40 * DAY);
      mine.push({ customer: i, type: 'PROFILE_CHANGE', occurredAt: t, channel: 'ONLINE', attributes: { fields: [pick(['address', 'phone', 'email'])] } });
      if (rnd() < 0.3) mine.push({ customer: i, type: 'PROFILE_CHANGE', occurredAt: t + between(10, 30) * DAY, channel: 'ONLINE', attributes: { fields: ['address'] } });
    }

    const mainDevice = `dev-${ref}-a`;
    const base = { customer: i, currency: 'EUR', country, ipAddress: ip } as const;
    const when = end - int(2, 4) * DAY + 14 * HOUR;
    switch (anomaly) {
      case 'LARGE_TRANSACTION':
        // 1.25 × the limit, from the usual device; the usual amounts (30 % of the limit) keep it under 5 × average.
        mine.push({ ...base, type: 'TRANSACTION', occurredAt: when, amount: money(transactionLimit * 1.25), channel: 'ONLINE', deviceId: mainDevice, counterpartyRef: 'MER-9001', injected: anomaly });
        break;
      case 'NEW_DEVICE_LARGE_AMOUNT':
        // 70 % of the limit from a device never seen before.
        mine.push({ ...base, type: 'TRANSACTION', occurredAt: when, amount: money(transactionLimit * 0.7), channel: 'ONLINE', deviceId: `dev-${ref}-unknown`, counterpartyRef: 'MER-9002', injected: anomaly });
        break;
      case 'HOURLY_VELOCITY':
        // Five transactions of 2.8 × the usual amount in 50 minutes: 7000 against a daily limit of 6000.
        for (let k = 0; k < 5; k++) {
          mine.push({ ...base, type: 'TRANSACTION', occurredAt: when + k * 12 * MIN, amount: money(usual * 2.8), channel: 'ONLINE', deviceId: mainDevice, counterpartyRef: `MER-95${k}0`, injected: anomaly });
        }
        break;
      case 'SPENDING_SPIKE':
        // Twelve times the usual amount: above 5 × the 7-day average and above 5 × the 30-day one.
        mine.push({ ...base, type: 'TRANSACTION', occurredAt: when, amount: money(usual * 12), channel: 'CARD', deviceId: mainDevice, counterpartyRef: 'MER-9003', injected: anomaly });
        break;
      case 'DORMANT_REACTIVATION':
        // The first event after > 120 quiet days: 6000 (> 5000, under half the limit, so not "new device, large amount").
        mine.push({ ...base, type: 'TRANSACTION', occurredAt: when, amount: money(6000), channel: 'ONLINE', deviceId: mainDevice, counterpartyRef: 'MER-9004', injected: anomaly });
        break;
      case 'FREQUENT_PROFILE_CHANGES':
        ['email', 'phone', 'address'].forEach((field, k) =>
          mine.push({ customer: i, type: 'PROFILE_CHANGE', occurredAt: when + k * 50 * MIN, channel: 'ONLINE', attributes: { fields: [field] }, injected: anomaly }),
        );
        break;
      case 'LOGIN_FAILURE_BURST': {
        // The customer's last logins: six failures in ten minutes (the lock then blocks later logins).
        const burst = end - 3 * HOUR;
        for (let k = mine.length - 1; k >= 0; k--) if (mine[k].type === 'LOGIN' && mine[k].occurredAt >= burst) mine.splice(k, 1);
        for (let k = 0; k < 6; k++) {
          mine.push({ customer: i, type: 'LOGIN', occurredAt: burst + k * 2 * MIN, channel: 'WEB', ipAddress: `185.${int(0, 255)}.${int(0, 255)}.${int(1, 254)}`, deviceId: `dev-${ref}-x`, attributes: { outcome: 'FAILURE' }, injected: anomaly });
        }
        break;
      }
      case 'COMMUNICATION_FLAG':
        mine.push({ customer: i, type: 'COMMUNICATION', occurredAt: when, channel: 'SECURE_MESSAGE', content: FLAGGED_MESSAGES[injected[anomaly].length % 2], injected: anomaly });
        break;
      case 'WATCHLIST_COUNTERPARTY': {
        const cp = `CP-SANCT-${o.runId}-${injected[anomaly].length}`;
        sanctionedCounterparties.push(cp);
        mine.push({ ...base, type: 'PAYMENT', occurredAt: when, amount: money(between(150, 900)), channel: 'TRANSFER', counterpartyRef: cp, attributes: { daysLate: 0 }, injected: anomaly });
        break;
      }
      case 'VERIFICATION_FAILURES':
        for (let k = 0; k < 3; k++) verifications.push({ customer: i, method: 'DOCUMENT', result: 'FAILED', injected: anomaly });
        break;
      default:
        break;
    }
    events.push(...mine);
  }

  // Ordinary verifications: a tenth of the ordinary customers pass a document check, some after one failure.
  const ordinary = customers.filter((c) => !c.anomaly).map((c) => c.index);
  for (const c of ordinary) {
    if (rnd() >= 0.1) continue;
    if (rnd() < 0.3) verifications.push({ customer: c, method: 'DOCUMENT', result: 'FAILED' });
    verifications.push({ customer: c, method: 'DOCUMENT', result: 'PASSED' });
  }

  // Complaints: a few per category (under the systemic threshold of 5), and one category flooded.
  const complaints: DemoComplaint[] = [];
  const complainant = () => (ordinary.length ? pick(ordinary) : int(0, o.customers - 1));
  const complaint = (category: string): DemoComplaint => {
    const [subject, description] = COMPLAINT_TEXT[category];
    return { customer: complainant(), category, channel: pick(['PHONE', 'EMAIL', 'ONLINE', 'IN_PERSON']), severity: pick(['LOW', 'MEDIUM', 'MEDIUM', 'HIGH']), subject, description };
  };
  for (const category of COMPLAINT_CATEGORIES) {
    if (category === FLOODED_CATEGORY) continue;
    for (let k = Math.min(4, int(0, Math.max(1, Math.round(o.customers / 50)))); k > 0; k--) complaints.push(complaint(category));
  }
  for (let k = Math.max(8, Math.round(o.customers / 15)); k > 0; k--) complaints.push(complaint(FLOODED_CATEGORY));

  events.sort((a, b) => a.occurredAt - b.occurredAt);
  return { customers, events, verifications, complaints, sanctionedCounterparties, injected, accountManagers };
}

/** Knuth's method: fine for the small rates used here. */
function poisson(rnd: () => number, lambda: number): number {
  const limit = Math.exp(-lambda);
  let k = 0;
  let p = rnd();
  while (p > limit) {
    k++;
    p *= rnd();
  }
  return k;
}
