import { createHmac } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createNotifyTransport,
  FileNotifyTransport,
  LogNotifyTransport,
  maskRecipient,
  notifySignature,
  notifyWebhookSecret,
  NotifyDeliveryError,
  WebhookNotifyTransport,
  type NotifyMessage,
} from './notify-transport';

const CODE_MESSAGE: NotifyMessage = { channel: 'SMS', to: '+8613900001234', body: 'Your code is 482913', sensitive: true, reference: 'v-1' };

describe('maskRecipient', () => {
  it('masks e-mail addresses and phone numbers', () => {
    expect(maskRecipient('jane.doe@bank.example')).toBe('j***@bank.example');
    expect(maskRecipient('+8613900001234')).toBe('**********1234');
    expect(maskRecipient('abc')).not.toContain('a');
  });
});

describe('LogNotifyTransport', () => {
  const capture = () => {
    const lines: unknown[] = [];
    return { lines, logger: { log: (line: unknown) => void lines.push(line) } };
  };

  it('never prints the body nor the full recipient in production', async () => {
    const { lines, logger } = capture();
    await new LogNotifyTransport(true, logger).send(CODE_MESSAGE);
    expect(lines).toHaveLength(1);
    const text = JSON.stringify(lines[0]);
    expect(text).not.toContain('482913');
    expect(text).not.toContain('+8613900001234');
    expect(lines[0]).toMatchObject({ channel: 'SMS', recipient: '**********1234', reference: 'v-1', sensitive: true });
  });

  it('prints the body outside production (a developer reads the code on the console), recipient still masked', async () => {
    const { lines, logger } = capture();
    await new LogNotifyTransport(false, logger).send({ ...CODE_MESSAGE, channel: 'EMAIL', to: 'jane.doe@bank.example' });
    expect(lines[0]).toMatchObject({ text: 'Your code is 482913', recipient: 'j***@bank.example' });
    expect(JSON.stringify(lines[0])).not.toContain('jane.doe@');
  });
});

describe('FileNotifyTransport', () => {
  const dir = join(tmpdir(), `custos-notify-${process.pid}-${Date.now()}`);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('appends one JSON line per message, creating the directory', async () => {
    const path = join(dir, 'nested', 'notify.jsonl');
    const transport = new FileNotifyTransport(path, () => new Date('2026-01-02T03:04:05Z'));
    await Promise.all([transport.send(CODE_MESSAGE), transport.send({ channel: 'NOTICE', to: 'user-1', subject: 'Hold', body: 'A transaction is held' })]);
    const lines = readFileSync(path, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toHaveLength(2);
    expect(lines).toEqual(
      expect.arrayContaining([
        { at: '2026-01-02T03:04:05.000Z', channel: 'SMS', to: '+8613900001234', subject: null, body: 'Your code is 482913', sensitive: true, reference: 'v-1' },
        { at: '2026-01-02T03:04:05.000Z', channel: 'NOTICE', to: 'user-1', subject: 'Hold', body: 'A transaction is held', sensitive: false, reference: null },
      ]),
    );
  });

  it('reports a path it cannot write as a delivery error', async () => {
    const blocker = join(dir, 'a-file');
    await new FileNotifyTransport(blocker).send(CODE_MESSAGE);
    const transport = new FileNotifyTransport(join(blocker, 'below-a-file', 'notify.jsonl'));
    await expect(transport.send(CODE_MESSAGE)).rejects.toBeInstanceOf(NotifyDeliveryError);
  });
});

describe('WebhookNotifyTransport', () => {
  let server: Server;
  let url: string;
  let status = 204;
  const received: Array<{ headers: IncomingMessage['headers']; body: string }> = [];

  beforeAll(async () => {
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (d) => (body += d));
      req.on('end', () => {
        received.push({ headers: req.headers, body });
        res.statusCode = status;
        res.end();
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/notify`;
  });
  afterAll(() => new Promise((r) => server.close(r)));

  it('posts the message as JSON with an HMAC signature over "t.body"', async () => {
    const secret = notifyWebhookSecret(Buffer.alloc(32, 7));
    const at = new Date('2026-01-02T03:04:05Z');
    await new WebhookNotifyTransport(url, secret, { now: () => at }).send(CODE_MESSAGE);
    const { headers, body } = received[received.length - 1];
    expect(headers['content-type']).toBe('application/json');
    expect(JSON.parse(body)).toMatchObject({ channel: 'SMS', to: '+8613900001234', body: 'Your code is 482913', sensitive: true, reference: 'v-1' });
    const t = Math.floor(at.getTime() / 1000);
    const expected = createHmac('sha256', secret).update(`${t}.${body}`).digest('hex');
    expect(headers['x-custos-signature']).toBe(`t=${t},v1=${expected}`);
    expect(notifySignature(secret, body, t)).toBe(headers['x-custos-signature']);
  });

  it('fails on a non-2xx answer and on an unreachable receiver, without the body in the message', async () => {
    status = 500;
    const failure = new WebhookNotifyTransport(url, 'secret').send(CODE_MESSAGE);
    await expect(failure).rejects.toBeInstanceOf(NotifyDeliveryError);
    await expect(failure).rejects.toThrow(/answered 500/);
    status = 204;
    const unreachable = new WebhookNotifyTransport('http://127.0.0.1:1/notify', 'secret', { timeoutMs: 500 }).send(CODE_MESSAGE);
    await expect(unreachable).rejects.toBeInstanceOf(NotifyDeliveryError);
    await expect(unreachable).rejects.not.toThrow(/482913/);
  });

  it('derives a stable secret from TOKEN_SECRET that reveals nothing of it', () => {
    const key = Buffer.alloc(32, 1);
    expect(notifyWebhookSecret(key)).toMatch(/^[0-9a-f]{64}$/);
    expect(notifyWebhookSecret(key)).toBe(notifyWebhookSecret(Buffer.alloc(32, 1)));
    expect(notifyWebhookSecret(key)).not.toBe(notifyWebhookSecret(Buffer.alloc(32, 2)));
  });
});

describe('createNotifyTransport', () => {
  const tokenKey = Buffer.alloc(32, 3);
  it('builds the transport NOTIFY_TRANSPORT names', () => {
    expect(createNotifyTransport('log', { production: true, tokenKey }).kind).toBe('log');
    const file = createNotifyTransport('file:/tmp/x.jsonl', { production: false, tokenKey });
    expect(file).toBeInstanceOf(FileNotifyTransport);
    expect((file as FileNotifyTransport).path).toBe('/tmp/x.jsonl');
    const hook = createNotifyTransport('webhook:https://sms.example/send', { production: true, tokenKey });
    expect(hook).toBeInstanceOf(WebhookNotifyTransport);
    expect((hook as WebhookNotifyTransport).url).toBe('https://sms.example/send');
    expect(() => createNotifyTransport('smtp:x', { production: false, tokenKey })).toThrow();
  });
});
