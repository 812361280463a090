import { DEMO_RULES, FLOODED_CATEGORY, generateDemoData } from './demo-data';

const DAY = 86_400_000;
const options = { customers: 200, days: 90, seed: 42, now: Date.UTC(2026, 11, 5, 12), runId: 'demo42-test' };

describe('demo data', () => {
  const data = generateDemoData(options);

  it('is reproducible from its seed', () => {
    expect(JSON.stringify(generateDemoData(options))).toBe(JSON.stringify(data));
    expect(generateDemoData({ ...options, seed: 43 }).events).not.toEqual(data.events);
  });

  it('injects two anomalies per rule for 200 customers, on distinct customers, and records them as the truth', () => {
    const all = DEMO_RULES.flatMap((r) => data.injected[r]);
    for (const r of DEMO_RULES) expect(data.injected[r]).toHaveLength(2);
    expect(new Set(all).size).toBe(all.length);
    for (const r of DEMO_RULES) for (const i of data.injected[r]) expect(data.customers[i].anomaly).toBe(r);
  });

  it('sends events oldest first, none in the future, ordinary ones within the window', () => {
    expect(data.events.filter((e, k) => k > 0 && e.occurredAt < data.events[k - 1].occurredAt)).toEqual([]);
    expect(data.events.at(-1)!.occurredAt).toBeLessThan(options.now);
    const dormant = new Set(data.injected.DORMANT_REACTIVATION);
    expect(data.events.filter((e) => !dormant.has(e.customer) && e.occurredAt <= options.now - 91 * DAY)).toEqual([]);
  });

  it('keeps ordinary transactions far from every amount rule', () => {
    const limitOf = new Map(data.customers.map((c) => [c.index, c.transactionLimit]));
    const large = data.events.filter((e) => e.type === 'TRANSACTION' && !e.injected && Number(e.amount) >= 0.5 * limitOf.get(e.customer)!);
    expect(large).toEqual([]);
  });

  it('floods one complaint category and keeps the others under the systemic threshold', () => {
    const byCategory = new Map<string, number>();
    for (const c of data.complaints) byCategory.set(c.category, (byCategory.get(c.category) ?? 0) + 1);
    expect(byCategory.get(FLOODED_CATEGORY)).toBeGreaterThanOrEqual(8);
    expect(byCategory.size).toBeGreaterThan(1);
    for (const [category, n] of byCategory) if (category !== FLOODED_CATEGORY) expect(n).toBeLessThan(5);
  });
});
