import { AlertStatus } from '../models/monitoring.enums';
import { canTransition } from './alert-transitions';

describe('alert state machine', () => {
  const all = Object.values(AlertStatus);
  const allowed = new Set(['OPEN>INVESTIGATING', 'OPEN>ESCALATED', 'OPEN>CLOSED', 'INVESTIGATING>ESCALATED', 'INVESTIGATING>CLOSED', 'ESCALATED>INVESTIGATING', 'ESCALATED>CLOSED']);
  it.each(all.flatMap((from) => all.map((to) => [from, to] as const)))('%s → %s', (from, to) => {
    expect(canTransition(from, to)).toBe(allowed.has(`${from}>${to}`));
  });
});
