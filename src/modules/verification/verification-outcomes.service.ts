import { Inject, Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import { AUDIT_SINK, type AuditOutcome, type AuditSink } from '../../common/audit/audit-sink';
import { SYSTEM_EVENT_SINK, type SystemEventSink } from '../../common/audit/system-event-sink';
import type { Principal } from '../../common/context/principal';
import { ConflictError, NotFoundError } from '../../common/errors/app-error';
import { CustomerIdentityService } from '../customers/customer-identity.service';
import { isClosedCustomer } from '../customers/customer-status';
import { RiskService } from '../monitoring/risk/risk.service';
import { VerificationClock } from './verification.clock';
import { verificationLevelOf } from './verification-level';
import type { VerificationMethod, VerificationResult } from './models/verification.enums';

export interface VerificationAttempt {
  customerId: string;
  verificationId: string;
  method: VerificationMethod;
  /** SUCCESS only for a passed check; everything else an attempt can end in is a FAILURE for the rules. */
  outcome: 'SUCCESS' | 'FAILURE';
  /** Whether this attempt changed a decisive result, so the level has to be recomputed. */
  decisive: boolean;
  actor: Principal;
  /** The audit entry for the attempt (its details are extended with the event, decision and level change). */
  audit: { action: string; outcome: AuditOutcome; details: Record<string, unknown> };
}

/**
 * What every verification attempt leaves behind, in the attempt's transaction: the recomputed level (and
 * risk score when it moved), a SYSTEM `VERIFICATION` event screened by the rules (VERIFICATION_FAILURES
 * counts `attributes.outcome = FAILURE`), and the audit entry.
 */
@Injectable()
export class VerificationOutcomes {
  constructor(
    private readonly identity: CustomerIdentityService,
    private readonly risk: RiskService,
    private readonly clock: VerificationClock,
    @Inject(SYSTEM_EVENT_SINK) private readonly systemEvents: SystemEventSink,
    @Inject(AUDIT_SINK) private readonly audit: AuditSink,
  ) {}

  /**
   * First step of every verification write: locks the customer row (the order every writer of a customer
   * takes its locks in) and refuses a customer that was terminated or erased after the caller's first look.
   * Two starts for one customer queue here, so the second always supersedes the first's challenge.
   */
  async lockCustomer(manager: EntityManager, customerId: string): Promise<void> {
    const [row] = (await manager.query(`SELECT status FROM customer WHERE id = $1 FOR UPDATE`, [customerId])) as Array<{ status: string }>;
    if (!row) throw new NotFoundError('Customer');
    if (isClosedCustomer(row.status)) throw new ConflictError(`The customer is ${row.status}: no verification`);
  }

  async settle(manager: EntityManager, a: VerificationAttempt): Promise<{ eventId: string; decision: string; level: { from: string; to: string } | null }> {
    const level = a.decisive
      ? await this.identity.recomputeVerificationLevel(manager, a.customerId, () => this.levelFromResults(manager, a.customerId), a.actor)
      : null;
    // The level is a risk input: rescore before the event is screened, so its decision sees the new score.
    if (level) await this.risk.recompute(manager, a.customerId, 'verification.level');
    const event = await this.systemEvents.record({
      customerId: a.customerId,
      type: 'VERIFICATION',
      occurredAt: this.clock.now(),
      attributes: { outcome: a.outcome, method: a.method, verificationId: a.verificationId },
    });
    await this.audit.record({
      action: a.audit.action,
      outcome: a.audit.outcome,
      resourceType: 'Verification',
      resourceId: a.verificationId,
      customerId: a.customerId,
      details: { ...a.audit.details, method: a.method, eventOutcome: a.outcome, eventId: event.eventId, decision: event.decision, ...(level ? { levelFrom: level.from, levelTo: level.to } : {}) },
    });
    return { ...event, level };
  }

  /** The level from every decisive result of the customer (a handful of rows per customer). */
  private async levelFromResults(manager: EntityManager, customerId: string): Promise<string> {
    const rows = (await manager.query(
      `SELECT method, result, coalesce(completed_at, created_at) AS at FROM customer_verification
        WHERE customer_id = $1 AND result IN ('PASSED', 'FAILED')`,
      [customerId],
    )) as Array<{ method: VerificationMethod; result: VerificationResult; at: Date }>;
    return verificationLevelOf(rows.map((r) => ({ method: r.method, result: r.result, at: new Date(r.at) })));
  }
}
