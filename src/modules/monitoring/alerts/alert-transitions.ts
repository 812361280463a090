import { AlertStatus } from '../models/monitoring.enums';

/** SPEC §8: every other move is INVALID_TRANSITION; closing needs a disposition. */
export const ALERT_TRANSITIONS: Record<AlertStatus, AlertStatus[]> = {
  OPEN: [AlertStatus.INVESTIGATING, AlertStatus.ESCALATED, AlertStatus.CLOSED],
  INVESTIGATING: [AlertStatus.ESCALATED, AlertStatus.CLOSED],
  ESCALATED: [AlertStatus.INVESTIGATING, AlertStatus.CLOSED],
  CLOSED: [],
};

export const canTransition = (from: AlertStatus, to: AlertStatus): boolean => ALERT_TRANSITIONS[from].includes(to);
