import type { IncomingMessage } from 'node:http';
import proxyAddr from '@fastify/proxy-addr';

/** TRUST_PROXY as configured: false, true, a hop count, or comma-separated addresses, subnets or names (`loopback`). */
export type TrustProxySetting = boolean | number | string;

/** Whether the hop at `address`, `hop` steps from this server, may be believed about the one before it. */
export type TrustProxy = (address: string, hop: number) => boolean;

/**
 * TRUST_PROXY as one function, used for HTTP requests and WebSocket upgrades alike, so both see the same client
 * address. A hop count trusts that many proxies nearest this server, whatever their address (the meaning it
 * had with Express, and the README's); addresses and names trust exactly the hops that match them.
 */
export function trustProxyFunction(setting: TrustProxySetting): TrustProxy {
  if (setting === true) return () => true;
  if (setting === false) return () => false;
  if (typeof setting === 'number') return (_address, hop) => hop < setting;
  return proxyAddr.compile(setting.split(',').map((value) => value.trim()).filter(Boolean));
}

/**
 * The client address of a raw request: the peer, or as far back along X-Forwarded-For as the trusted proxies
 * vouch for. Without it, behind a load balancer, every caller would carry the balancer's address into audit
 * entries and share one rate-limit bucket.
 */
export function clientAddressOf(request: IncomingMessage, trust: TrustProxy): string | undefined {
  if (!request.socket?.remoteAddress) return undefined;
  return proxyAddr(request, trust);
}
