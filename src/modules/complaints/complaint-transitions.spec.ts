import { canMoveComplaint, COMPLAINT_TRANSITIONS } from './complaint-transitions';
import { ComplaintStatus } from './models/complaint.enums';

describe('complaint state machine (SPEC §8)', () => {
  const all = Object.values(ComplaintStatus);
  const legal = new Set(['RECEIVED>ACKNOWLEDGED', 'ACKNOWLEDGED>INVESTIGATING', 'INVESTIGATING>RESOLVED', 'RESOLVED>CLOSED', 'RESOLVED>REOPENED', 'REOPENED>INVESTIGATING']);

  it.each(all.flatMap((from) => all.map((to) => [from, to] as const)))('%s → %s', (from, to) => {
    expect(canMoveComplaint(from, to)).toBe(legal.has(`${from}>${to}`));
  });

  it('has no way out of CLOSED', () => {
    expect(COMPLAINT_TRANSITIONS.CLOSED).toEqual([]);
  });
});
