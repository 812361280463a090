import { AlertBook, distanceToSpan, type AlertHit } from './alert-book';
import { Severity } from '../models/monitoring.enums';

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

describe('AlertBook: raise in memory, settled as the batch leaves it', () => {
  const hour = 3600_000;
  const base = Date.UTC(2026, 11, 6, 12);
  const hit = (offsetHours: number, eventId: string): AlertHit => ({
    ruleId: 'rule-1', customerId: 'customer-1', eventId, severity: Severity.HIGH, occurredAt: new Date(base + offsetHours * hour), dedupWindowMs: 24 * hour,
  });

  it('hands out each hit its own view, and settles any of them to the final count and span', () => {
    const book = new AlertBook();
    const opening = book.raise(hit(0, 'e1'));
    const repeat = book.raise(hit(2, 'e2'));
    const backFilled = book.raise(hit(-1, 'e3'));
    expect([opening.created, repeat.created, backFilled.created]).toEqual([true, false, false]);
    expect([opening.alert.occurrences, repeat.alert.occurrences, backFilled.alert.occurrences]).toEqual([1, 2, 3]);
    expect(opening.alert.lastSeenAt).toEqual(new Date(base));
    opening.alert.accountManagerId = 'manager-1'; // what the pipeline sets on its copy survives settling
    const settled = book.settled(opening.alert);
    expect(settled).toMatchObject({ id: opening.alert.id, occurrences: 3, firstSeenAt: new Date(base - hour), lastSeenAt: new Date(base + 2 * hour), accountManagerId: 'manager-1', eventId: 'e1' });
    expect(opening.alert.occurrences).toBe(1); // a copy: the event's own result is left as its hit left it
  });

  it('opens a second alert for a hit outside the window, and settles each on its own', () => {
    const book = new AlertBook();
    const first = book.raise(hit(0, 'e1'));
    const far = book.raise(hit(48, 'e2'));
    expect(far.created).toBe(true);
    expect(book.settled(first.alert).occurrences).toBe(1);
    expect(book.settled(far.alert).occurrences).toBe(1);
  });
});
