import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { Logger } from '@nestjs/common';
import { ServiceUnavailableError } from '../../../common/errors/app-error';
import { within } from '../../../../test/helpers/time';
import { createLiveBus, LIVE_BUS_COMMAND_TIMEOUT_MS } from './live-bus';

const quietLogger = { warn: jest.fn() } as unknown as Logger;

describe('live bus', () => {
  it('a subscription asked for while Redis is down is refused with SERVICE_UNAVAILABLE, and the process lives on', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    // Port 1: nothing listens, every connection attempt is refused.
    const bus = createLiveBus('redis://127.0.0.1:1', 'test:', quietLogger);
    try {
      const refused = await within(10_000, bus.pubsub.subscribe('alertRaised', () => undefined, {}).then(() => null, (error: unknown) => error), 'subscribe with Redis down');
      expect(refused).toBeInstanceOf(ServiceUnavailableError);
      await new Promise((r) => setTimeout(r, 200));
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
      await within(5_000, bus.close(), 'closing the bus').catch(() => undefined);
    }
  }, 15_000);

  describe('a Redis that accepts connections but never answers', () => {
    let server: Server;
    const sockets = new Set<Socket>();
    let url: string;

    beforeAll(async () => {
      server = createServer((socket) => {
        sockets.add(socket);
        socket.on('close', () => sockets.delete(socket));
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      url = `redis://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });
    afterAll(async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    });

    it('lets a publish give up after the command timeout, and refuses a subscription with SERVICE_UNAVAILABLE', async () => {
      const bus = createLiveBus(url, 'test:', quietLogger);
      try {
        const started = Date.now();
        await within(LIVE_BUS_COMMAND_TIMEOUT_MS + 3_000, bus.pubsub.publish('alertRaised', { id: 'a1' }), 'publish to a silent Redis');
        expect(Date.now() - started).toBeGreaterThanOrEqual(LIVE_BUS_COMMAND_TIMEOUT_MS - 100);
        const refused = await within(LIVE_BUS_COMMAND_TIMEOUT_MS + 3_000, bus.pubsub.subscribe('alertRaised', () => undefined, {}).then(() => null, (error: unknown) => error), 'subscribe to a silent Redis');
        expect(refused).toBeInstanceOf(ServiceUnavailableError);
        expect((refused as ServiceUnavailableError).extensions).toMatchObject({ code: 'SERVICE_UNAVAILABLE', reason: 'PUBSUB_UNAVAILABLE', retryable: true });
        expect(quietLogger.warn).toHaveBeenCalled();
      } finally {
        for (const socket of sockets) socket.destroy();
        await within(5_000, bus.close(), 'closing the bus').catch(() => undefined);
      }
    }, 15_000);
  });
});
