import { Inject, Injectable } from '@nestjs/common';
import { createHash, randomUUID } from 'node:crypto';
import { plainToInstance } from 'class-transformer';
import { validate } from 'class-validator';
import type { EntityManager } from 'typeorm';
import { AUDIT_SINK, type AuditSink } from '../../../common/audit/audit-sink';
import type { SystemEvent } from '../../../common/audit/system-event-sink';
import { RequestContext } from '../../../common/context/request-context';
import { TrustLevel, type PartnerPrincipal } from '../../../common/context/principal';
import { AppError, BadUserInputError, ConflictError, ForbiddenError, NotFoundError, RateLimitedError } from '../../../common/errors/app-error';
import { RateLimiter } from '../../../common/rate-limit/rate-limiter.service';
import { partnerEventsBucket } from '../../../common/rate-limit/rate-limits';
import { canonicalJson } from '../../audit/audit-chain';
import { isDecimalString } from '../../../common/scalars/scalars';
import { toFieldErrors } from '../../../common/validation/validation.pipe';
import type { AppConfig } from '../../../config/config';
import { APP_CONFIG } from '../../../config/config.module';
import { TransactionService } from '../../../database/transaction.service';
import { CustomersService, type CustomerSnapshot } from '../../customers/customers.service';
import { PartnersService } from '../../identity/partners/partners.service';
import { EventInput } from '../models/event.model';
import type { EventResultModel } from '../models/event-result.model';
import { EventType } from '../models/monitoring.enums';
import { DecisionPipeline, type IncomingEvent } from './decision-pipeline.service';

export const MAX_EVENTS_PER_CALL = 1000;
const PARTNER_TYPES = new Set([EventType.TRANSACTION, EventType.LOGIN, EventType.COMMUNICATION, EventType.PAYMENT]);
const CLOSED = new Set(['TERMINATED', 'ERASED']);

type Slot = { index: number; input: EventInput; customer?: CustomerSnapshot; error?: AppError };

/**
 * `ingestEvents`: validate every event first, then screen the valid ones in array order in one transaction
 * (each event's windows see the earlier events of the call), idempotent per (source, key). One bad event
 * becomes an error at its index; the others are processed. One audit entry per call.
 */
