import { Injectable } from '@nestjs/common';
import { WEBHOOK_SETTINGS } from './webhooks.settings';

/** What `admit` decided for one attempt. */
export type Admission = { send: true; probe: boolean } | { send: false; until: Date };

interface Circuit {
  /** Failed attempts in a row, since the last success. */
  failures: number;
  /** While open: no attempt is sent before this instant (ms). 0 while the circuit is still closed. */
  openUntil: number;
  /** The current cool-down, doubled by each failed probe. */
  cooldownMs: number;
  /** A probe is in flight: the one attempt let through once the cool-down is over. */
  probing: boolean;
}

/**
 * One circuit breaker per webhook, per instance. The workers are shared by every partner, so a receiver that
 * hangs would otherwise hold one worker for the full timeout on every attempt, and a burst of messages to it
 * would delay every other partner's deliveries.
 *
 * After `threshold` failed attempts in a row the circuit opens: its attempts are held back (the job is put off,
 * the attempt is not spent and nothing is logged) until the cool-down ends. Then one attempt goes out as a
 * probe while the others wait; a delivered probe closes the circuit, a failed one opens it again for twice the
 * cool-down, up to `maxCooldownMs`. Any delivered attempt closes it. The state lives in memory: each instance
 * learns on its own, and a restart starts closed.
 *
 * An injectable object, like WebhookRetryPolicy, so a test app can shorten it.
 */
@Injectable()
export class WebhookCircuits {
  threshold = 5;
  cooldownMs = 30_000;
  maxCooldownMs = 10 * 60_000;
  /** A held attempt is spread over this much time after the circuit's reopening, so they do not all fall due at once. */
  spreadMs = 5_000;
  private readonly circuits = new Map<string, Circuit>();

  /** Whether an attempt for `webhookId` may be sent now, or until when it is held back. */
  admit(webhookId: string, now = Date.now()): Admission {
    const circuit = this.circuits.get(webhookId);
    if (!circuit || circuit.openUntil === 0) return { send: true, probe: false };
    if (now < circuit.openUntil) return { send: false, until: this.spread(circuit.openUntil) };
    // Half-open: one probe at a time; the others wait at least as long as a probe can take.
    if (circuit.probing) return { send: false, until: this.spread(now + WEBHOOK_SETTINGS.timeoutMs) };
    circuit.probing = true;
    return { send: true, probe: true };
  }

  /** The outcome of an attempt `admit` let through. */
  record(webhookId: string, admission: { probe: boolean }, delivered: boolean, now = Date.now()): void {
    if (delivered) {
      this.circuits.delete(webhookId);
      return;
    }
    const circuit = this.circuits.get(webhookId) ?? { failures: 0, openUntil: 0, cooldownMs: this.cooldownMs, probing: false };
    this.circuits.set(webhookId, circuit);
    circuit.failures++;
    if (admission.probe) {
      circuit.probing = false;
      circuit.cooldownMs = Math.min(circuit.cooldownMs * 2, this.maxCooldownMs);
      circuit.openUntil = now + circuit.cooldownMs;
    } else if (circuit.openUntil === 0 && circuit.failures >= this.threshold) {
      circuit.openUntil = now + circuit.cooldownMs;
    }
  }

  /** An admitted attempt that ended without an outcome (the database failed, say): says nothing of the receiver. */
  abandon(webhookId: string, admission: { probe: boolean }): void {
    const circuit = this.circuits.get(webhookId);
    if (admission.probe && circuit) circuit.probing = false;
  }

  /** Webhooks whose circuit is open or half-open on this instance (for /metrics). */
  openCount(): number {
    let open = 0;
    for (const circuit of this.circuits.values()) if (circuit.openUntil !== 0) open++;
    return open;
  }

  private spread(at: number): Date {
    return new Date(at + Math.floor(Math.random() * this.spreadMs));
  }
}
