import { createHmac } from 'node:crypto';
import { signatureHeader, verifySignature } from './webhook-signature';

describe('webhook signature', () => {
  const secret = 'c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlYw';
  const body = '{"id":"1","type":"hold.placed"}';

  it('is t=<unix>,v1=<hex HMAC-SHA-256 of "t.body"> keyed with the secret as shown', () => {
    const expected = createHmac('sha256', secret).update(`1700000000.${body}`).digest('hex');
    expect(signatureHeader(secret, body, 1_700_000_000)).toBe(`t=1700000000,v1=${expected}`);
  });

  it('verifies within the tolerance and refuses a changed body, a wrong secret or an old timestamp', () => {
    const header = signatureHeader(secret, body, 1_700_000_000);
    expect(verifySignature(secret, body, header, { nowSeconds: 1_700_000_100 })).toBe(true);
    expect(verifySignature(secret, body.replace('1', '2'), header, { nowSeconds: 1_700_000_100 })).toBe(false);
    expect(verifySignature(`${secret}x`, body, header, { nowSeconds: 1_700_000_100 })).toBe(false);
    expect(verifySignature(secret, body, header, { nowSeconds: 1_700_000_400 })).toBe(false);
    expect(verifySignature(secret, body, 'v1=abc', { nowSeconds: 1_700_000_000 })).toBe(false);
  });
});
