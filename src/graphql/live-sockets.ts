import type { Principal } from '../common/context/principal';

/** Whose sockets count together: a user's over all their sessions, a partner's over all its tokens. */
export function holderOf(p: Principal): string {
  return p.kind === 'USER' ? `USER:${p.userId}` : `PARTNER:${p.partnerId}`;
}

/**
 * What this instance's subscription sockets hold, in memory (per instance, like every socket).
 *
 * Places: one per open socket past its credential check, at most `maxPerHolder` per holder. Per-principal
 * rate limits count operations, and an open socket costs none after it connects: without a cap, one valid
 * credential could hold any number of sockets (memory, a timer and a credential re-check every 15 s each).
 * graphql-ws multiplexes subscriptions over one socket, so a client needs one per browser tab, not one per
 * subscription.
 *
 * Live subscriptions, by root field: from the moment one starts until it ends (completed by the client, its
 * socket closed, or its credential gone), for `/metrics`.
 */
export class LiveSockets {
  private readonly placesByHolder = new Map<string, number>();
  private places = 0;
  private readonly subscriptionsByField: Map<string, number>;

  /** `fields`: the subscription fields reported even while none is live (a gauge at 0, not a missing one). */
  constructor(
    private readonly maxPerHolder: number,
    fields: readonly string[] = [],
  ) {
    this.subscriptionsByField = new Map(fields.map((f) => [f, 0]));
  }

  /** Takes a place for one more socket of `holder`; false, taking nothing, when it holds the cap already. */
  admit(holder: string): boolean {
    const held = this.placesByHolder.get(holder) ?? 0;
    if (held >= this.maxPerHolder) return false;
    this.placesByHolder.set(holder, held + 1);
    this.places += 1;
    return true;
  }

  /** Gives back a place `admit` took (the socket closed). */
  release(holder: string): void {
    const held = this.placesByHolder.get(holder);
    if (held === undefined) return;
    if (held > 1) this.placesByHolder.set(holder, held - 1);
    else this.placesByHolder.delete(holder);
    this.places -= 1;
  }

  /** Sockets holding a place. */
  get openSockets(): number {
    return this.places;
  }

  /** Counts a subscription of `field` as live; the function returned ends it, once however often it is called. */
  subscriptionStarted(field: string): () => void {
    this.subscriptionsByField.set(field, (this.subscriptionsByField.get(field) ?? 0) + 1);
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      this.subscriptionsByField.set(field, (this.subscriptionsByField.get(field) ?? 1) - 1);
    };
  }

  /** Live subscriptions by root field. */
  liveSubscriptions(): Array<{ field: string; count: number }> {
    return [...this.subscriptionsByField].map(([field, count]) => ({ field, count }));
  }
}
