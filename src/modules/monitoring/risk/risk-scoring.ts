/**
 * The risk score, explainable: a list of factors `{factor, points, detail}` whose points add up to the
 * score (0–100). Pure functions and constants only; {@link RiskService} gathers the inputs.
 *
 * Points (SPEC §5 "Risk and early warning"):
 * - OPEN_ALERTS — every alert of the customer that is not CLOSED, by severity: LOW 2, MEDIUM 5, HIGH 10,
 *   CRITICAL 20 each; the factor is capped at 40.
 * - CONFIRMED_TRUE_POSITIVES — alerts closed TRUE_POSITIVE in the last 90 days, 15 each, capped at 30.
 * - further factors from registered sources (see RiskFactorSource): COMPLAINTS — open complaints by severity
 *   (LOW 1, MEDIUM 3, HIGH 5, CRITICAL 8 each) and 5 for a repeat complainant (≥ 3 received in 90 days),
 *   capped at 15 (complaints/complaint-risk.ts).
 * - CREDIT_LEVEL — the latest credit assessment's level: LOW 0, MEDIUM 5, HIGH 10, CRITICAL 20.
 * - VERIFICATION_LEVEL — NONE 10, BASIC 5, VERIFIED 0, ENHANCED 0.
 * - ACCOUNT_AGE — younger than 30 days 10, younger than 90 days 5.
 *
 * Cap at 100: factors are summed in the order above; the factor that crosses 100 is cut to what is left
 * and any factor after it gets 0 points (both keep their line, the detail saying "capped"), so the points
 * still add up to the score exactly and the most serious evidence (alerts) always counts in full.
 * Factors worth 0 points before capping are left out.
 */

export interface RiskFactorLine {
  factor: string;
  points: number;
  detail: string | null;
}

export type Level = 'LOW' | 'MEDIUM' | 'HIGH' | 'CRITICAL';
export const LEVELS: readonly Level[] = ['LOW', 'MEDIUM', 'HIGH', 'CRITICAL'];

export const MAX_RISK_SCORE = 100;

/** Level from score: 0–24 LOW, 25–49 MEDIUM, 50–74 HIGH, 75–100 CRITICAL (lower bounds). */
export const RISK_LEVEL_THRESHOLDS: ReadonlyArray<{ level: Level; from: number }> = [
  { level: 'CRITICAL', from: 75 },
  { level: 'HIGH', from: 50 },
  { level: 'MEDIUM', from: 25 },
  { level: 'LOW', from: 0 },
];

export const OPEN_ALERT_POINTS: Readonly<Record<Level, number>> = { LOW: 2, MEDIUM: 5, HIGH: 10, CRITICAL: 20 };
export const OPEN_ALERTS_CAP = 40;
export const TRUE_POSITIVE_POINTS = 15;
export const TRUE_POSITIVES_CAP = 30;
export const TRUE_POSITIVE_WINDOW_DAYS = 90;
export const CREDIT_LEVEL_POINTS: Readonly<Record<Level, number>> = { LOW: 0, MEDIUM: 5, HIGH: 10, CRITICAL: 20 };
export const VERIFICATION_LEVEL_POINTS: Readonly<Record<string, number>> = { NONE: 10, BASIC: 5, VERIFIED: 0, ENHANCED: 0 };
/** Younger than `days` → `points`; the first matching bracket counts. */
export const ACCOUNT_AGE_POINTS: ReadonlyArray<{ days: number; points: number }> = [
  { days: 30, points: 10 },
  { days: 90, points: 5 },
];

export function riskLevelOf(score: number): Level {
  return RISK_LEVEL_THRESHOLDS.find((t) => score >= t.from)!.level;
}

/** Order of levels, for "rose" / "worsened" comparisons; unknown or null is below LOW. */
export function levelRank(level: string | null | undefined): number {
  return level ? LEVELS.indexOf(level as Level) : -1;
}

export interface RiskInputs {
  /** Counts of not-CLOSED alerts by severity. */
  openAlerts: Partial<Record<Level, number>>;
  /** Alerts closed TRUE_POSITIVE within {@link TRUE_POSITIVE_WINDOW_DAYS}. */
  truePositives: number;
  creditLevel: string | null;
  verificationLevel: string;
  accountAgeDays: number;
  /** Factors from registered sources, already in points (each source caps its own). */
  extra?: RiskFactorLine[];
}

