import type { Server } from 'node:http';
import { createHttpAdapter } from './app.factory';
import type { AppConfig } from './config/config';

describe('the HTTP server', () => {
  it('keeps Node\'s connection timeouts, which Fastify would replace: drains finish, trickled bodies are cut', async () => {
    const adapter = createHttpAdapter({ trustProxy: false } as AppConfig);
    const server = adapter.getInstance().server as Server;
    try {
      // Idle keep-alive sockets are let go after Node's 5 s (shutDown's drain closes them sooner itself:
      // shutdown.e2e-spec.ts), and a request whose body never finishes arriving is cut.
      expect(server.keepAliveTimeout).toBe(5_000);
      expect(server.requestTimeout).toBe(300_000);
      expect(server.headersTimeout).toBe(60_000);
    } finally {
      await adapter.close();
    }
  });
});
