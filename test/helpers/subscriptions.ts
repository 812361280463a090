import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';

type Next = { data?: Record<string, unknown> | null; errors?: unknown };

/**
 * Subscribes and collects what arrives; resolves `closed` with the close code when the socket ends.
 * `headers`: sent with the WebSocket upgrade request (X-Forwarded-For, say).
 */
export function subscribe(url: string, token: string | undefined, query: string, variables: Record<string, unknown> = {}, { headers }: { headers?: Record<string, string> } = {}) {
  const received: Next[] = [];
  const errors: unknown[] = [];
  let closeCode: number | undefined;
  let onClosed: (code: number) => void = () => undefined;
  const closed = new Promise<number>((resolve) => (onClosed = resolve));
  const client: Client = createClient({
    url,
    webSocketImpl: headers
      ? class extends WebSocket {
          constructor(address: string, protocols?: string | string[]) {
            super(address, protocols, { headers });
          }
        }
      : WebSocket,
    retryAttempts: 0,
    lazy: false,
    onNonLazyError: () => undefined, // the close is recorded below; the default prints it to the console
    connectionParams: token ? { authorization: `Bearer ${token}` } : {},
    on: { closed: (event) => { closeCode = (event as { code: number }).code; onClosed(closeCode); } },
  });
  const connected = new Promise<void>((resolve) => client.on('connected', () => resolve()));
  client.subscribe({ query, variables }, { next: (v) => received.push(v as Next), error: (e) => errors.push(e), complete: () => undefined });
  return { client, received, errors, closed, connected, get closeCode() { return closeCode; } };
}

export const waitFor = async (check: () => boolean, ms = 5000) => {
  for (const end = Date.now() + ms; Date.now() < end; await new Promise((r) => setTimeout(r, 50))) if (check()) return;
  throw new Error('timed out waiting');
};
