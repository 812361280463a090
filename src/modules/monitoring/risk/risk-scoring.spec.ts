import { capFactors, riskLevelOf, scoreRisk } from './risk-scoring';
import { daysLateOf } from './early-warnings.service';

const sum = (factors: Array<{ points: number }>) => factors.reduce((n, f) => n + f.points, 0);

describe('risk scoring', () => {
  it('maps scores to levels at the documented bounds', () => {
    expect([0, 24, 25, 49, 50, 74, 75, 100].map(riskLevelOf)).toEqual(['LOW', 'LOW', 'MEDIUM', 'MEDIUM', 'HIGH', 'HIGH', 'CRITICAL', 'CRITICAL']);
  });

  it('explains the score with factors that add up to it', () => {
    const r = scoreRisk({ openAlerts: { HIGH: 1, MEDIUM: 1 }, truePositives: 1, creditLevel: 'MEDIUM', verificationLevel: 'BASIC', accountAgeDays: 45 });
    expect(r.factors.map((f) => [f.factor, f.points])).toEqual([
      ['OPEN_ALERTS', 15], ['CONFIRMED_TRUE_POSITIVES', 15], ['CREDIT_LEVEL', 5], ['VERIFICATION_LEVEL', 5], ['ACCOUNT_AGE', 5],
    ]);
    expect(r.score).toBe(45);
    expect(sum(r.factors)).toBe(r.score);
    expect(r.level).toBe('MEDIUM');
  });

  it('caps each factor and the total; the factor crossing 100 is cut and later ones get 0', () => {
    const r = scoreRisk({ openAlerts: { CRITICAL: 3, HIGH: 1 }, truePositives: 4, creditLevel: 'CRITICAL', verificationLevel: 'NONE', accountAgeDays: 1 });
    expect(r.factors.map((f) => [f.factor, f.points])).toEqual([
      ['OPEN_ALERTS', 40], ['CONFIRMED_TRUE_POSITIVES', 30], ['CREDIT_LEVEL', 20], ['VERIFICATION_LEVEL', 10], ['ACCOUNT_AGE', 0],
    ]);
    expect(r.score).toBe(100);
    expect(r.level).toBe('CRITICAL');
    expect(r.factors[4].detail).toMatch(/capped at 100: 0 of 10 points/);
    expect(capFactors([{ factor: 'A', points: 90, detail: null }, { factor: 'B', points: 20, detail: 'b' }]).factors).toEqual([
      { factor: 'A', points: 90, detail: null }, { factor: 'B', points: 10, detail: 'b (capped at 100: 10 of 20 points)' },
    ]);
  });

  it('leaves out factors worth nothing', () => {
    const r = scoreRisk({ openAlerts: {}, truePositives: 0, creditLevel: 'LOW', verificationLevel: 'ENHANCED', accountAgeDays: 400 });
    expect(r).toEqual({ score: 0, level: 'LOW', factors: [] });
  });

  it('reads daysLate as a number or numeric string only', () => {
    expect([{ daysLate: 3 }, { daysLate: '2' }, { daysLate: 0 }, { daysLate: 'soon' }, {}, null].map(daysLateOf)).toEqual([3, 2, 0, 0, 0, 0]);
  });
});
