import { Args, ID, Query, Resolver } from '@nestjs/graphql';
import { Policy } from '../../../access/policy.decorator';
import { PageArgs, type ConnectionShape } from '../../../common/pagination/connection';
import type { ChainReport } from '../chain/audit-verifier.service';
import { AuditLogFilter, VerifyAuditChainInput } from '../dto/audit.inputs';
import type { AuditEntryEntity } from '../entities/audit-entry.entity';
import { AccessSummaryModel, AuditChainReportModel, AuditEntryConnection, AuditEntryModel } from '../models/audit-entry.model';
import type { AuditActorType, AuditOutcome } from '../models/audit.enums';
import { AuditReviewService } from './audit-review.service';

@Resolver(() => AuditEntryModel)
export class AuditReviewResolver {
  constructor(private readonly review: AuditReviewService) {}

  @Policy('read', 'AuditLog')
  @Query(() => AuditEntryConnection, { description: 'Audit entries, newest first (AUDITOR)' })
  async auditLog(
    @Args() page: PageArgs,
    // Optional parameter, not `T | undefined`: a union's design type is Object and the validation pipe would skip it.
    @Args('filter', { type: () => AuditLogFilter, nullable: true }) filter?: AuditLogFilter,
  ): Promise<ConnectionShape<AuditEntryModel>> {
    const result = await this.review.list(filter, page);
    return { ...result, nodes: result.nodes.map(toAuditEntryModel) };
  }

  @Policy('verify', 'AuditLog')
  @Query(() => AuditChainReportModel, { description: 'Recomputes the keyed hash chain over a range (default: all of it) and checks the head against the last checkpoint (AUDITOR)' })
  async verifyAuditChain(
    @Args('input', { type: () => VerifyAuditChainInput, nullable: true }) input?: VerifyAuditChainInput,
  ): Promise<AuditChainReportModel> {
    return toReportModel(await this.review.verifyChain(input));
  }

  @Policy('read', 'AccessReport')
  @Query(() => [AccessSummaryModel], { description: "Who read which PII fields of this customer, when and how often (AUDITOR, COMPLIANCE_OFFICER)" })
  customerAccessReport(
    @Args('customerId', { type: () => ID }) customerId: string,
    @Args('from', { type: () => Date, nullable: true, description: 'Reads at or after this instant' }) from?: Date,
    @Args('to', { type: () => Date, nullable: true, description: 'Reads before this instant' }) to?: Date,
  ): Promise<AccessSummaryModel[]> {
    return this.review.customerAccessReport(customerId, from ?? undefined, to ?? undefined);
  }
}

export function toAuditEntryModel(e: AuditEntryEntity): AuditEntryModel {
  return {
    ...e,
    actorType: e.actorType as AuditActorType,
    outcome: e.outcome as AuditOutcome,
  };
}

function toReportModel(r: ChainReport): AuditChainReportModel {
  return {
    valid: r.valid,
    checked: r.checked,
    firstInvalidId: r.firstInvalidId,
    reason: r.reason,
    unsealed: r.unsealed,
    headId: r.headId,
    checkpointId: r.checkpoint?.id ?? null,
    anchoredFrom: r.anchoredFrom && {
      id: r.anchoredFrom.id,
      segment: r.anchoredFrom.segment,
      firstId: r.anchoredFrom.firstId,
      lastId: r.anchoredFrom.lastId,
      firstOccurredAt: new Date(r.anchoredFrom.firstOccurredAt),
      lastOccurredAt: new Date(r.anchoredFrom.lastOccurredAt),
      lastHash: r.anchoredFrom.lastHash,
      entryCount: Number(r.anchoredFrom.entryCount),
      sealedAt: new Date(r.anchoredFrom.sealedAt),
    },
  };
}
