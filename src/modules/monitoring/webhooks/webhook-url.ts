import { lookup as dnsLookup, type LookupAddress, type LookupAllOptions, type LookupOneOptions } from 'node:dns';
import { BlockList, isIP } from 'node:net';

/**
 * Where a webhook may point. In production Custos must not become a proxy into its own network (SSRF): the
 * URL must be https and its host must resolve only to public addresses — checked when the webhook is saved
 * and again on every connection (the host could be re-pointed later: DNS rebinding). Development and tests
 * allow http and private addresses; `WEBHOOK_ALLOW_PRIVATE=true` allows private addresses anywhere.
 */
export interface UrlPolicy {
  requireHttps: boolean;
  blockPrivate: boolean;
}

export class WebhookUrlError extends Error {}

/** The longest URL a webhook stores (the column's check), after normalisation. */
export const WEBHOOK_URL_MAX_LENGTH = 2048;

const blocked = new BlockList();
for (const [network, prefix] of [
  ['0.0.0.0', 8], // "this network", includes the unspecified 0.0.0.0
  ['10.0.0.0', 8],
  ['100.64.0.0', 10], // carrier-grade NAT, private in practice
  ['127.0.0.0', 8],
  ['169.254.0.0', 16], // link-local, includes cloud metadata endpoints
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['224.0.0.0', 4], // multicast
  ['240.0.0.0', 4], // reserved and broadcast
] as const) {
  blocked.addSubnet(network, prefix, 'ipv4');
}
for (const [network, prefix] of [
  ['::', 128], // unspecified
  ['::1', 128], // loopback
  ['fe80::', 10], // link-local
  ['fec0::', 10], // old site-local
  ['fc00::', 7], // unique local
  ['ff00::', 8], // multicast
  ['100::', 64], // discard
] as const) {
  blocked.addSubnet(network, prefix, 'ipv6');
}

/** IPv4 carried inside IPv6 (`::ffff:a.b.c.d`, NAT64 `64:ff9b::a.b.c.d`, in dotted or hex form), else null. */
function embeddedIpv4(address: string): string | null {
  const lower = address.toLowerCase();
  const match = /^(?:::ffff:(?:0:)?|64:ff9b::)(.+)$/.exec(lower);
  if (!match) return null;
  const tail = match[1];
  if (isIP(tail) === 4) return tail;
  const hex = /^([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(tail);
  if (!hex) return null;
  const [hi, lo] = [parseInt(hex[1], 16), parseInt(hex[2], 16)];
  return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
}

/** True for loopback, private, link-local, unique-local, unspecified, multicast and reserved addresses. */
export function isNonPublicAddress(address: string): boolean {
  const bare = address.replace(/^\[|\]$/g, '').replace(/%.*$/, '');
  const family = isIP(bare);
  if (family === 4) return blocked.check(bare, 'ipv4');
  if (family !== 6) return true; // not an address at all: refuse rather than guess
  const v4 = embeddedIpv4(bare);
  if (v4) return blocked.check(v4, 'ipv4');
  return blocked.check(bare, 'ipv6');
}

type Resolver = (host: string) => Promise<string[]>;

const resolveAll: Resolver = (host) =>
  new Promise((resolve, reject) => {
    dnsLookup(host, { all: true, verbatim: true }, (error, addresses) => (error ? reject(error) : resolve(addresses.map((a) => a.address))));
  });

/**
 * Parses and checks a webhook URL; returns its normalised form. Throws {@link WebhookUrlError} with a
 * message that reads after the field name ("must use https").
 */
export async function checkWebhookUrl(raw: string, policy: UrlPolicy, resolve: Resolver = resolveAll): Promise<string> {
  let url: URL;
  try {
    url = new URL(raw.trim());
  } catch {
    throw new WebhookUrlError('must be an absolute http(s) URL');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new WebhookUrlError('must be an http(s) URL');
  // Normalising percent-encodes what needs it: a URL within the input's limit can grow past the column's.
  if (url.toString().length > WEBHOOK_URL_MAX_LENGTH) throw new WebhookUrlError(`must be at most ${WEBHOOK_URL_MAX_LENGTH} characters once normalised`);
  if (policy.requireHttps && url.protocol !== 'https:') throw new WebhookUrlError('must use https');
  // Credentials in a URL end up in logs and proxies; receivers authenticate us by the signature instead.
  if (url.username || url.password) throw new WebhookUrlError('must not contain credentials');
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (!host) throw new WebhookUrlError('must name a host');
  if (policy.blockPrivate) {
    let addresses: string[];
    if (isIP(host)) addresses = [host];
    else {
      try {
        addresses = await resolve(host);
      } catch {
        throw new WebhookUrlError('host does not resolve');
      }
    }
    if (!addresses.length) throw new WebhookUrlError('host does not resolve');
    if (addresses.some(isNonPublicAddress)) throw new WebhookUrlError('must not point to a loopback, private or link-local address');
  }
  return url.toString();
}

type LookupCallback = (error: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/**
 * A `lookup` for `http.request` that refuses to connect when the host resolves to a non-public address:
 * the check happens on the addresses actually used for the connection, so a host re-pointed after the
 * webhook was saved is still refused. (IP-literal URLs skip DNS: the caller checks those itself.)
 */
export function guardedLookup(hostname: string, options: LookupOneOptions | LookupAllOptions, callback: LookupCallback): void {
  dnsLookup(hostname, { ...options, all: true }, (error, addresses: LookupAddress[]) => {
    if (error) return callback(error, []);
    const refused = addresses.find((a) => isNonPublicAddress(a.address));
    if (refused || !addresses.length) {
      const blockedError: NodeJS.ErrnoException = new Error(`${hostname} resolves to a non-public address`);
      blockedError.code = 'EADDRBLOCKED';
      return callback(blockedError, []);
    }
    if ((options as LookupAllOptions).all) return callback(null, addresses);
    return callback(null, addresses[0].address, addresses[0].family);
  });
}
