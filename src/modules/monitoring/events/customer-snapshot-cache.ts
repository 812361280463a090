import { Inject, Injectable } from '@nestjs/common';
import { BoundedLru } from '../../../common/crypto/bounded-lru';
import type { AppConfig } from '../../../config/config';
import { APP_CONFIG } from '../../../config/config.module';
import { MetricsService } from '../../../health/metrics.service';
import { isClosedCustomer } from '../../customers/customer-status';
import { CustomersService, type CustomerSnapshot } from '../../customers/customers.service';

type Entry = { snapshot: CustomerSnapshot; expiresAt: number };

/**
 * The snapshots of customers this instance screened lately, so that a partner's next event for one of them
 * costs no look-up round trip before its transaction.
 *
 * An entry is never trusted: the decision pipeline locks every customer of a call in the round trip that
 * stores its events, compares the row it locked with the snapshot it screened with, and on any difference
 * rolls the call back and screens it again from rows read under the lock (`StaleCustomerSnapshot`). A stale
 * entry — a limit changed on another instance, say — therefore costs that call a retry, never a decision
 * taken on old values. Entries are refreshed from those locked rows after each commit, forgotten when a
 * call finds them stale or changes the customer itself (risk scoring), and expire after a while in any case.
 *
 * Only open customers are kept: a TERMINATED or ERASED customer is read every time (those events are
 * refused, a rare path), and an erased customer's data key is never held here.
 */
@Injectable()
export class CustomerSnapshotCache {
  private readonly entries?: BoundedLru<string, Entry>;
  /** external ref → customer id, checked against the entry on every hit (a ref can move to another customer). */
  private readonly idOfRef?: BoundedLru<string, string>;
  private readonly ttlMs: number;

  constructor(
    private readonly customers: CustomersService,
    private readonly metrics: MetricsService,
    @Inject(APP_CONFIG) config: AppConfig,
  ) {
    const { size, ttlMs } = config.ingestCustomerCache;
    this.ttlMs = ttlMs;
    if (size > 0) {
      this.entries = new BoundedLru(size);
      this.idOfRef = new BoundedLru(size);
    }
  }

  /**
   * The customers with these ids or external refs that exist, from the cache where it holds them and from
   * one statement for the rest. Unknown keys are simply absent, as with {@link CustomersService.snapshots}.
   */
  async snapshots(ids: readonly string[], externalRefs: readonly string[]): Promise<CustomerSnapshot[]> {
    if (!this.entries) return this.customers.snapshots(ids, externalRefs);
    const found = new Map<string, CustomerSnapshot>();
    const missingIds: string[] = [];
    for (const id of ids) {
      const snapshot = this.fresh(id);
      if (snapshot) found.set(snapshot.id, snapshot);
      else missingIds.push(id);
    }
    const missingRefs: string[] = [];
    for (const ref of externalRefs) {
      const id = this.idOfRef!.get(ref);
      const snapshot = id === undefined ? undefined : this.fresh(id);
      if (snapshot?.externalRef === ref) found.set(snapshot.id, snapshot);
      else missingRefs.push(ref);
    }
    const hits = ids.length + externalRefs.length - missingIds.length - missingRefs.length;
    if (hits) this.metrics.customerLookups.inc({ result: 'cached' }, hits);
    if (missingIds.length || missingRefs.length) {
      this.metrics.customerLookups.inc({ result: 'read' }, missingIds.length + missingRefs.length);
      const read = await this.customers.snapshots(missingIds, missingRefs);
      this.remember(read);
      for (const c of read) found.set(c.id, c);
    }
    return [...found.values()];
  }

  /** Snapshots known to be current (read, or locked by a call that then committed). Closed customers are dropped. */
  remember(snapshots: Iterable<CustomerSnapshot>): void {
    if (!this.entries) return;
    const expiresAt = Date.now() + this.ttlMs;
    for (const snapshot of snapshots) {
      if (isClosedCustomer(snapshot.status)) {
        this.forget([snapshot.id]);
        continue;
      }
      this.entries.set(snapshot.id, { snapshot, expiresAt });
      this.idOfRef!.set(snapshot.externalRef, snapshot.id);
    }
  }

  /** Drops these customers: they changed, or may have. */
  forget(customerIds: Iterable<string>): void {
    if (!this.entries) return;
    for (const id of customerIds) this.entries.delete(id);
  }

  private fresh(id: string): CustomerSnapshot | undefined {
    const entry = this.entries!.get(id);
    if (!entry) return undefined;
    if (entry.expiresAt > Date.now()) return entry.snapshot;
    this.entries!.delete(id);
    return undefined;
  }
}
