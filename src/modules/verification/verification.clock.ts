import { Injectable } from '@nestjs/common';

/**
 * The time the verification module decides expiry by. Injectable so that a test can move it (replace
 * `now` on the instance `app.get(VerificationClock)` returns) instead of waiting five minutes.
 */
@Injectable()
export class VerificationClock {
  now(): Date {
    return new Date();
  }
}
