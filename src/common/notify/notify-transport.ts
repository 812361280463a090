import { createHmac } from 'node:crypto';
import { appendFile, mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { Logger } from '@nestjs/common';
import { maskEmail, maskTail4 } from '../pii/masks';

export type NotifyChannel = 'SMS' | 'EMAIL' | 'NOTICE';

/** One message to a customer (a one-time code) or to staff (a hold notice to an account manager). */
export interface NotifyMessage {
  channel: NotifyChannel;
  /** Phone number (SMS), e-mail address (EMAIL) or user reference (NOTICE). Never logged in full. */
  to: string;
  subject?: string;
  body: string;
  /** The body carries a secret, e.g. a one-time code: receivers should not store it longer than needed. */
  sensitive?: boolean;
  /** Non-secret correlation id (a verification id, a hold's event id) for receivers, support and tests. */
  reference?: string;
}

/**
 * How SMS, e-mail and notices leave Custos (`NOTIFY_TRANSPORT`). One instance per process, injected by
 * class; implementations: {@link LogNotifyTransport}, {@link FileNotifyTransport}, {@link WebhookNotifyTransport}.
 * `send` resolves once the message is handed over and rejects with {@link NotifyDeliveryError} otherwise.
 * Call it after the transaction that decided to send has committed.
 */
export abstract class NotifyTransport {
  abstract readonly kind: 'log' | 'file' | 'webhook';
  abstract send(message: NotifyMessage): Promise<void>;
}

export class NotifyDeliveryError extends Error {}

/** The recipient as a log line or an API answer may show it: e-mail `j***@bank.example`, phone `*******1234`. */
export function maskRecipient(to: string): string {
  return to.includes('@') ? maskEmail(to) : maskTail4(to);
}

/** What is written or posted for one message (the body included: the file and webhook receivers deliver it). */
function envelope(message: NotifyMessage, at: Date): Record<string, unknown> {
  return {
    at: at.toISOString(),
    channel: message.channel,
    to: message.to,
    subject: message.subject ?? null,
    body: message.body,
    sensitive: message.sensitive ?? false,
    reference: message.reference ?? null,
  };
}

type LineLogger = Pick<Logger, 'log'>;

/**
 * `log`: one structured log line per message with the recipient masked. The body (which may hold a code)
 * is printed only outside production, so a developer can read it on the console; production prints none.
 */
export class LogNotifyTransport extends NotifyTransport {
  readonly kind = 'log' as const;

  constructor(
    private readonly production: boolean,
    private readonly logger: LineLogger = new Logger('Notify'),
  ) {
    super();
  }

  async send(message: NotifyMessage): Promise<void> {
    const line: Record<string, unknown> = {
      msg: 'notification',
      channel: message.channel,
      recipient: maskRecipient(message.to),
      subject: message.subject ?? null,
      reference: message.reference ?? null,
      sensitive: message.sensitive ?? false,
    };
    if (!this.production) line.text = message.body;
    this.logger.log(line);
  }
}

/** `file:<path>`: appends one JSON line per message (mode 0600: it holds codes). For development and tests. */
export class FileNotifyTransport extends NotifyTransport {
  readonly kind = 'file' as const;
  private ready?: Promise<unknown>;

  constructor(
    readonly path: string,
    private readonly now: () => Date = () => new Date(),
  ) {
    super();
  }

  async send(message: NotifyMessage): Promise<void> {
    this.ready ??= mkdir(dirname(this.path), { recursive: true });
    try {
      await this.ready;
      // One write per line with O_APPEND: concurrent sends never interleave within a line.
      await appendFile(this.path, `${JSON.stringify(envelope(message, this.now()))}\n`, { mode: 0o600 });
    } catch (error) {
      throw new NotifyDeliveryError(`notify file ${this.path}: ${(error as Error).message}`);
    }
  }
}

/** `X-Custos-Signature: t=<unix seconds>,v1=<hex HMAC-SHA-256 of "t.body">`, as for partner webhooks. */
export function notifySignature(secret: string, body: string, unixSeconds: number): string {
  return `t=${unixSeconds},v1=${createHmac('sha256', secret).update(`${unixSeconds}.${body}`).digest('hex')}`;
}

/**
 * The notify webhook secret, derived from TOKEN_SECRET (no extra variable to manage): the hex HMAC-SHA-256
 * of a fixed label under the decoded key. One-way, so the receiver learns nothing of TOKEN_SECRET. Used as
 * its characters (like a partner webhook secret). docs/VERIFICATION.md shows how to compute it.
 */
export function notifyWebhookSecret(tokenKey: Buffer): string {
  return createHmac('sha256', tokenKey).update('custos:notify-webhook:v1').digest('hex');
}

export interface WebhookNotifyOptions {
  timeoutMs?: number;
  now?: () => Date;
  fetch?: typeof fetch;
}

/** `webhook:<url>`: POSTs the message as JSON, signed; a non-2xx answer or a timeout is a delivery error. */
export class WebhookNotifyTransport extends NotifyTransport {
  readonly kind = 'webhook' as const;
  private readonly timeoutMs: number;
  private readonly now: () => Date;
  private readonly fetcher: typeof fetch;

  constructor(
    readonly url: string,
    private readonly secret: string,
    options: WebhookNotifyOptions = {},
  ) {
    super();
    this.timeoutMs = options.timeoutMs ?? 5_000;
    this.now = options.now ?? (() => new Date());
    this.fetcher = options.fetch ?? fetch;
  }

  async send(message: NotifyMessage): Promise<void> {
    const at = this.now();
    const body = JSON.stringify(envelope(message, at));
    let status: number;
    try {
      const res = await this.fetcher(this.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-custos-signature': notifySignature(this.secret, body, Math.floor(at.getTime() / 1000)) },
        body,
        redirect: 'error',
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      status = res.status;
      await res.body?.cancel().catch(() => undefined);
    } catch (error) {
      // The URL's host only, never the body: the message may hold a code.
      throw new NotifyDeliveryError(`notify webhook ${new URL(this.url).host}: ${(error as Error).name}`);
    }
    if (status < 200 || status >= 300) throw new NotifyDeliveryError(`notify webhook ${new URL(this.url).host} answered ${status}`);
  }
}

/** Builds the transport `NOTIFY_TRANSPORT` names (already validated by the config schema). */
export function createNotifyTransport(spec: string, options: { production: boolean; tokenKey: Buffer }): NotifyTransport {
  if (spec === 'log') return new LogNotifyTransport(options.production);
  if (spec.startsWith('file:')) return new FileNotifyTransport(spec.slice('file:'.length));
  if (spec.startsWith('webhook:')) return new WebhookNotifyTransport(spec.slice('webhook:'.length), notifyWebhookSecret(options.tokenKey));
  throw new Error(`NOTIFY_TRANSPORT must be log, file:<path> or webhook:<url>`);
}
