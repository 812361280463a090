import { Role } from '../common/context/principal';
import { UnauthenticatedError } from '../common/errors/app-error';
import type { StaffPrincipal } from '../common/context/principal';
import { subscriptionOptions, type SubscriptionDeps } from './subscriptions';
import { LiveSockets } from './live-sockets';

const analyst: StaffPrincipal = { kind: 'USER', userId: 'u1', role: Role.ANALYST, sessionId: 's1', stepUpUntil: null };
/** A request context that runs its work at once and keeps nothing: these tests are about the socket, not the context. */
const requestContext = { cls: { run: <T>(work: () => T) => work(), set: () => undefined }, context: { setClient: () => undefined } };

/** onConnect with a credential look-up the test releases, on a socket the test may close meanwhile. */
function connecting() {
  let release: (p: StaffPrincipal | undefined) => void = () => undefined;
  const resolve = jest.fn(() => new Promise<StaffPrincipal | undefined>((r) => (release = r)));
  const deps = { principals: { resolve }, clientIp: () => '127.0.0.1', sockets: new LiveSockets(20), ...requestContext } as unknown as SubscriptionDeps;
  const socket = { readyState: 1, close: jest.fn() };
  const ctx = { connectionParams: { authorization: 'Bearer t' }, extra: { socket, request: { socket: { remoteAddress: '127.0.0.1' } } } } as Record<string, unknown> & {
    extra: { socket: typeof socket; custosTimer?: NodeJS.Timeout; custosExpiry?: NodeJS.Timeout };
  };
  const connected = subscriptionOptions(deps)['graphql-ws'].onConnect(ctx as never);
  return { ctx, socket, connected, release: (p: StaffPrincipal | undefined) => release(p), resolve };
}

describe('subscriptions: onConnect', () => {
  it('starts no re-check timer for a client that left while its credential was looked up', async () => {
    const { ctx, socket, connected, release } = connecting();
    socket.readyState = 3; // CLOSED: graphql-ws has run onClose already, with no timer to clear
    release(analyst);
    expect(await connected).toBe(false);
    expect(ctx.extra.custosTimer).toBeUndefined();
    expect(ctx.extra.custosExpiry).toBeUndefined();
  });

  it('closes with 4500, not 4401, when the credential could not be looked up at connect', async () => {
    const { ctx, socket, connected, resolve } = connecting();
    resolve.mockImplementationOnce(() => Promise.reject(new Error('Connection terminated unexpectedly')));
    const again = subscriptionOptions({ principals: { resolve }, clientIp: () => '127.0.0.1', ...requestContext } as unknown as SubscriptionDeps)['graphql-ws'].onConnect(ctx as never);
    expect(await again).toBe(false);
    expect(socket.close).toHaveBeenCalledWith(4500, 'Credential check failed; reconnect');
    expect(ctx.extra.custosTimer).toBeUndefined();
    void connected;
  });

  it('arms the re-check for a client still there, and closes with 4401 once the credential no longer holds', async () => {
    const { ctx, socket, connected, release, resolve } = connecting();
    release(analyst);
    expect(await connected).toBe(true);
    try {
      expect(ctx.extra.custosTimer).toBeDefined();
      const recheck = (ctx.extra as { custosReq?: { custosRecheck?: () => Promise<boolean> } }).custosReq!.custosRecheck!;
      resolve.mockImplementationOnce(() => Promise.resolve(analyst));
      expect(await recheck()).toBe(true);
      expect(socket.close).not.toHaveBeenCalled();
      resolve.mockImplementationOnce(() => Promise.reject(new UnauthenticatedError('Invalid, expired or revoked credentials')));
      expect(await recheck()).toBe(false);
      expect(socket.close).toHaveBeenCalledWith(4401, 'Session ended');
      resolve.mockImplementationOnce(() => Promise.resolve({ ...analyst, role: Role.AUDITOR }));
      expect(await recheck()).toBe(false);
      expect(socket.close).toHaveBeenLastCalledWith(4403, 'Permissions changed');
    } finally {
      clearInterval(ctx.extra.custosTimer);
    }
  });

  it('does not report a failed look-up as an ended session: the timer keeps the socket, a payload check closes it with 4500', async () => {
    const { ctx, socket, connected, release, resolve } = connecting();
    release(analyst);
    expect(await connected).toBe(true);
    try {
      const recheck = (ctx.extra as { custosReq?: { custosRecheck?: (periodic?: boolean) => Promise<boolean> } }).custosReq!.custosRecheck!;
      const outage = () => Promise.reject(new Error('timeout exceeded when trying to connect'));
      resolve.mockImplementationOnce(outage);
      expect(await recheck(true)).toBe(true);
      expect(socket.close).not.toHaveBeenCalled();
      resolve.mockImplementationOnce(outage);
      expect(await recheck()).toBe(false);
      expect(socket.close).toHaveBeenCalledWith(4500, 'Credential check failed; reconnect');
      expect(socket.close).not.toHaveBeenCalledWith(4401, expect.anything());
    } finally {
      clearInterval(ctx.extra.custosTimer);
    }
  });

  describe('a connection without a valid credential', () => {
    const refused = (limiter: { consume: jest.Mock }) => {
      const record = jest.fn(() => Promise.resolve());
      const deps = {
        principals: { resolve: () => Promise.resolve(undefined) },
        clientIp: () => '198.51.100.4',
        limiter,
        rateLimits: { unauthenticatedPerIp: 60 },
        audit: { record },
        cls: { run: (work: () => unknown) => work(), set: jest.fn() },
        context: { setClient: jest.fn() },
      } as unknown as SubscriptionDeps;
      const socket = { readyState: 1, close: jest.fn() };
      const ctx = { connectionParams: {}, extra: { socket, request: { headers: {}, socket: {} } } };
      return { connected: subscriptionOptions(deps)['graphql-ws'].onConnect(ctx as never), socket, record };
    };

    it('is counted against its address, audited and closed with 4401 under the limit', async () => {
      const consume = jest.fn(() => Promise.resolve({ allowed: true, retryAfterSeconds: 0 }));
      const { connected, socket, record } = refused({ consume });
      expect(await connected).toBe(false);
      expect(consume).toHaveBeenCalledWith(expect.objectContaining({ limit: 60 }), '198.51.100.4', 1);
      expect(record).toHaveBeenCalledWith(expect.objectContaining({ action: 'access.denied', details: { reason: 'UNAUTHENTICATED', transport: 'websocket' } }));
      expect(socket.close).toHaveBeenCalledWith(4401, 'Unauthorized');
    });

    it('past the limit, is closed with 4429 and writes nothing', async () => {
      const { connected, socket, record } = refused({ consume: jest.fn(() => Promise.resolve({ allowed: false, retryAfterSeconds: 30 })) });
      expect(await connected).toBe(false);
      expect(record).not.toHaveBeenCalled();
      expect(socket.close).toHaveBeenCalledWith(4429, 'Too many requests');
    });

    it('closes with 4500 when the limiter cannot answer: a server error, not a verdict on the credential', async () => {
      const { connected, socket } = refused({ consume: jest.fn(() => Promise.reject(new Error('redis down'))) });
      expect(await connected).toBe(false);
      expect(socket.close).toHaveBeenCalledWith(4500, 'Credential check failed; reconnect');
    });
  });
});
