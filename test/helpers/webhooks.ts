import { createHmac } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One request a receiver got: its headers, its body and when it arrived. */
export interface Received {
  headers: IncomingHttpHeaders;
  body: string;
  at: number;
}

/**
 * A partner's endpoint on loopback: answers request n (1 for the first) with `respond(n)`; a promise holds
 * the answer back. `waitMs`: how long `waitFor` waits by default.
 */
export class Receiver {
  readonly requests: Received[] = [];
  url = '';
  private readonly server: Server;
  private readonly waitMs: number;

  constructor(private readonly respond: (n: number) => number | Promise<number> = () => 200, { waitMs = 45_000 }: { waitMs?: number } = {}) {
    this.waitMs = waitMs;
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        this.requests.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), at: Date.now() });
        void Promise.resolve(this.respond(this.requests.length)).then((status) => {
          res.statusCode = status;
          res.end('thanks');
        });
      });
    });
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/custos-hooks`;
    return this;
  }

  of(type: string): Received[] {
    return this.requests.filter((r) => r.headers['x-custos-event'] === type);
  }

  async waitFor(count: number, type?: string, timeoutMs = this.waitMs): Promise<Received[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const seen = type ? this.of(type) : this.requests;
      if (seen.length >= count) return seen;
      if (Date.now() > deadline) throw new Error(`expected ${count} ${type ?? ''} requests, got ${seen.length}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

/** The receiver's side of the contract: the recipe from docs/WEBHOOKS.md, written out independently. */
export function verifySignature(secret: string, received: Received): { t: number } {
  const header = String(received.headers['x-custos-signature']);
  const match = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(header);
  if (!match) throw new Error(`malformed signature header: ${header}`);
  const expected = createHmac('sha256', secret).update(`${match[1]}.${received.body}`).digest('hex');
  expect(match[2]).toBe(expected);
  return { t: Number(match[1]) };
}
