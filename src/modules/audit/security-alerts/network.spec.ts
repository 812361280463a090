import { networkOf } from './network';

describe('networkOf', () => {
  it.each([
    ['203.0.113.7', '203.0.113.0/24'],
    ['203.0.113.250', '203.0.113.0/24'],
    ['::ffff:203.0.113.7', '203.0.113.0/24'],
    ['10.0.0.1', '10.0.0.0/24'],
    ['2001:db8:1::1', '2001:db8:1::/48'],
    ['2001:0db8:0001:ffff:0:0:0:2', '2001:db8:1::/48'],
    ['2001:db8:2::1', '2001:db8:2::/48'],
    ['fe80::1%eth0', 'fe80::/48'],
    ['::1', '::/48'],
    ['2001:db8:1:2:3:4:1.2.3.4', '2001:db8:1::/48'],
  ])('%s → %s', (ip, network) => {
    expect(networkOf(ip)).toBe(network);
  });

  it('keeps different /24s and /48s apart', () => {
    expect(networkOf('203.0.113.7')).not.toBe(networkOf('203.0.114.7'));
    expect(networkOf('2001:db8:1::1')).not.toBe(networkOf('2001:db8:2::1'));
  });

  it.each([null, undefined, '', 'unknown', '999.1.1.1', 'abc::xyz'])('is null for %p', (ip) => {
    expect(networkOf(ip)).toBeNull();
  });
});
