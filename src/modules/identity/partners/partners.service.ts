import { Inject, Injectable } from '@nestjs/common';
import { isUUID } from 'class-validator';
import { AUDIT_SINK, type AuditSink } from '../../../common/audit/audit-sink';
import { RequestContext } from '../../../common/context/request-context';
import { isStaff, TrustLevel } from '../../../common/context/principal';
import { BadUserInputError, ConflictError, NotFoundError } from '../../../common/errors/app-error';
import type { ConnectionShape, PageArgs } from '../../../common/pagination/connection';
import { paginate } from '../../../common/pagination/paginate';
import type { AppConfig } from '../../../config/config';
import { APP_CONFIG } from '../../../config/config.module';
import { TransactionService } from '../../../database/transaction.service';
import type { CreatePartnerInput, RecordPartnerAssessmentInput, UpdatePartnerInput } from '../dto/identity.inputs';
import { PartnerAssessmentEntity, PartnerEntity } from '../entities/partner.entity';
import { AssessmentResult, type Partner, type PartnerAssessment } from '../models/partner.model';

/** Partner organisations: agreements, allowed scopes, throughput and periodic assessments (ADMIN). */
@Injectable()
export class PartnersService {
  constructor(
    private readonly tx: TransactionService,
    private readonly context: RequestContext,
    @Inject(AUDIT_SINK) private readonly audit: AuditSink,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  /** `forUpdate` (inside a transaction): the row stays locked until it ends. */
  async findEntity(id: string, options: { forUpdate?: boolean } = {}): Promise<PartnerEntity> {
    if (!isUUID(id)) throw BadUserInputError.field('id', 'is not a valid id');
    const partner = await this.tx.manager().findOne(PartnerEntity, { where: { id }, lock: options.forUpdate ? { mode: 'pessimistic_write' } : undefined });
    if (!partner) throw new NotFoundError('Partner');
    return partner;
  }

  async get(id: string): Promise<Partner> {
    return this.toModel(await this.findEntity(id));
  }

  async list(page: PageArgs): Promise<ConnectionShape<Partner>> {
    const result = await paginate(this.tx.manager().createQueryBuilder(PartnerEntity, 'p'), page, {
      keys: [
        { column: 'p.created_at', kind: 'timestamptz', value: (p) => p.createdAt.toISOString() },
        { column: 'p.id', kind: 'uuid', value: (p) => p.id },
      ],
    });
    // The page's latest assessments in one statement, not one per partner.
    const ids = result.nodes.map((p) => p.id);
    const latest = ids.length
      ? await this.tx.manager().createQueryBuilder(PartnerAssessmentEntity, 'a')
          .distinctOn(['a.partner_id']).where('a.partner_id IN (:...ids)', { ids })
          .orderBy('a.partner_id').addOrderBy('a.assessed_at', 'DESC').addOrderBy('a.id', 'DESC').getMany()
      : [];
    const byPartner = new Map(latest.map((a) => [a.partnerId, a]));
    return { ...result, nodes: await Promise.all(result.nodes.map((p) => this.toModel(p, byPartner.get(p.id) ?? null))) };
  }

  /** Id and name of partners, in the order asked (for DataLoaders). */
  async refs(ids: readonly string[]): Promise<Array<{ id: string; name: string } | null>> {
    const rows = ids.length ? await this.tx.manager().createQueryBuilder(PartnerEntity, 'p').where('p.id IN (:...ids)', { ids: [...ids] }).getMany() : [];
    const byId = new Map(rows.map((p) => [p.id, { id: p.id, name: p.name }]));
    return ids.map((id) => byId.get(id) ?? null);
  }

  async create(input: CreatePartnerInput): Promise<Partner> {
    if (input.agreementExpiresAt <= input.agreementSignedAt) {
      throw BadUserInputError.field('agreementExpiresAt', 'must be after agreementSignedAt');
    }
    return this.tx.run(async (manager) => {
      await this.assertNameFree(input.name);
      const { identifiers } = await manager.insert(PartnerEntity, {
        name: input.name,
        contactEmail: input.contactEmail,
        trustLevel: input.trustLevel,
        allowedScopes: [...new Set(input.allowedScopes)],
        eventsPerMinute: input.eventsPerMinute ?? null,
        agreementSignedAt: input.agreementSignedAt,
        agreementExpiresAt: input.agreementExpiresAt,
      });
      const id = identifiers[0].id as string;
      await this.audit.record({ action: 'partner.create', outcome: 'SUCCESS', resourceType: 'Partner', resourceId: id, details: { trustLevel: input.trustLevel, allowedScopes: input.allowedScopes } });
      return this.get(id);
    });
  }

  async update(id: string, input: UpdatePartnerInput): Promise<Partner> {
    return this.tx.run(async (manager) => {
      // Locked: an assessment committing meanwhile must not be undone by what this read.
      const partner = await this.findEntity(id, { forUpdate: true });
      const changes: Partial<PartnerEntity> = {};
      if (input.name && input.name !== partner.name) {
        await this.assertNameFree(input.name, id);
        changes.name = input.name;
      }
      if (input.contactEmail) changes.contactEmail = input.contactEmail;
      if (input.allowedScopes) changes.allowedScopes = [...new Set(input.allowedScopes)];
      // null: the partner's own rate goes, and the default of its trust level applies again.
      if (input.eventsPerMinute !== undefined && input.eventsPerMinute !== partner.eventsPerMinute) changes.eventsPerMinute = input.eventsPerMinute;
      // The manual suspension is recorded even over an assessment's, so that a later PASS does not lift it.
      if (input.suspended === true && !partner.suspendedManually) Object.assign(changes, { suspendedManually: true, suspendedAt: partner.suspendedAt ?? new Date() });
      if (input.suspended === false && partner.suspendedAt) {
        // A failed assessment is lifted by a passing one, not by a toggle.
        if (partner.suspendedByAssessment) throw new ConflictError('Suspended by a failed assessment: record a PASS or CONDITIONAL assessment to lift it');
        Object.assign(changes, { suspendedManually: false, suspendedAt: null });
      }
      if (Object.keys(changes).length) await manager.update(PartnerEntity, { id }, changes);
      await this.audit.record({ action: 'partner.update', outcome: 'SUCCESS', resourceType: 'Partner', resourceId: id, details: { changed: Object.keys(changes) } });
      return this.get(id);
    });
  }

  /**
   * A FAIL suspends the partner: every token stops working on the next request. A PASS or CONDITIONAL lifts
   * only that suspension; one an ADMIN set stays until an ADMIN lifts it.
   */
  async recordAssessment(input: RecordPartnerAssessmentInput): Promise<Partner> {
    await this.findEntity(input.partnerId);
    const principal = this.context.principal;
    return this.tx.run(async (manager) => {
      await manager.insert(PartnerAssessmentEntity, {
        partnerId: input.partnerId,
        result: input.result,
        notes: input.notes ?? null,
        nextDueAt: input.nextDueAt ?? null,
        assessedBy: isStaff(principal) ? principal.userId : null,
        assessedAt: new Date(),
      });
      if (input.result === AssessmentResult.FAIL) {
        await manager.query(`UPDATE partner SET suspended_at = coalesce(suspended_at, now()), suspended_by_assessment = true, updated_at = now() WHERE id = $1`, [input.partnerId]);
      } else {
        await manager.query(
          `UPDATE partner SET suspended_by_assessment = false, suspended_at = CASE WHEN suspended_manually THEN suspended_at END, updated_at = now()
            WHERE id = $1 AND suspended_by_assessment`,
          [input.partnerId],
        );
      }
      await this.audit.record({ action: 'partner.assessment', outcome: 'SUCCESS', resourceType: 'Partner', resourceId: input.partnerId, details: { result: input.result } });
      return this.get(input.partnerId);
    });
  }

  private async assertNameFree(name: string, exceptId?: string): Promise<void> {
    const [row] = (await this.tx.manager().query(`SELECT id FROM partner WHERE lower(name) = lower($1) AND id IS DISTINCT FROM $2`, [name, exceptId ?? null])) as Array<{ id: string }>;
    if (row) throw new ConflictError('A partner with this name already exists', { field: 'name' });
  }

  /** The API view; `latest`: the partner's latest assessment when the caller already read it (null: none). */
  async toModel(p: PartnerEntity, latest?: PartnerAssessmentEntity | null): Promise<Partner> {
    const last = latest !== undefined ? latest : await this.tx.manager().findOne(PartnerAssessmentEntity, { where: { partnerId: p.id }, order: { assessedAt: 'DESC', id: 'DESC' } });
    const defaultRate = p.trustLevel === TrustLevel.INTERNAL ? this.config.rateLimits.partnerEventsInternal : this.config.rateLimits.partnerEventsExternal;
    const lastAssessment: PartnerAssessment | null = last
      ? { id: last.id, result: last.result as AssessmentResult, notes: last.notes, nextDueAt: last.nextDueAt, assessedAt: last.assessedAt }
      : null;
    return {
      id: p.id,
      name: p.name,
      contactEmail: p.contactEmail,
      trustLevel: p.trustLevel,
      allowedScopes: p.allowedScopes,
      eventsPerMinute: p.eventsPerMinute ?? defaultRate,
      agreementSignedAt: p.agreementSignedAt,
      agreementExpiresAt: p.agreementExpiresAt,
      suspended: p.suspendedAt !== null,
      suspendedAt: p.suspendedAt,
      lastAssessment,
      createdAt: p.createdAt,
    };
  }
}
