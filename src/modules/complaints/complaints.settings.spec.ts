import { Severity } from '../monitoring/models/monitoring.enums';
import { windowMs } from './complaint-analytics.service';
import { isSpike } from './complaint-spikes.service';
import { ComplaintSettings, DEFAULT_COMPLAINT_CATEGORIES } from './complaints.settings';

const H = 3_600_000;

describe('complaint SLA deadlines', () => {
  const received = new Date('2026-03-28T22:30:00.000Z');

  it.each([
    [Severity.CRITICAL, 1, 24],
    [Severity.HIGH, 4, 72],
    [Severity.MEDIUM, 24, 7 * 24],
    [Severity.LOW, 48, 14 * 24],
  ])('%s: acknowledge within %i h, resolve within %i h, in calendar hours from receivedAt', (severity, ack, resolve) => {
    const { acknowledgeBy, resolveBy } = new ComplaintSettings().deadlines(severity, received);
    expect(acknowledgeBy.getTime() - received.getTime()).toBe(ack * H);
    expect(resolveBy.getTime() - received.getTime()).toBe(resolve * H);
  });

  it('follows a changed table (configurable) without touching the defaults of other instances', () => {
    const tuned = new ComplaintSettings();
    tuned.sla.HIGH = { acknowledge: 2, resolve: 10 };
    expect(tuned.deadlines(Severity.HIGH, received).resolveBy.toISOString()).toBe('2026-03-29T08:30:00.000Z');
    expect(new ComplaintSettings().deadlines(Severity.HIGH, received).resolveBy.getTime() - received.getTime()).toBe(72 * H);
  });

  it('knows the default categories and only those', () => {
    const settings = new ComplaintSettings();
    for (const code of DEFAULT_COMPLAINT_CATEGORIES) expect(settings.isCategory(code)).toBe(true);
    expect(settings.isCategory('LOST_CARD')).toBe(false);
    settings.categories.push('LOST_CARD');
    expect(settings.isCategory('LOST_CARD')).toBe(true);
  });
});

describe('spike rule', () => {
  const rule = { factor: 3, minCount: 5 };
  it.each([
    [5, 0, true],
    [4, 0, false], // below the minimum count
    [7, 2, true], // 7 > 3 × 2
    [6, 2, false], // 6 is not more than 3 × 2
    [5, 5 / 3, false], // exactly 3 × the average is not more
    [6, 5 / 3, true],
  ])('%i in 24 h against a trailing daily average of %d → %s', (recent, average, expected) => {
    expect(isSpike(recent, average, rule)).toBe(expected);
  });
});

describe('repeat-complainant window', () => {
  it.each([
    ['P30D', 30 * 24 * H],
    ['P2W', 14 * 24 * H],
    ['PT48H', 48 * H],
  ])('%s', (text, ms) => expect(windowMs(text)).toBe(ms));

  it('refuses other shapes', () => {
    expect(() => windowMs('P1M')).toThrow(/ISO-8601/);
  });
});