/**
 * Counts by severity weighed with per-severity points (open alerts, open complaints): the points, how many
 * there are, and `"<n> <SEVERITY>"` parts, most severe first, for a factor's detail.
 */
export function weighBySeverity(counts: Partial<Record<Level, number>>, points: Readonly<Record<Level, number>>): { points: number; count: number; parts: string[] } {
  const tally = { points: 0, count: 0, parts: [] as string[] };
  for (const level of [...LEVELS].reverse()) {
    const n = counts[level] ?? 0;
    if (!n) continue;
    tally.points += n * points[level];
    tally.count += n;
    tally.parts.push(`${n} ${level}`);
  }
  return tally;
}

export function openAlertsFactor(counts: Partial<Record<Level, number>>): RiskFactorLine | null {
  const { points: raw, parts } = weighBySeverity(counts, OPEN_ALERT_POINTS);
  if (!raw) return null;
  const points = Math.min(raw, OPEN_ALERTS_CAP);
  return { factor: 'OPEN_ALERTS', points, detail: `${parts.join(', ')} open alert(s)${raw > points ? ` (${raw} points, factor capped at ${OPEN_ALERTS_CAP})` : ''}` };
}

export function truePositivesFactor(n: number): RiskFactorLine | null {
  if (!n) return null;
  const raw = n * TRUE_POSITIVE_POINTS;
  const points = Math.min(raw, TRUE_POSITIVES_CAP);
  return { factor: 'CONFIRMED_TRUE_POSITIVES', points, detail: `${n} alert(s) closed TRUE_POSITIVE in the last ${TRUE_POSITIVE_WINDOW_DAYS} days${raw > points ? ` (factor capped at ${TRUE_POSITIVES_CAP})` : ''}` };
}

export function creditLevelFactor(level: string | null): RiskFactorLine | null {
  const points = level ? (CREDIT_LEVEL_POINTS[level as Level] ?? 0) : 0;
  return points ? { factor: 'CREDIT_LEVEL', points, detail: `credit level ${level}` } : null;
}

export function verificationFactor(level: string): RiskFactorLine | null {
  const points = VERIFICATION_LEVEL_POINTS[level] ?? 0;
  return points ? { factor: 'VERIFICATION_LEVEL', points, detail: `verification level ${level}` } : null;
}

export function accountAgeFactor(days: number): RiskFactorLine | null {
  const bracket = ACCOUNT_AGE_POINTS.find((b) => days < b.days);
  return bracket ? { factor: 'ACCOUNT_AGE', points: bracket.points, detail: `account younger than ${bracket.days} days` } : null;
}

/** Applies the cap at {@link MAX_RISK_SCORE} as documented above; the returned points add up to the score. */
export function capFactors(lines: ReadonlyArray<RiskFactorLine | null>): { score: number; factors: RiskFactorLine[] } {
  let left = MAX_RISK_SCORE;
  const factors: RiskFactorLine[] = [];
  for (const line of lines) {
    if (!line || line.points <= 0) continue;
    const points = Math.min(Math.round(line.points), left);
    left -= points;
    factors.push(points === line.points ? { ...line } : { ...line, points, detail: `${line.detail ?? line.factor} (capped at ${MAX_RISK_SCORE}: ${points} of ${line.points} points)` });
  }
  return { score: MAX_RISK_SCORE - left, factors };
}

export function scoreRisk(inputs: RiskInputs): { score: number; level: Level; factors: RiskFactorLine[] } {
  const { score, factors } = capFactors([
    openAlertsFactor(inputs.openAlerts),
    truePositivesFactor(inputs.truePositives),
    ...(inputs.extra ?? []),
    creditLevelFactor(inputs.creditLevel),
    verificationFactor(inputs.verificationLevel),
    accountAgeFactor(inputs.accountAgeDays),
  ]);
  return { score, level: riskLevelOf(score), factors };
}

/** Same score, level and factors (order included): nothing to store. */
export function sameRisk(a: { score: number; level: string; factors: readonly RiskFactorLine[] }, b: { score: number; level: string; factors: readonly RiskFactorLine[] }): boolean {
  return a.score === b.score && a.level === b.level && JSON.stringify(a.factors.map(norm)) === JSON.stringify(b.factors.map(norm));
}

const norm = (f: RiskFactorLine) => ({ factor: f.factor, points: f.points, detail: f.detail ?? null });
