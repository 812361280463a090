import { ComplaintStatus } from './models/complaint.enums';

/** SPEC §8: every other move is INVALID_TRANSITION. Assigning and notes are allowed in every state but CLOSED. */
export const COMPLAINT_TRANSITIONS: Readonly<Record<ComplaintStatus, readonly ComplaintStatus[]>> = {
  RECEIVED: [ComplaintStatus.ACKNOWLEDGED],
  ACKNOWLEDGED: [ComplaintStatus.INVESTIGATING],
  INVESTIGATING: [ComplaintStatus.RESOLVED],
  RESOLVED: [ComplaintStatus.CLOSED, ComplaintStatus.REOPENED],
  REOPENED: [ComplaintStatus.INVESTIGATING],
  CLOSED: [],
};

export const canMoveComplaint = (from: ComplaintStatus, to: ComplaintStatus): boolean => COMPLAINT_TRANSITIONS[from].includes(to);

/** States in which a complaint still waits for someone to act (counted as `open` in statistics). */
export const OPEN_STATUSES: readonly ComplaintStatus[] = [ComplaintStatus.RECEIVED, ComplaintStatus.ACKNOWLEDGED, ComplaintStatus.INVESTIGATING, ComplaintStatus.REOPENED];

/** Feedback is the customer's verdict on a resolution: only once the complaint is resolved (or closed). */
export const FEEDBACK_STATUSES: readonly ComplaintStatus[] = [ComplaintStatus.RESOLVED, ComplaintStatus.CLOSED];
