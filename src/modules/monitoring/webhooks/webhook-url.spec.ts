import { checkWebhookUrl, isNonPublicAddress } from './webhook-url';

describe('isNonPublicAddress', () => {
  it.each([
    '127.0.0.1', '127.255.0.9', '10.1.2.3', '172.16.0.1', '172.31.255.255', '192.168.1.1', '169.254.169.254', '0.0.0.0', '100.64.0.1',
    '224.0.0.1', '255.255.255.255', '::', '::1', '[::1]', 'fe80::1', 'fe80::1%eth0', 'fc00::1', 'fd12:3456::1', 'ff02::1',
    '::ffff:127.0.0.1', '::ffff:7f00:1', '::ffff:10.0.0.1', '64:ff9b::a00:1', 'not-an-ip',
  ])('refuses %s', (address) => {
    expect(isNonPublicAddress(address)).toBe(true);
  });

  it.each(['8.8.8.8', '1.1.1.1', '172.32.0.1', '192.169.0.1', '2606:4700:4700::1111', '::ffff:8.8.8.8', '64:ff9b::808:808'])('allows %s', (address) => {
    expect(isNonPublicAddress(address)).toBe(false);
  });
});

describe('checkWebhookUrl', () => {
  const production = { requireHttps: true, blockPrivate: true };
  const development = { requireHttps: false, blockPrivate: false };
  const dns = (answers: Record<string, string[]>) => async (host: string) => {
    if (!answers[host]) throw new Error('ENOTFOUND');
    return answers[host];
  };

  it('allows http and private addresses in development', async () => {
    await expect(checkWebhookUrl('http://127.0.0.1:8080/hook', development)).resolves.toBe('http://127.0.0.1:8080/hook');
    await expect(checkWebhookUrl('http://localhost/x', development, dns({}))).resolves.toBe('http://localhost/x');
  });

  it('refuses what is not an http(s) URL, and credentials, everywhere', async () => {
    await expect(checkWebhookUrl('ftp://example.com/x', development)).rejects.toThrow('must be an http(s) URL');
    // 1 018 characters as sent, about 6 000 once its é are percent-encoded: over the stored limit.
    await expect(checkWebhookUrl(`https://h.example/${'é'.repeat(1000)}`, development)).rejects.toThrow('must be at most 2048 characters once normalised');
    await expect(checkWebhookUrl(`http://127.0.0.1/${'e'.repeat(2000)}`, development)).resolves.toHaveLength(2017);
    await expect(checkWebhookUrl('/relative', development)).rejects.toThrow('must be an absolute http(s) URL');
    await expect(checkWebhookUrl('https://user:pw@example.com/', development)).rejects.toThrow('must not contain credentials');
  });

  it('in production: https only, and only public addresses, literal or resolved', async () => {
    const resolve = dns({ 'hooks.partner.example': ['93.184.216.34'], 'inside.example': ['93.184.216.34', '10.0.0.7'], localhost: ['127.0.0.1', '::1'] });
    await expect(checkWebhookUrl('https://hooks.partner.example/custos', production, resolve)).resolves.toBe('https://hooks.partner.example/custos');
    await expect(checkWebhookUrl('http://hooks.partner.example/custos', production, resolve)).rejects.toThrow('must use https');
    for (const url of ['https://127.0.0.1/', 'https://[::1]/', 'https://10.1.2.3/', 'https://169.254.169.254/latest', 'https://2130706433/', 'https://0x7f.1/', 'https://localhost/', 'https://inside.example/']) {
      await expect(checkWebhookUrl(url, production, resolve)).rejects.toThrow('must not point to a loopback, private or link-local address');
    }
    await expect(checkWebhookUrl('https://nowhere.example/', production, resolve)).rejects.toThrow('host does not resolve');
  });

  it('WEBHOOK_ALLOW_PRIVATE keeps https but allows private addresses', async () => {
    await expect(checkWebhookUrl('https://10.1.2.3/hook', { requireHttps: true, blockPrivate: false })).resolves.toBe('https://10.1.2.3/hook');
  });
});
