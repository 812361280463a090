import { VerificationLevel } from '../customers/models/customer.model';
import { VerificationMethod as M, VerificationResult as R } from './models/verification.enums';
import { latestDecisive, verificationLevelOf, type DecisiveOutcome } from './verification-level';

let tick = 0;
const o = (method: M, result: R | null): DecisiveOutcome => ({ method, result, at: new Date(1_700_000_000_000 + ++tick * 1000) });

describe('verificationLevelOf', () => {
  it('is NONE with nothing decisive', () => {
    expect(verificationLevelOf([])).toBe(VerificationLevel.NONE);
    expect(verificationLevelOf([o(M.SMS_OTP, null), o(M.DOCUMENT, R.REVIEW), o(M.BIOMETRIC, R.REVIEW)])).toBe(VerificationLevel.NONE);
  });

  it('gives BASIC for a passed OTP channel, either one', () => {
    expect(verificationLevelOf([o(M.SMS_OTP, R.PASSED)])).toBe(VerificationLevel.BASIC);
    expect(verificationLevelOf([o(M.EMAIL_OTP, R.PASSED)])).toBe(VerificationLevel.BASIC);
    // one channel failing later does not undo the other channel's pass
    expect(verificationLevelOf([o(M.EMAIL_OTP, R.PASSED), o(M.SMS_OTP, R.FAILED)])).toBe(VerificationLevel.BASIC);
  });

  it('takes BASIC away when the only passed channel later fails', () => {
    expect(verificationLevelOf([o(M.SMS_OTP, R.PASSED), o(M.SMS_OTP, R.FAILED)])).toBe(VerificationLevel.NONE);
    expect(verificationLevelOf([o(M.SMS_OTP, R.FAILED), o(M.SMS_OTP, R.PASSED)])).toBe(VerificationLevel.BASIC);
  });

  it('gives VERIFIED for a passed document, ENHANCED with a passed biometric too', () => {
    expect(verificationLevelOf([o(M.DOCUMENT, R.PASSED)])).toBe(VerificationLevel.VERIFIED);
    expect(verificationLevelOf([o(M.SMS_OTP, R.PASSED), o(M.DOCUMENT, R.PASSED)])).toBe(VerificationLevel.VERIFIED);
    expect(verificationLevelOf([o(M.DOCUMENT, R.PASSED), o(M.BIOMETRIC, R.PASSED)])).toBe(VerificationLevel.ENHANCED);
    expect(verificationLevelOf([o(M.BIOMETRIC, R.PASSED), o(M.DOCUMENT, R.PASSED)])).toBe(VerificationLevel.ENHANCED);
  });

  it('does not raise anything for a biometric pass alone', () => {
    expect(verificationLevelOf([o(M.BIOMETRIC, R.PASSED)])).toBe(VerificationLevel.NONE);
    expect(verificationLevelOf([o(M.SMS_OTP, R.PASSED), o(M.BIOMETRIC, R.PASSED)])).toBe(VerificationLevel.BASIC);
    expect(verificationLevelOf([o(M.BIOMETRIC, R.PASSED), o(M.DOCUMENT, R.FAILED)])).toBe(VerificationLevel.NONE);
  });

  it('never keeps a level a later failure no longer supports', () => {
    expect(verificationLevelOf([o(M.DOCUMENT, R.PASSED), o(M.BIOMETRIC, R.PASSED), o(M.BIOMETRIC, R.FAILED)])).toBe(VerificationLevel.VERIFIED);
    expect(verificationLevelOf([o(M.DOCUMENT, R.PASSED), o(M.BIOMETRIC, R.PASSED), o(M.DOCUMENT, R.FAILED)])).toBe(VerificationLevel.NONE);
    expect(verificationLevelOf([o(M.SMS_OTP, R.PASSED), o(M.DOCUMENT, R.PASSED), o(M.BIOMETRIC, R.PASSED), o(M.DOCUMENT, R.FAILED)])).toBe(VerificationLevel.BASIC);
    expect(verificationLevelOf([o(M.DOCUMENT, R.PASSED), o(M.DOCUMENT, R.FAILED), o(M.DOCUMENT, R.PASSED)])).toBe(VerificationLevel.VERIFIED);
  });

  it('treats REVIEW and undecided challenges as leaving the previous decision standing', () => {
    expect(verificationLevelOf([o(M.DOCUMENT, R.PASSED), o(M.DOCUMENT, R.REVIEW)])).toBe(VerificationLevel.VERIFIED);
    expect(verificationLevelOf([o(M.DOCUMENT, R.FAILED), o(M.DOCUMENT, R.REVIEW)])).toBe(VerificationLevel.NONE);
    expect(verificationLevelOf([o(M.SMS_OTP, R.PASSED), o(M.SMS_OTP, null)])).toBe(VerificationLevel.BASIC);
  });

  it('covers every combination of latest DOCUMENT × BIOMETRIC × OTP results', () => {
    const results = [undefined, R.PASSED, R.FAILED, R.REVIEW] as const;
    for (const doc of results) for (const bio of results) for (const otp of results) {
      const outcomes = [
        ...(doc ? [o(M.DOCUMENT, doc)] : []), ...(bio ? [o(M.BIOMETRIC, bio)] : []), ...(otp ? [o(M.EMAIL_OTP, otp)] : []),
      ];
      const expected = doc === R.PASSED ? (bio === R.PASSED ? VerificationLevel.ENHANCED : VerificationLevel.VERIFIED) : otp === R.PASSED ? VerificationLevel.BASIC : VerificationLevel.NONE;
      expect({ doc, bio, otp, level: verificationLevelOf(outcomes) }).toEqual({ doc, bio, otp, level: expected });
    }
  });

  it('orders by time, not by array position', () => {
    const late = { method: M.DOCUMENT, result: R.FAILED, at: new Date(2_000_000_000_000) };
    const early = { method: M.DOCUMENT, result: R.PASSED, at: new Date(1_000_000_000_000) };
    expect(latestDecisive([late, early]).get(M.DOCUMENT)).toBe(R.FAILED);
    expect(verificationLevelOf([late, early])).toBe(VerificationLevel.NONE);
  });
});
