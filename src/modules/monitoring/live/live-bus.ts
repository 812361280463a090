import { Logger } from '@nestjs/common';
import { EventEmitter } from 'node:events';
import { ServiceUnavailableError } from '../../../common/errors/app-error';
import { PubSub, PubSubEngine } from 'graphql-subscriptions';
import { RedisPubSub } from 'graphql-redis-subscriptions';
import Redis from 'ioredis';

/** How long a Redis command (a publish, a subscribe) may wait for its answer before it fails. */
export const LIVE_BUS_COMMAND_TIMEOUT_MS = 2_000;

/** ISO-8601 instants as JSON.stringify writes them; anything else stays a string. */
const ISO_INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,3})?Z$/;

/** Payloads cross Redis as JSON: restore the Date values the GraphQL DateTime fields expect. */
export function reviveInstants(_key: string, value: unknown): unknown {
  return typeof value === 'string' && ISO_INSTANT.test(value) ? new Date(value) : value;
}

/** A bus for subscription payloads, plus a way to release its connections on shutdown. */
export interface LiveBus {
  readonly pubsub: PubSubEngine;
  close(): Promise<void>;
}

/**
 * In-process fan-out for one instance; with `redisUrl`, Redis pub/sub so that an alert raised by any
 * instance reaches subscribers connected to every other one. Channels are namespaced by `prefix`.
 * Publishing is fire-and-forget after commit: while Redis is down, live pushes are lost (ioredis reconnects
 * on its own) but nothing else fails — subscribers can always re-read `alerts` and `myNotifications`.
 */
export function createLiveBus(redisUrl: string | undefined, prefix: string, logger = new Logger('LiveBus')): LiveBus {
  if (!redisUrl) {
    // One listener per live subscription on a trigger: more than EventEmitter's default ten is normal here.
    const events = new EventEmitter();
    events.setMaxListeners(0);
    const pubsub = new PubSub({ eventEmitter: events });
    return { pubsub, close: async () => undefined };
  }
  let lastWarning = 0;
  const warn = (error: Error) => {
    // One line a minute at most: a Redis outage must not flood the logs.
    if (Date.now() - lastWarning < 60_000) return;
    lastWarning = Date.now();
    logger.warn(`Redis pub/sub unavailable (${error.message}); live updates are delivered only when it returns`);
  };
  const connect = () => {
    // commandTimeout: a Redis that accepts connections but never answers (paused, a network black hole) must
    // not pile publishes up in the client's queue, with nothing logged, until the connection finally drops.
    const client = new Redis(redisUrl, { maxRetriesPerRequest: 1, enableOfflineQueue: true, commandTimeout: LIVE_BUS_COMMAND_TIMEOUT_MS });
    client.on('error', warn);
    return client;
  };
  const publisher = connect();
  const subscriber = connect();
  const pubsub = new RedisPubSub({ publisher, subscriber, reviver: reviveInstants, connectionListener: (error) => error && warn(error) });
  const namespaced = new NamespacedPubSub(pubsub, prefix, warn);
  return {
    pubsub: namespaced,
    async close() {
      await Promise.allSettled([publisher.quit(), subscriber.quit()]);
    },
  };
}

/** Prefixes every trigger name, so deployments (and test runs) sharing one Redis stay apart. */
class NamespacedPubSub extends PubSubEngine {
  constructor(
    private readonly inner: RedisPubSub,
    private readonly prefix: string,
    private readonly onError: (error: Error) => void,
  ) {
    super();
  }

  async publish(trigger: string, payload: unknown): Promise<void> {
    // Publishing happens after commit and must never fail the request that raised the alert.
    await this.inner.publish(this.prefix + trigger, payload).catch((error: Error) => this.onError(error));
  }

  async subscribe(trigger: string, onMessage: (...args: unknown[]) => void, options: object = {}): Promise<number> {
    const name = this.prefix + trigger;
    const subscribing = this.inner.subscribe(name, onMessage as never, options);
    // graphql-redis-subscriptions 2.7 parks a second promise of a trigger's first subscribe for subscribers
    // arriving meanwhile, and rejects it unobserved when Redis refuses: an unhandled rejection, which ends
    // the process. Observed here; and a failed subscription's entry is dropped, not kept for good.
    const internals = this.inner as unknown as { subsPendingRefsMap: Map<string, { pending: { promise: Promise<unknown> } }>; subscriptionMap: Record<number, [string, unknown]> };
    void internals.subsPendingRefsMap.get(name)?.pending.promise.catch(() => undefined);
    try {
      return await subscribing;
    } catch (error) {
      for (const [id, [, handler]] of Object.entries(internals.subscriptionMap)) if (handler === onMessage) delete internals.subscriptionMap[Number(id)];
      this.onError(error as Error);
      // The subscriber gets a coded error, not the Redis client's own message.
      throw new ServiceUnavailableError('PUBSUB_UNAVAILABLE', 'Live updates are unavailable for now; try again shortly');
    }
  }

  unsubscribe(subId: number): void {
    this.inner.unsubscribe(subId);
  }
}
