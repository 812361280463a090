import { complaintsFactor, COMPLAINTS_CAP } from './complaint-risk';

describe('complaintsFactor', () => {
  it('is worth nothing without open complaints or a repeat complainant', () => {
    expect(complaintsFactor({}, 0)).toBeNull();
    expect(complaintsFactor({ LOW: 0 }, 2)).toBeNull();
  });

  it('adds open complaints by severity, most severe named first', () => {
    expect(complaintsFactor({ LOW: 2, HIGH: 1 }, 2)).toEqual({ factor: 'COMPLAINTS', points: 7, detail: '3 open (1 HIGH, 2 LOW)' });
    expect(complaintsFactor({ MEDIUM: 1 }, 1)).toEqual({ factor: 'COMPLAINTS', points: 3, detail: '1 open (1 MEDIUM)' });
  });

  it('adds 5 from the third complaint received in the window, open or not', () => {
    expect(complaintsFactor({}, 3)).toEqual({ factor: 'COMPLAINTS', points: 5, detail: '3 received in 90 days' });
    expect(complaintsFactor({ LOW: 1 }, 4)).toEqual({ factor: 'COMPLAINTS', points: 6, detail: '1 open (1 LOW); 4 received in 90 days' });
  });

  it('caps the factor and says so', () => {
    expect(complaintsFactor({ CRITICAL: 2 }, 2)).toEqual({ factor: 'COMPLAINTS', points: COMPLAINTS_CAP, detail: '2 open (2 CRITICAL) (capped at 15)' });
    expect(complaintsFactor({ LOW: 15 }, 0)!.points).toBe(15);
  });
});
