import { Role, type PartnerPrincipal } from '../common/context/principal';
import { holderOf, LiveSockets } from './live-sockets';

describe('LiveSockets', () => {
  it('admits a holder up to the cap, refusing the next without taking a place', () => {
    const sockets = new LiveSockets(2);
    expect(sockets.admit('USER:a')).toBe(true);
    expect(sockets.admit('USER:a')).toBe(true);
    expect(sockets.admit('USER:a')).toBe(false);
    expect(sockets.openSockets).toBe(2);
    // Another holder has places of its own.
    expect(sockets.admit('USER:b')).toBe(true);
    expect(sockets.openSockets).toBe(3);
  });

  it('frees exactly one place per release, and ignores a holder with none', () => {
    const sockets = new LiveSockets(2);
    sockets.admit('USER:a');
    sockets.admit('USER:a');
    sockets.release('USER:a');
    expect(sockets.openSockets).toBe(1);
    expect(sockets.admit('USER:a')).toBe(true);
    expect(sockets.admit('USER:a')).toBe(false);
    sockets.release('USER:nobody');
    expect(sockets.openSockets).toBe(2);
    sockets.release('USER:a');
    sockets.release('USER:a');
    sockets.release('USER:a'); // one more than it held: nothing below zero
    expect(sockets.openSockets).toBe(0);
    expect(sockets.admit('USER:a')).toBe(true);
    expect(sockets.admit('USER:a')).toBe(true);
  });

  it('counts a user over all their sessions and a partner over all its tokens', () => {
    expect(holderOf({ kind: 'USER', userId: 'u1', role: Role.ANALYST, sessionId: 's1', stepUpUntil: null })).toBe(
      holderOf({ kind: 'USER', userId: 'u1', role: Role.ANALYST, sessionId: 's2', stepUpUntil: null }),
    );
    const partner = { kind: 'PARTNER', partnerId: 'p1', tokenId: 't1', trustLevel: 'EXTERNAL', scopes: [] } as unknown as PartnerPrincipal;
    expect(holderOf(partner)).toBe(holderOf({ ...partner, tokenId: 't2' }));
    expect(holderOf(partner)).not.toBe(holderOf({ kind: 'USER', userId: 'p1', role: Role.ANALYST, sessionId: 's1', stepUpUntil: null }));
  });

  it('counts live subscriptions by field, each ended once however often its end is called', () => {
    const sockets = new LiveSockets(20, ['alertRaised', 'notificationReceived']);
    expect(sockets.liveSubscriptions()).toEqual([
      { field: 'alertRaised', count: 0 },
      { field: 'notificationReceived', count: 0 },
    ]);
    const first = sockets.subscriptionStarted('alertRaised');
    const second = sockets.subscriptionStarted('alertRaised');
    sockets.subscriptionStarted('notificationReceived');
    first();
    first();
    expect(sockets.liveSubscriptions()).toEqual([
      { field: 'alertRaised', count: 1 },
      { field: 'notificationReceived', count: 1 },
    ]);
    second();
    expect(sockets.liveSubscriptions()).toContainEqual({ field: 'alertRaised', count: 0 });
  });
});
