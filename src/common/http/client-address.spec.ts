import type { IncomingMessage } from 'node:http';
import { clientAddressOf, trustProxyFunction } from './client-address';

/** A raw request from `peer` carrying `forwarded` (nearest proxy last, as proxies append). */
function from(peer: string, forwarded?: string): IncomingMessage {
  return { headers: forwarded === undefined ? {} : { 'x-forwarded-for': forwarded }, socket: { remoteAddress: peer } } as unknown as IncomingMessage;
}

describe('client address under TRUST_PROXY', () => {
  const chain = '198.51.100.7, 10.0.0.9';

  it('believes no header when no proxy is trusted', () => {
    expect(clientAddressOf(from('203.0.113.1', chain), trustProxyFunction(false))).toBe('203.0.113.1');
  });

  it('walks back through every hop when all are trusted', () => {
    expect(clientAddressOf(from('127.0.0.1', chain), trustProxyFunction(true))).toBe('198.51.100.7');
  });

  it('trusts exactly as many hops as counted, whatever their addresses', () => {
    expect(clientAddressOf(from('203.0.113.1', chain), trustProxyFunction(1))).toBe('10.0.0.9');
    expect(clientAddressOf(from('203.0.113.1', chain), trustProxyFunction(2))).toBe('198.51.100.7');
    expect(clientAddressOf(from('203.0.113.1', chain), trustProxyFunction(0))).toBe('203.0.113.1');
  });

  it('trusts named subnets and listed addresses only', () => {
    const trust = trustProxyFunction('loopback, 10.0.0.0/8');
    expect(clientAddressOf(from('127.0.0.1', chain), trust)).toBe('198.51.100.7');
    // A peer outside the list is the client, whatever it claims to forward.
    expect(clientAddressOf(from('203.0.113.1', chain), trust)).toBe('203.0.113.1');
    // A listed proxy forwarding for an unlisted one: the walk stops at the first untrusted hop.
    expect(clientAddressOf(from('127.0.0.1', '198.51.100.7, 192.0.2.44'), trust)).toBe('192.0.2.44');
  });

  it('has no address for a request without a socket address', () => {
    expect(clientAddressOf({ headers: {}, socket: {} } as unknown as IncomingMessage, trustProxyFunction(true))).toBeUndefined();
  });
});
