import { VerificationLevel } from '../customers/models/customer.model';
import { VerificationMethod, VerificationResult } from './models/verification.enums';

/** One verification's decisive outcome, as the level rule reads it. */
export interface DecisiveOutcome {
  method: VerificationMethod;
  result: VerificationResult | null;
  /** When the outcome was reached: the order that decides which result is the latest. */
  at: Date;
}

/**
 * The latest decisive result per method. Only PASSED and FAILED decide: REVIEW (the provider has not made
 * up its mind) and challenges without a result (expired, superseded, still pending) leave the previous
 * decision standing.
 */
export function latestDecisive(outcomes: readonly DecisiveOutcome[]): Map<VerificationMethod, VerificationResult.PASSED | VerificationResult.FAILED> {
  const latest = new Map<VerificationMethod, DecisiveOutcome>();
  for (const o of outcomes) {
    if (o.result !== VerificationResult.PASSED && o.result !== VerificationResult.FAILED) continue;
    const seen = latest.get(o.method);
    if (!seen || o.at.getTime() >= seen.at.getTime()) latest.set(o.method, o);
  }
  return new Map([...latest].map(([method, o]) => [method, o.result as VerificationResult.PASSED | VerificationResult.FAILED]));
}

/**
 * The level a customer has earned, recomputed from scratch on every result so that a later failure takes
 * away what it no longer supports (docs/VERIFICATION.md):
 * - ENHANCED: the latest decisive DOCUMENT and BIOMETRIC results both passed;
 * - VERIFIED: the latest decisive DOCUMENT result passed;
 * - BASIC: the latest decisive SMS_OTP or EMAIL_OTP result passed;
 * - NONE otherwise. A biometric pass without a passed document raises nothing on its own (there is no
 *   verified identity document to match the face against).
 */
export function verificationLevelOf(outcomes: readonly DecisiveOutcome[]): VerificationLevel {
  const latest = latestDecisive(outcomes);
  const passed = (m: VerificationMethod) => latest.get(m) === VerificationResult.PASSED;
  if (passed(VerificationMethod.DOCUMENT) && passed(VerificationMethod.BIOMETRIC)) return VerificationLevel.ENHANCED;
  if (passed(VerificationMethod.DOCUMENT)) return VerificationLevel.VERIFIED;
  if (passed(VerificationMethod.SMS_OTP) || passed(VerificationMethod.EMAIL_OTP)) return VerificationLevel.BASIC;
  return VerificationLevel.NONE;
}
