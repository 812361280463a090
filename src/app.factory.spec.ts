import type { Server } from 'node:http';
import { createHttpAdapter } from './app.factory';
import type { AppConfig } from './config/config';

describe('the HTTP server', () => {
  it('keeps Node\'s connection timeouts, which Fastify would replace: drains finish, trickled bodies are cut', async () => {
    const adapter = createHttpAdapter({ trustProxy: false } as AppConfig);
    const server = adapter.getInstance().server as Server;
    try {
      // shutDown (server.ts) closes idle keep-alive connections once and waits up to 10 s for the rest: a
      // connection whose request ends during the drain must go idle-closed well within that.
      expect(server.keepAliveTimeout).toBe(5_000);
      expect(server.requestTimeout).toBe(300_000);
      expect(server.headersTimeout).toBe(60_000);
    } finally {
      await adapter.close();
    }
  });
});
