import { extendLock, isLocked, mergeSpans } from './login-lock-span';

const at = (minute: number) => new Date(Date.UTC(2026, 0, 1, 10, minute));
const span = (from: number, to: number) => ({ since: at(from), until: at(to) });

describe('login lock spans', () => {
  it('merges overlapping or touching spans at either end', () => {
    expect(mergeSpans(span(0, 30), span(20, 50))).toEqual(span(0, 50));
    expect(mergeSpans(span(20, 50), span(0, 30))).toEqual(span(0, 50));
    expect(mergeSpans(span(0, 30), span(30, 60))).toEqual(span(0, 60));
    expect(mergeSpans(span(0, 30), span(5, 25))).toEqual(span(0, 30));
  });

  it('starts a new span after a disjoint later hit, and keeps the current one against a disjoint earlier hit', () => {
    expect(mergeSpans(span(0, 30), span(31, 61))).toEqual(span(31, 61));
    expect(mergeSpans(span(31, 61), span(0, 30))).toEqual(span(31, 61));
  });

  it('blocks logins inside the span only, and none once lifted', () => {
    const locks = new Map();
    extendLock(locks, 'c', span(0, 30), at(0));
    extendLock(locks, 'c', span(20, 50), at(0));
    const lock = locks.get('c');
    expect([-1, 0, 10, 49, 50].map((m) => isLocked(lock, at(m)))).toEqual([false, true, true, true, false]);
    expect(isLocked({ ...lock, lifted: true }, at(10))).toBe(false);
  });

  it('clears a lift only when the new span reaches past the stored end and the present', () => {
    const locks = new Map([['c', { lockedSince: at(0), lockedUntil: at(30), lifted: true }]]);
    extendLock(locks, 'c', span(5, 25), at(0));
    expect(locks.get('c')!.lifted).toBe(true);
    extendLock(locks, 'c', span(20, 50), at(0));
    expect(locks.get('c')).toEqual({ lockedSince: at(0), lockedUntil: at(50), lifted: false });
  });
});
