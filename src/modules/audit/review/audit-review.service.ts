import { Inject, Injectable, Logger } from '@nestjs/common';
import { isUUID } from 'class-validator';
import { AUDIT_SINK, CUSTOMER_LOOKUP_ACTION, PII_READ_ACTION, type AuditSink } from '../../../common/audit/audit-sink';
import { BadUserInputError, NotFoundError } from '../../../common/errors/app-error';
import type { ConnectionShape, PageArgs } from '../../../common/pagination/connection';
import { paginate } from '../../../common/pagination/paginate';
import { TransactionService } from '../../../database/transaction.service';
import { AuditVerifier, type ChainReport } from '../chain/audit-verifier.service';
import type { AuditLogFilter, VerifyAuditChainInput } from '../dto/audit.inputs';
import { AuditEntryEntity } from '../entities/audit-entry.entity';
import type { AccessSummaryModel } from '../models/audit-entry.model';
import type { AuditActorType } from '../models/audit.enums';
import { SecurityAlertsService } from '../security-alerts/security-alerts.service';

/**
 * What security reviewers ask of the log: filtered pages of entries, one customer's PII access report and
 * chain verification. Each question is itself audited (`audit.query`, `audit.verify`) with its parameters —
 * ids and filters, never values.
 */
@Injectable()
export class AuditReviewService {
  private readonly logger = new Logger('AuditReview');

  constructor(
    private readonly tx: TransactionService,
    private readonly verifier: AuditVerifier,
    private readonly alerts: SecurityAlertsService,
    @Inject(AUDIT_SINK) private readonly audit: AuditSink,
  ) {}

  /** Newest first; keyset pagination on the chain id. */
  async list(filter: AuditLogFilter | undefined, page: PageArgs): Promise<ConnectionShape<AuditEntryEntity>> {
    checkRange(filter?.from, filter?.to, 'filter');
    const query = this.tx.manager().createQueryBuilder(AuditEntryEntity, 'e');
    if (filter?.actorId) query.andWhere('e.actor_id = :actorId', { actorId: filter.actorId });
    if (filter?.actorType) query.andWhere('e.actor_type = :actorType', { actorType: filter.actorType });
    if (filter?.partnerId) query.andWhere('e.partner_id = :partnerId', { partnerId: filter.partnerId });
    if (filter?.customerId) query.andWhere('e.customer_id = :customerId', { customerId: filter.customerId });
    if (filter?.action) query.andWhere('e.action = :action', { action: filter.action });
    if (filter?.outcome) query.andWhere('e.outcome = :outcome', { outcome: filter.outcome });
    if (filter?.from) query.andWhere('e.occurred_at >= :from', { from: filter.from });
    if (filter?.to) query.andWhere('e.occurred_at < :to', { to: filter.to });
    const result = await paginate(query, page, { direction: 'DESC', keys: [{ column: 'e.id', kind: 'bigint', value: (e) => e.id }] });
    await this.audit.record({
      action: 'audit.query',
      outcome: 'SUCCESS',
      resourceType: 'AuditLog',
      customerId: filter?.customerId ?? null,
      details: { operation: 'auditLog', filter: filter ?? {}, first: page.first, after: page.after ?? null, returned: result.nodes.length },
    });
    return result;
  }

