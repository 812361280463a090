import { MAX_WINDOW_MS, parseDuration } from './duration';

describe('parseDuration', () => {
  it.each([
    ['PT15M', 15 * 60_000],
    ['PT1H', 3_600_000],
    ['P1D', 86_400_000],
    ['P2W', 14 * 86_400_000],
    ['P1DT12H', 36 * 3_600_000],
    ['PT1H30M15S', 5_415_000],
    ['P1W1D', 8 * 86_400_000],
    ['PT90S', 90_000],
    ['PT0S', 0],
    ['P90D', MAX_WINDOW_MS],
  ])('%s → %d ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each(['', 'P', 'PT', 'P1DT', 'P1Y', 'P1M', 'P1Y2D', 'pt15m', 'PT1.5S', 'PT-1M', ' PT1M', 'PT1M ', '15M', 'P1H', 'PT1D', 'P1D1W', 'P9999999999D'])(
    'refuses %j',
    (text) => {
      expect(parseDuration(text)).toBeNull();
    },
  );

  it('refuses non-strings', () => {
    expect(parseDuration(15)).toBeNull();
    expect(parseDuration(null)).toBeNull();
    expect(parseDuration(undefined)).toBeNull();
  });

  it('sets the look-back limit at exactly 90 days of 24 hours', () => {
    expect(MAX_WINDOW_MS).toBe(90 * 24 * 3_600_000);
  });
});
