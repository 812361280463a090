import type { AppConfig } from '../../../config/config';
import { MetricsService } from '../../../health/metrics.service';
import type { CustomersService, CustomerSnapshot } from '../../customers/customers.service';
import { CustomerSnapshotCache } from './customer-snapshot-cache';

const snapshot = (id: string, externalRef: string, status = 'ACTIVE'): CustomerSnapshot => ({
  id, externalRef, status, riskLevel: 'LOW', riskScore: 0, verificationLevel: 'NONE', creditLevel: null, transactionLimit: '1000.00', dailyLimit: '5000.00',
  restrictedLimit: null, createdAt: new Date(0), accountManagerId: null, onboardedByPartnerId: null, dataKey: null,
});

describe('CustomerSnapshotCache', () => {
  let stored: CustomerSnapshot[];
  let reads: Array<[readonly string[], readonly string[]]>;
  const make = (size = 100, ttlMs = 60_000) => {
    const customers = {
      snapshots: async (ids: readonly string[], refs: readonly string[]) => {
        reads.push([ids, refs]);
        return stored.filter((c) => ids.includes(c.id) || refs.includes(c.externalRef));
      },
    } as unknown as CustomersService;
    return new CustomerSnapshotCache(customers, new MetricsService(), { ingestCustomerCache: { size, ttlMs } } as AppConfig);
  };

  beforeEach(() => {
    stored = [snapshot('a', 'ref-a'), snapshot('b', 'ref-b')];
    reads = [];
  });
  afterEach(() => jest.useRealTimers());

  it('reads only what it does not hold, by id or by ref', async () => {
    const cache = make();
    expect((await cache.snapshots(['a'], [])).map((c) => c.id)).toEqual(['a']);
    expect((await cache.snapshots([], ['ref-a'])).map((c) => c.id)).toEqual(['a']);
    expect((await cache.snapshots(['a'], ['ref-b'])).map((c) => c.id).sort()).toEqual(['a', 'b']);
    expect(reads).toEqual([[['a'], []], [[], ['ref-b']]]);
  });

  it('does not answer a ref with a customer whose ref has changed since', async () => {
    const cache = make();
    await cache.snapshots([], ['ref-a']);
    cache.remember([snapshot('a', 'ref-a2')]);
    stored = [snapshot('a', 'ref-a2'), snapshot('c', 'ref-a')];
    expect((await cache.snapshots([], ['ref-a'])).map((c) => c.id)).toEqual(['c']);
  });

  it('forgets, expires, and keeps no closed customer', async () => {
    jest.useFakeTimers({ now: 1_000_000 });
    const cache = make(100, 1_000);
    stored.push(snapshot('t', 'ref-t', 'TERMINATED'));
    await cache.snapshots(['a', 'b', 't'], []);
    cache.forget(['a']);
    jest.setSystemTime(1_000_500);
    await cache.snapshots(['a', 'b', 't'], []);
    expect(reads[1]).toEqual([['a', 't'], []]);
    jest.setSystemTime(1_001_200); // b was read at 1 000 000, past its second; a at 1 000 500
    await cache.snapshots(['a', 'b'], []);
    expect(reads[2]).toEqual([['b'], []]);
  });

  it('keeps at most its size, dropping the least recently used', async () => {
    stored.push(snapshot('c', 'ref-c'));
    const cache = make(2);
    await cache.snapshots(['a', 'b'], []);
    await cache.snapshots(['a'], []); // a is now the more recently used
    await cache.snapshots(['c'], []);
    reads = [];
    await cache.snapshots(['a', 'b', 'c'], []);
    expect(reads).toEqual([[['b'], []]]);
  });

  it('reads every time when its size is 0', async () => {
    const cache = make(0);
    await cache.snapshots(['a'], []);
    cache.remember([snapshot('a', 'ref-a')]);
    await cache.snapshots(['a'], []);
    expect(reads).toHaveLength(2);
  });
});
