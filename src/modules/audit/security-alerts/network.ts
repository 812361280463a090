import { isIPv4, isIPv6 } from 'node:net';

/**
 * The network an address belongs to for "new network" detection: IPv4 /`v4Bits` (default /24) and IPv6
 * /`v6Bits` (default /48), in a canonical text form (`203.0.113.0/24`, `2001:db8:1::/48`). IPv4-mapped
 * IPv6 (`::ffff:203.0.113.7`, as Node reports IPv4 clients on dual-stack sockets) counts as IPv4.
 * Null for anything that is not an IP address.
 */
export function networkOf(ip: string | null | undefined, v4Bits = 24, v6Bits = 48): string | null {
  if (!ip) return null;
  const address = ip.trim().replace(/^\[|\]$/g, '').split('%')[0];
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return ipv4Network(mapped[1], v4Bits);
  if (isIPv4(address)) return ipv4Network(address, v4Bits);
  if (isIPv6(address)) return ipv6Network(address, v6Bits);
  return null;
}

function ipv4Network(address: string, bits: number): string {
  const value = address.split('.').reduce((acc, octet) => acc * 256 + Number(octet), 0);
  const masked = bits === 0 ? 0 : Math.floor(value / 2 ** (32 - bits)) * 2 ** (32 - bits);
  const octets = [24, 16, 8, 0].map((shift) => Math.floor(masked / 2 ** shift) % 256);
  return `${octets.join('.')}/${bits}`;
}

function ipv6Network(address: string, bits: number): string {
  const groups = expandIpv6(address);
  let value = groups.reduce((acc, group) => (acc << 16n) | BigInt(group), 0n);
  value = (value >> BigInt(128 - bits)) << BigInt(128 - bits);
  const out: string[] = [];
  for (let i = 7; i >= 0; i--) out.push(((value >> BigInt(i * 16)) & 0xffffn).toString(16));
  return `${compressIpv6(out)}/${bits}`;
}

/** Eight 16-bit groups, an embedded dotted IPv4 tail included. */
function expandIpv6(address: string): number[] {
  let text = address.toLowerCase();
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dotted) {
    const [a, b, c, d] = dotted[1].split('.').map(Number);
    text = text.slice(0, -dotted[1].length) + `${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.includes('::') ? text.split('::') : [text, undefined];
  const left = head ? head.split(':') : [];
  const right = tail === undefined ? [] : tail ? tail.split(':') : [];
  const missing = 8 - left.length - right.length;
  return [...left, ...Array(tail === undefined ? 0 : missing).fill('0'), ...right].map((g) => parseInt(g, 16));
}

/** RFC 5952 text form: the longest run (≥ 2) of zero groups becomes `::`. */
function compressIpv6(groups: string[]): string {
  let best = { start: -1, length: 0 };
  for (let i = 0; i < groups.length; ) {
    if (groups[i] !== '0') { i++; continue; }
    let j = i;
    while (j < groups.length && groups[j] === '0') j++;
    if (j - i > best.length) best = { start: i, length: j - i };
    i = j;
  }
  if (best.length < 2) return groups.join(':');
  return `${groups.slice(0, best.start).join(':')}::${groups.slice(best.start + best.length).join(':')}`;
}
