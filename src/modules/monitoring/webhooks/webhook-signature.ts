import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * `X-Custos-Signature: t=<unix seconds>,v1=<hex HMAC-SHA-256 of "t.body">`, keyed with the webhook secret
 * exactly as it was shown (its characters, not base64-decoded). The timestamp is inside the MAC, so a
 * receiver that also checks its age refuses replays of an old delivery.
 */
export function signatureHeader(secret: string, body: string, unixSeconds: number): string {
  return `t=${unixSeconds},v1=${hmac(secret, unixSeconds, body)}`;
}

const hmac = (secret: string, t: number | string, body: string): string => createHmac('sha256', secret).update(`${t}.${body}`).digest('hex');

/**
 * The receiver's check (documented in docs/WEBHOOKS.md, used by the tests): a `v1` matches in constant time
 * and `t` is within `toleranceSeconds` of now. Several `v1` entries are accepted, for future key rollover.
 */
export function verifySignature(secret: string, body: string, header: string, options: { toleranceSeconds?: number; nowSeconds?: number } = {}): boolean {
  const parts = header.split(',').map((p) => p.trim().split('=') as [string, string]);
  const t = parts.find(([k]) => k === 't')?.[1];
  const candidates = parts.filter(([k]) => k === 'v1').map(([, v]) => v);
  if (!t || !/^\d+$/.test(t) || !candidates.length) return false;
  const now = options.nowSeconds ?? Math.floor(Date.now() / 1000);
  if (Math.abs(now - Number(t)) > (options.toleranceSeconds ?? 300)) return false;
  const expected = Buffer.from(hmac(secret, t, body), 'hex');
  return candidates.some((v) => /^[0-9a-f]{64}$/.test(v) && timingSafeEqual(Buffer.from(v, 'hex'), expected));
}
