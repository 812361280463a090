import { Logger } from '@nestjs/common';
import { PubSub, PubSubEngine } from 'graphql-subscriptions';
import { RedisPubSub } from 'graphql-redis-subscriptions';
import Redis from 'ioredis';

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
    const pubsub = new PubSub();
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
    const client = new Redis(redisUrl, { maxRetriesPerRequest: 1, enableOfflineQueue: true });
    client.on('error', warn);
    return client;
  };
  const publisher = connect();
  const subscriber = connect();
  const pubsub = new RedisPubSub({ publisher, subscriber, reviver: reviveInstants, connectionListener: (error) => error && warn(error) });
  const namespaced = new NamespacedPubSub(pubsub, prefix);
  return {
    pubsub: namespaced,
    async close() {
      await Promise.allSettled([publisher.quit(), subscriber.quit()]);
    },
  };
}

/** Prefixes every trigger name, so deployments (and test runs) sharing one Redis stay apart. */
class NamespacedPubSub extends PubSubEngine {
  constructor(private readonly inner: RedisPubSub, private readonly prefix: string) {
    super();
  }

  async publish(trigger: string, payload: unknown): Promise<void> {
    // Publishing happens after commit and must never fail the request that raised the alert.
    await this.inner.publish(this.prefix + trigger, payload).catch(() => undefined);
  }

  subscribe(trigger: string, onMessage: (...args: unknown[]) => void, options: object = {}): Promise<number> {
    return this.inner.subscribe(this.prefix + trigger, onMessage as never, options);
  }

  unsubscribe(subId: number): void {
    this.inner.unsubscribe(subId);
  }
}
