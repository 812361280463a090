import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP } from 'node:net';
import { guardedLookup, isNonPublicAddress } from './webhook-url';

export interface PostOptions {
  timeoutMs: number;
  maxResponseBytes: number;
  /** Refuse non-public addresses at connection time (production unless WEBHOOK_ALLOW_PRIVATE). */
  blockPrivate: boolean;
}

export interface PostResult {
  /** The HTTP status, or null when no response arrived. */
  statusCode: number | null;
  /** Why the attempt failed, short and without response content; null on 2xx. */
  error: string | null;
  durationMs: number;
}

/**
 * One POST, never throwing: a 2xx is success, anything else (another status, a timeout, a refused
 * connection) is a failure described in a short line. Redirects are not followed, the response body is
 * drained up to a limit and discarded, and no connection is kept alive after the attempt.
 */
export function postJson(url: string, body: string, headers: Record<string, string>, options: PostOptions): Promise<PostResult> {
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  return new Promise<PostResult>((resolve) => {
    let settled = false;
    let timer: NodeJS.Timeout | undefined;
    const finish = (statusCode: number | null, error: string | null) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({ statusCode, error, durationMs: elapsed() });
    };
    const target = new URL(url);
    if (options.blockPrivate && isIP(target.hostname.replace(/^\[|\]$/g, '')) && isNonPublicAddress(target.hostname)) {
      finish(null, 'refused: the URL points to a non-public address');
      return;
    }
    const abort = new AbortController();
    timer = setTimeout(() => {
      abort.abort();
      finish(null, `timeout after ${options.timeoutMs} ms`);
    }, options.timeoutMs);
    const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
    const req = send(target, {
      method: 'POST',
      headers: { ...headers, 'content-length': String(Buffer.byteLength(body)), connection: 'close' },
      agent: false,
      signal: abort.signal,
      ...(options.blockPrivate ? { lookup: guardedLookup as never } : {}),
    });
    req.on('response', (res: IncomingMessage) => {
      const status = res.statusCode ?? 0;
      let received = 0;
      res.on('data', (chunk: Buffer) => {
        received += chunk.length;
        if (received > options.maxResponseBytes) res.destroy();
      });
      const done = () => finish(status, status >= 200 && status < 300 ? null : `HTTP ${status}`);
      res.on('end', done);
      res.on('close', done);
      res.on('error', done);
    });
    req.on('error', (error: NodeJS.ErrnoException) => {
      finish(null, describe(error));
    });
    req.end(body);
  });
}

function describe(error: NodeJS.ErrnoException): string {
  if (error.code === 'EADDRBLOCKED') return 'refused: the host resolves to a non-public address';
  const text = error.code ? `${error.code}: ${error.message}` : error.message;
  return text.slice(0, 300);
}