  /**
   * Who read which PII fields of this customer, grouped by actor: full-value reads (`customer.read_pii`) and
   * searches by a full email, phone or national id that returned the customer (`customer.lookup`), which
   * confirm the value searched. An erased customer still has its report; an absent one is NOT_FOUND.
   */
  async customerAccessReport(customerId: string, from: Date | undefined, to: Date | undefined): Promise<AccessSummaryModel[]> {
    if (!isUUID(customerId)) throw BadUserInputError.field('customerId', 'is not a valid id');
    checkRange(from, to);
    const [known] = (await this.tx.manager().query(`SELECT 1 FROM customer WHERE id = $1`, [customerId.toLowerCase()])) as unknown[];
    if (!known) throw new NotFoundError('Customer');
    const rows = (await this.tx.manager().query(
      `SELECT e.actor_type, e.actor_id, e.role, e.partner_id,
              count(DISTINCT e.id) FILTER (WHERE e.action = $2)::int AS reads,
              count(DISTINCT e.id) FILTER (WHERE e.action = $5)::int AS lookups,
              min(e.occurred_at) AS first_at, max(e.occurred_at) AS last_at,
              array_remove(array_agg(DISTINCT f ORDER BY f), NULL) AS fields
         FROM audit_entry e LEFT JOIN LATERAL unnest(e.fields) AS f ON true
        WHERE e.customer_id = $1 AND e.action IN ($2, $5) AND e.outcome = 'SUCCESS'
          AND ($3::timestamptz IS NULL OR e.occurred_at >= $3) AND ($4::timestamptz IS NULL OR e.occurred_at < $4)
        GROUP BY e.actor_type, e.actor_id, e.role, e.partner_id
        ORDER BY last_at DESC`,
      [customerId.toLowerCase(), PII_READ_ACTION, from ?? null, to ?? null, CUSTOMER_LOOKUP_ACTION],
    )) as Array<{ actor_type: AuditActorType; actor_id: string | null; role: string | null; partner_id: string | null; fields: string[] | null; reads: number; lookups: number; first_at: Date; last_at: Date }>;
    await this.audit.record({
      action: 'audit.query',
      outcome: 'SUCCESS',
      resourceType: 'AccessReport',
      customerId,
      details: { operation: 'customerAccessReport', from: from ?? null, to: to ?? null, actors: rows.length },
    });
    return rows.map((r) => ({
      actorType: r.actor_type,
      actorId: r.actor_id,
      role: r.role,
      partnerId: r.partner_id,
      fields: r.fields ?? [],
      reads: r.reads,
      lookups: r.lookups,
      firstAt: r.first_at,
      lastAt: r.last_at,
    }));
  }

  /** Verifies the chain (or a range); a break raises a CHAIN_INVALID alert and the service keeps serving. */
  async verifyChain(input: VerifyAuditChainInput | undefined): Promise<ChainReport> {
    const fromId = input?.fromId ? BigInt(input.fromId) : undefined;
    const toId = input?.toId ? BigInt(input.toId) : undefined;
    if (fromId !== undefined && toId !== undefined && fromId > toId) throw BadUserInputError.field('input.toId', 'must not be below fromId');
    const report = await this.verifyAndAlert({ fromId, toId });
    await this.audit.record({
      action: 'audit.verify',
      outcome: 'SUCCESS',
      resourceType: 'AuditLog',
      details: {
        fromId: input?.fromId ?? null, toId: input?.toId ?? null, valid: report.valid, checked: report.checked,
        firstInvalidId: report.firstInvalidId, reason: report.reason, anchoredFrom: report.anchoredFrom?.id ?? null,
      },
    });
    return report;
  }

  /** Also used by the periodic verification. */
  async verifyAndAlert(range: { fromId?: bigint; toId?: bigint }): Promise<ChainReport> {
    const report = await this.verifier.verify(range);
    if (!report.valid) {
      this.logger.error({ auditChain: { firstInvalidId: report.firstInvalidId, reason: report.reason, checked: report.checked } }, 'audit chain verification failed');
      await this.alerts.raise({
        kind: 'CHAIN_INVALID',
        dedupKey: chainBreakKey(report),
        dedup: { anyStatus: true },
        actorType: 'SYSTEM',
        detail: { firstInvalidId: report.firstInvalidId, reason: report.reason, checked: report.checked, headId: report.headId, checkpointId: report.checkpoint?.id ?? null },
      });
    }
    return report;
  }
}

/**
 * What makes two reports the same break. A cut tail is known by the checkpoint it contradicts: the id past the
 * remaining head moves as the chain grows back (and becomes the checkpointed id once it has grown past it),
 * while the checkpoint stays put (the checkpointer writes no other over it). Any other break by its reason and id.
 */
function chainBreakKey(report: ChainReport): string {
  if (report.reason === 'TAIL_TRUNCATED' && report.checkpoint) return `TAIL_TRUNCATED:${report.checkpoint.id}:${report.checkpoint.hash}`;
  return `${report.reason}:${report.firstInvalidId}`;
}

function checkRange(from: Date | undefined, to: Date | undefined, prefix?: string): void {
  if (from && to && from.getTime() > to.getTime()) throw BadUserInputError.field(prefix ? `${prefix}.to` : 'to', 'must not be before from');
}
