import { generateSync } from 'otplib';

const STEP_MS = 30_000;

/**
 * TOTP codes as an authenticator app would give them to a client that signs in over and over (the demo
 * loader, the tests): the server accepts each step once (±1 step), so this remembers, per secret, the last
 * step it handed out and gives the current step or the next one, waiting for the next step only when both
 * were used already.
 */
export class TotpCodes {
  private readonly lastStep = new Map<string, number>();

  async fresh(secret: string): Promise<string> {
    let step = Math.floor(Date.now() / STEP_MS);
    const last = this.lastStep.get(secret) ?? -1;
    if (last >= step + 1) {
      await new Promise((r) => setTimeout(r, last * STEP_MS - Date.now() + 200));
      step = Math.floor(Date.now() / STEP_MS);
    }
    const use = Math.max(step, last + 1);
    this.lastStep.set(secret, use);
    return generateSync({ secret, epoch: (use * STEP_MS) / 1000 });
  }

  /** The code of the last step handed out for this secret (which the server must now refuse as a replay). */
  lastUsed(secret: string): string {
    const last = this.lastStep.get(secret);
    if (last === undefined) throw new Error('no code used yet for this secret');
    return generateSync({ secret, epoch: (last * STEP_MS) / 1000 });
  }
}
