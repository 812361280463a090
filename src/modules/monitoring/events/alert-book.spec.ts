import { distanceToSpan } from './alert-book';

describe('distanceToSpan (dedup of a hit against an open alert)', () => {
  const hour = 3600_000;
  const base = Date.UTC(2026, 11, 6, 12);
  const span = { firstSeenAt: new Date(base), lastSeenAt: new Date(base + 2 * hour) };
  const at = (offsetHours: number) => new Date(base + offsetHours * hour);

  it('takes a hit inside the span at distance 0', () => {
    expect(distanceToSpan(span, at(1), 24 * hour)).toBe(0);
  });

  it('takes a hit after the span within the window, measured from the last sighting', () => {
    expect(distanceToSpan(span, at(2 + 23), 24 * hour)).toBe(23 * hour);
    expect(distanceToSpan(span, at(2 + 24), 24 * hour)).toBeUndefined(); // the window is open at its far end
  });

  it('takes a back-filled hit before the span within the window, measured from the first sighting', () => {
    expect(distanceToSpan(span, at(-23), 24 * hour)).toBe(23 * hour);
    expect(distanceToSpan(span, at(-24), 24 * hour)).toBeUndefined();
    expect(distanceToSpan(span, at(-72), 24 * hour)).toBeUndefined();
  });
});
