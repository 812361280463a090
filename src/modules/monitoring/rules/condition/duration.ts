/**
 * ISO-8601 durations for rule windows and dedup windows.
 *
 * Only weeks, days, hours, minutes and whole seconds are accepted: years and months have no fixed length,
 * and a window must cover an exact span so that SQL, backtests and the in-memory reference agree. A day is
 * exactly 24 hours (no calendar or DST arithmetic).
 */
const MS = { W: 7 * 86_400_000, D: 86_400_000, H: 3_600_000, M: 60_000, S: 1000 } as const;

/** The longest look-back any aggregate may have (window plus offset). */
export const MAX_WINDOW_MS = 90 * MS.D;

/** The longest dedup window a rule may have: a year and a day, so that dates stay far inside what JS and SQL hold. */
export const MAX_DEDUP_WINDOW_MS = 366 * MS.D;

// P[nW][nD][T[nH][nM][nS]] with at least one component; `T` must be followed by one.
const DURATION_RE = /^P(?!$)(?:(\d{1,9})W)?(?:(\d{1,9})D)?(?:T(?=\d)(?:(\d{1,9})H)?(?:(\d{1,9})M)?(?:(\d{1,9})S)?)?$/;

/** Milliseconds of an ISO-8601 duration such as `PT15M`, `P1D`, `P2W`, `P1DT12H`; `null` when not accepted. */
export function parseDuration(text: unknown): number | null {
  if (typeof text !== 'string') return null;
  const m = DURATION_RE.exec(text);
  if (!m) return null;
  const [, w, d, h, min, s] = m;
  const ms =
    Number(w ?? 0) * MS.W + Number(d ?? 0) * MS.D + Number(h ?? 0) * MS.H + Number(min ?? 0) * MS.M + Number(s ?? 0) * MS.S;
  return Number.isSafeInteger(ms) ? ms : null;
}

/** Shared wording for every error about a malformed duration. */
export const DURATION_HINT =
  'must be an ISO-8601 duration of weeks, days, hours, minutes or seconds, e.g. PT15M, PT1H, P1D, P2W (years and months are not allowed)';
