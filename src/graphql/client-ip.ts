import type { IncomingMessage } from 'node:http';

type ExpressApp = { request: object };

/**
 * The client address of a request that did not pass through Express (a WebSocket upgrade), read exactly as
 * Express reads `req.ip` for HTTP: the app's `trust proxy` setting (TRUST_PROXY) decides how far to believe
 * X-Forwarded-For. Without it, behind a load balancer, every socket would carry the balancer's address into
 * audit entries and share one rate-limit bucket.
 */
export function clientIpOf(app: ExpressApp, request: IncomingMessage): string | undefined {
  // Express's request prototype of this app: its `ip` getter reads `headers`, `socket` and the app's settings.
  const view = Object.create(app.request, {
    headers: { value: request.headers ?? {} },
    socket: { value: request.socket },
    connection: { value: request.socket },
  }) as { ip?: string };
  return view.ip ?? request.socket?.remoteAddress;
}