@Injectable()
export class IngestService {
  constructor(
    private readonly tx: TransactionService,
    private readonly context: RequestContext,
    private readonly customers: CustomersService,
    private readonly partners: PartnersService,
    private readonly limiter: RateLimiter,
    private readonly pipeline: DecisionPipeline,
    @Inject(AUDIT_SINK) private readonly audit: AuditSink,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  async ingest(raw: unknown[]): Promise<Array<EventResultModel | AppError>> {
    const principal = this.context.principal as PartnerPrincipal;
    if (!Array.isArray(raw) || raw.length > MAX_EVENTS_PER_CALL) throw BadUserInputError.field('events', `must hold at most ${MAX_EVENTS_PER_CALL} events`);
    const slots = await this.validateAll(raw, principal);
    await this.resolveCustomers(slots, principal);
    const valid = slots.filter((s) => !s.error);
    if (valid.length) {
      const perMinute = principal.eventsPerMinute !== undefined ? principal.eventsPerMinute : (await this.partners.findEntity(principal.partnerId)).eventsPerMinute;
      const bucket = partnerEventsBucket(principal.trustLevel, perMinute, this.config.rateLimits);
      await this.limiter.consumeOrThrow(bucket, principal.partnerId, valid.length, (s) => new RateLimitedError(s, 'Event rate limit reached for this partner'));
    }
    const results: Array<EventResultModel | AppError> = slots.map((s) => s.error ?? (null as never));
    await this.tx.run(async (manager) => {
      const counts: Record<string, number> = {};
      let duplicates = 0;
      const ids: string[] = [];
      for (const slot of valid) {
        const outcome = await this.screenOne(manager, principal, slot);
        results[slot.index] = outcome;
        if (outcome instanceof AppError) continue;
        if (outcome.duplicate) duplicates++;
        counts[outcome.decision!] = (counts[outcome.decision!] ?? 0) + 1;
        ids.push(outcome.event!.id);
      }
      await this.audit.record({
        action: 'event.ingest',
        outcome: 'SUCCESS',
        resourceType: 'Event',
        details: { received: raw.length, processed: ids.length, duplicates, rejected: raw.length - ids.length, decisions: counts, firstEventId: ids[0] ?? null, lastEventId: ids[ids.length - 1] ?? null },
      });
    });
    return results;
  }

  /**
   * A SYSTEM event (a profile change made through updateCustomer, say): screened by the same pipeline in
   * the caller's transaction; its decision is recorded and may raise alerts, but never blocks the caller.
   */
  async recordSystemEvent(event: SystemEvent): Promise<{ eventId: string; decision: string }> {
    return this.tx.run(async (manager) => {
      const [customer] = await this.customers.snapshots([event.customerId], []);
      if (!customer) throw new NotFoundError('Customer');
      const result = await this.pipeline.screen(manager, {
        id: randomUUID(),
        type: event.type as EventType,
        occurredAt: event.occurredAt ?? new Date(),
        source: 'SYSTEM',
        customer,
        attributes: event.attributes,
      } as IncomingEvent);
      return { eventId: result.event!.id, decision: result.decision! };
    });
  }

  private async validateAll(raw: unknown[], principal: PartnerPrincipal): Promise<Slot[]> {
    return Promise.all(
      raw.map(async (item, index): Promise<Slot> => {
        const input = plainToInstance(EventInput, item ?? {});
        // Authorization before validation (SPEC §8): a type this partner may not send is FORBIDDEN whatever
        // else is wrong with the event. (An unknown type is a validation error below.)
        const known = (Object.values(EventType) as string[]).includes(input.type);
        const allowed = PARTNER_TYPES.has(input.type) || (input.type === EventType.PROFILE_CHANGE && principal.trustLevel === TrustLevel.INTERNAL);
        if (known && !allowed) return { index, input, error: new ForbiddenError(`A partner may not send ${input.type} events`, { field: 'type' }) };
        const errors = await validate(input);
        const fieldErrors = toFieldErrors(errors);
        if (!input.customerId && !input.customerExternalRef) fieldErrors.push({ path: 'customerId', message: 'or customerExternalRef is required' });
        if (input.amount !== undefined && input.amount !== null && !isDecimalString(String(input.amount))) fieldErrors.push({ path: 'amount', message: 'must be a decimal string' });
        const occurred = Date.parse(input.occurredAt);
        if (!Number.isNaN(occurred) && occurred > Date.now() + 5 * 60_000) fieldErrors.push({ path: 'occurredAt', message: 'must not be in the future' });
        if (fieldErrors.length) return { index, input, error: new BadUserInputError(`Invalid event at ${index}: ${fieldErrors.map((e) => `${e.path} ${e.message}`).join('; ')}`, fieldErrors) };
        return { index, input };
      }),
    );
  }

  /** Ownership: an EXTERNAL partner screens only customers it onboarded; others look absent (NOT_FOUND). */
  private async resolveCustomers(slots: Slot[], principal: PartnerPrincipal): Promise<void> {
    const pending = slots.filter((s) => !s.error);
    const found = await this.customers.snapshots(
      pending.map((s) => s.input.customerId).filter((v): v is string => !!v),
      pending.map((s) => s.input.customerExternalRef).filter((v): v is string => !!v),
    );
    const byId = new Map(found.map((c) => [c.id, c]));
    const byRef = new Map(found.map((c) => [c.externalRef, c]));
    for (const slot of pending) {
      const customer = slot.input.customerId ? byId.get(slot.input.customerId) : byRef.get(slot.input.customerExternalRef!);
      const visible = customer && (principal.trustLevel === TrustLevel.INTERNAL || customer.onboardedByPartnerId === principal.partnerId);
      if (!customer || !visible) slot.error = new NotFoundError('Customer');
      else if (CLOSED.has(customer.status)) slot.error = new ConflictError(`The customer is ${customer.status}`);
      else slot.customer = customer;
    }
  }

  private async screenOne(manager: EntityManager, principal: PartnerPrincipal, slot: Slot): Promise<EventResultModel | AppError> {
    const { input } = slot;
    const { idempotencyKey, ...body } = input as EventInput & Record<string, unknown>;
    const bodyHash = createHash('sha256').update(canonicalJson({ ...body, customerId: slot.customer!.id, customerExternalRef: undefined })).digest('hex');
    const incoming: IncomingEvent = { ...input, id: randomUUID(), occurredAt: new Date(input.occurredAt), source: principal.partnerId, customer: slot.customer! };
    // The key is claimed in the event's own INSERT. Concurrent repeats of one key wait there for the first
    // to commit, then see it: they execute once.
    const screened = await this.pipeline.screenClaimed(manager, incoming, { key: idempotencyKey as string, bodyHash });
    if (screened) return screened;
    const [prior] = (await manager.query(`SELECT body_hash, event_id, occurred_at FROM event_idempotency WHERE source = $1 AND idempotency_key = $2`, [principal.partnerId, idempotencyKey])) as Array<{ body_hash: string; event_id: string; occurred_at: Date }>;
    if (prior.body_hash !== bodyHash) return new ConflictError('This idempotencyKey was already used with a different event', { field: 'idempotencyKey' });
    return this.pipeline.priorResult(manager, prior.event_id, prior.occurred_at);
  }
}

