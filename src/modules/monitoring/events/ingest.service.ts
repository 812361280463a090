import { Inject, Injectable } from '@nestjs/common';
import { createHash, randomUUID } from 'node:crypto';
import { plainToInstance } from 'class-transformer';
import { validate } from 'class-validator';
import type { EntityManager } from 'typeorm';
import { AUDIT_SINK, type AuditSink } from '../../../common/audit/audit-sink';
import type { SystemEvent } from '../../../common/audit/system-event-sink';
import { RequestContext } from '../../../common/context/request-context';
import { TrustLevel, type PartnerPrincipal } from '../../../common/context/principal';
import { AppError, BadUserInputError, ConflictError, ForbiddenError, NotFoundError, RateLimitedError, type FieldError } from '../../../common/errors/app-error';
import { RateLimiter } from '../../../common/rate-limit/rate-limiter.service';
import { partnerEventsBucket } from '../../../common/rate-limit/rate-limits';
import { chargeOperation } from '../../../access/unauthenticated';
import { canonicalJson } from '../../audit/audit-chain';
import { keyedDigest } from '../../../common/crypto/digest';
import { isDecimalString } from '../../../common/scalars/scalars';
import { toFieldErrors } from '../../../common/validation/validation.pipe';
import { inputShapeError } from '../../../common/validation/nesting';
import type { AppConfig } from '../../../config/config';
import { APP_CONFIG } from '../../../config/config.module';
import { TransactionService } from '../../../database/transaction.service';
import { CustomersService, type CustomerSnapshot } from '../../customers/customers.service';
import { PartnersService } from '../../identity/partners/partners.service';
import { EventInput } from '../models/event.model';
import type { EventResultModel } from '../models/event-result.model';
import { EventType } from '../models/monitoring.enums';
import { MetricsService } from '../../../health/metrics.service';
import { CustomerSnapshotCache } from './customer-snapshot-cache';
import { DecisionPipeline, StaleCustomerSnapshot, type IncomingEvent } from './decision-pipeline.service';
import { parseInstant } from '../../../common/scalars/date-time';
import { wellFormedEvent } from './event-input-check';
import { isClosedCustomer } from '../../customers/customer-status';

export const MAX_EVENTS_PER_CALL = 1000;
const PARTNER_TYPES = new Set([EventType.TRANSACTION, EventType.LOGIN, EventType.COMMUNICATION, EventType.PAYMENT]);
const KNOWN_TYPES = new Set<string>(Object.values(EventType));

/** What `attributes.outcome` of a LOGIN may say (SPEC §5). */
const LOGIN_OUTCOMES: ReadonlySet<unknown> = new Set(['SUCCESS', 'FAILURE']);

/**
 * `closed`: the customer is TERMINATED or ERASED — refused, unless the event repeats one ingested before.
 * `at`: `occurredAt` as the instant it names, once checked.
 */
type Slot = { index: number; input: EventInput; at?: Date; customer?: CustomerSnapshot; error?: AppError; closed?: boolean };

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
    private readonly snapshotCache: CustomerSnapshotCache,
    private readonly metrics: MetricsService,
    @Inject(AUDIT_SINK) private readonly audit: AuditSink,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  async ingest(raw: unknown[]): Promise<Array<EventResultModel | AppError>> {
    const principal = this.context.principal as PartnerPrincipal;
    if (!Array.isArray(raw) || raw.length > MAX_EVENTS_PER_CALL) {
      await chargeOperation(this.limiter, this.config.rateLimits, principal);
      throw BadUserInputError.field('events', `must hold at most ${MAX_EVENTS_PER_CALL} events`);
    }
    // The call's rate limit (the guard leaves ingestEvents to it): each event counts once against the partner's
    // events limit, valid or not, and a call carrying none counts as one (SPEC §8). Charged before any work, so a
    // call past the limit costs one look-up in the limiter and nothing more.
    const perMinute = principal.eventsPerMinute !== undefined ? principal.eventsPerMinute : (await this.partners.findEntity(principal.partnerId)).eventsPerMinute;
    const bucket = partnerEventsBucket(principal.trustLevel, perMinute, this.config.rateLimits);
    await this.limiter.consumeOrThrow(bucket, principal.partnerId, Math.max(1, raw.length), (s) => new RateLimitedError(s, 'Event rate limit reached for this partner'));
    const validated = await this.validateAll(raw, principal);
    const slots = await this.resolveCustomers(validated, principal, false);
    // Under their row locks, in the transaction: nothing can change the customers between this read and the
    // screening's own lock.
    const underLock = () => this.resolveCustomers(validated, principal, true);
    // Inside a caller's transaction nothing could be rolled back alone for a retry: lock before screening.
    const joining = this.tx.inTransaction();
    try {
      return await this.screenInTransaction(raw.length, principal, joining ? underLock : async () => slots);
    } catch (error) {
      if (!(error instanceof StaleCustomerSnapshot) || joining) throw error;
      // A customer changed after its snapshot was taken (while this call waited for its lock, or since the
      // snapshot was cached): all of it rolled back. Resolve the customers again under their locks, ids and
      // external refs alike (a ref may name another customer by now), and screen again.
      this.metrics.staleSnapshots.inc();
      return this.screenInTransaction(raw.length, principal, underLock);
    }
  }

  /** The screening and the call's audit entry, in one transaction, on the slots `resolve` gives in it. */
  private async screenInTransaction(received: number, principal: PartnerPrincipal, resolve: () => Promise<Slot[]>): Promise<Array<EventResultModel | AppError>> {
    return this.tx.run(async (manager) => {
      const slots = await resolve();
      const valid = slots.filter((s) => !s.error);
      const closed = slots.filter((s) => s.closed);
      const results: Array<EventResultModel | AppError> = slots.map((s) => s.error ?? (null as never));
      const screened = await this.screenAll(manager, principal, valid);
      // A retry of an event ingested before its customer was closed is still a repeat (SPEC: the original
      // result, `duplicate: true`); only a new event for a closed customer is a write it refuses.
      for (const [index, outcome] of await this.repeatsForClosedCustomers(manager, principal, closed)) screened.set(index, outcome);
      const counts: Record<string, number> = {};
      let duplicates = 0;
      const ids: string[] = [];
      for (const slot of [...valid, ...closed].sort((a, b) => a.index - b.index)) {
        const outcome = screened.get(slot.index);
        if (!outcome) continue;
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
        details: { received, processed: ids.length, duplicates, rejected: received - ids.length, decisions: counts, firstEventId: ids[0] ?? null, lastEventId: ids[ids.length - 1] ?? null },
      });
      return results;
    });
  }

  /**
   * A SYSTEM event (a profile change made through updateCustomer, say): screened by the same pipeline in
   * the caller's transaction; its decision is recorded and may raise alerts, but never blocks the caller.
   */
  async recordSystemEvent(event: SystemEvent): Promise<{ eventId: string; decision: string }> {
    return this.tx.run(async (manager) => {
      // Under the row lock: the pipeline's own lock then finds the snapshot as read.
      const [customer] = await this.customers.snapshots([event.customerId], [], { forUpdate: true });
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
    const slots: Slot[] = new Array(raw.length);
    const validating: Array<Promise<void>> = [];
    raw.forEach((item, index) => {
      // Most events pass the fast lane; the rest go through class-validator, for its error messages.
      const fast = wellFormedEvent(item);
      // class-transformer recurses into attributes: a value nested too deeply would overflow the stack, and
      // a `constructor` key would make it throw.
      const shape = fast ? null : inputShapeError(item);
      if (shape) {
        slots[index] = { index, input: new EventInput(), error: BadUserInputError.field(shape.key, shape.message) };
        return;
      }
      const input = fast ?? plainToInstance(EventInput, item ?? {});
      const forbidden = this.forbiddenType(input, principal);
      if (forbidden) slots[index] = { index, input, error: forbidden };
      else if (fast) slots[index] = this.checked(index, input, []);
      else validating.push(validate(input).then((errors) => void (slots[index] = this.checked(index, input, toFieldErrors(errors)))));
    });
    await Promise.all(validating);
    return slots;
  }

  /**
   * Authorization before validation (SPEC §8): a type this partner may not send is FORBIDDEN whatever else is
   * wrong with the event. (An unknown type is a validation error.)
   */
  private forbiddenType(input: EventInput, principal: PartnerPrincipal): ForbiddenError | undefined {
    const allowed = PARTNER_TYPES.has(input.type) || (input.type === EventType.PROFILE_CHANGE && principal.trustLevel === TrustLevel.INTERNAL);
    return KNOWN_TYPES.has(input.type) && !allowed ? new ForbiddenError(`A partner may not send ${input.type} events`, { field: 'type' }) : undefined;
  }

  /** The checks beyond EventInput's decorators, added to the decorators' `fieldErrors`. */
  private checked(index: number, input: EventInput, fieldErrors: FieldError[]): Slot {
    if (!input.customerId && !input.customerExternalRef) fieldErrors.push({ path: 'customerId', message: 'or customerExternalRef is required' });
    if (input.amount !== undefined && input.amount !== null && !isDecimalString(String(input.amount))) fieldErrors.push({ path: 'amount', message: 'must be a decimal string' });
    // SPEC: a LOGIN carries attributes.outcome. Without it (or spelt "failure", "FAILED") no failure rule could
    // ever count the attempt, and the partner would never learn why its bursts go unnoticed.
    if (input.type === EventType.LOGIN && !LOGIN_OUTCOMES.has((input.attributes as Record<string, unknown> | null | undefined)?.outcome as string)) {
      fieldErrors.push({ path: 'attributes.outcome', message: 'must be SUCCESS or FAILURE for a LOGIN event' });
    }
    // The decorators check the string's shape; the instant itself is read once, strictly: ISO-8601 forms such
    // as week dates pass isISO8601 but are no calendar date-time, and new Date() would read them as Invalid Date.
    const at = fieldErrors.some((e) => e.path === 'occurredAt') ? undefined : parseInstant(input.occurredAt);
    if (at && !(at instanceof Date)) fieldErrors.push({ path: 'occurredAt', message: at.reason });
    else if (at && at.getTime() > Date.now() + 5 * 60_000) fieldErrors.push({ path: 'occurredAt', message: 'must not be in the future' });
    if (fieldErrors.length) return { index, input, error: new BadUserInputError(`Invalid event at ${index}: ${fieldErrors.map((e) => `${e.path} ${e.message}`).join('; ')}`, fieldErrors) };
    return { index, input, at: at as Date };
  }

  /**
   * The validated slots with their customers placed, as new slots (`validated` is left as it is, for a
   * second resolution). Ownership: an EXTERNAL partner screens only customers it onboarded; others look
   * absent (NOT_FOUND). `underLock`: read under the row locks, in the caller's transaction; otherwise the
   * snapshots may come from the ingest cache (the screening's lock checks them).
   */
  private async resolveCustomers(validated: readonly Slot[], principal: PartnerPrincipal, underLock: boolean): Promise<Slot[]> {
    const slots = validated.map((s) => ({ ...s }));
    const pending = slots.filter((s) => !s.error);
    const ids = [...new Set(pending.map((s) => s.input.customerId).filter((v): v is string => !!v))];
    const refs = [...new Set(pending.map((s) => s.input.customerExternalRef).filter((v): v is string => !!v))];
    const found = underLock ? await this.customers.snapshots(ids, refs, { forUpdate: true }) : await this.snapshotCache.snapshots(ids, refs);
    const byId = new Map(found.map((c) => [c.id, c]));
    const byRef = new Map(found.map((c) => [c.externalRef, c]));
    for (const slot of pending) {
      const customer = slot.input.customerId ? byId.get(slot.input.customerId) : byRef.get(slot.input.customerExternalRef!);
      const visible = customer && (principal.trustLevel === TrustLevel.INTERNAL || customer.onboardedByPartnerId === principal.partnerId);
      if (!customer || !visible) slot.error = new NotFoundError('Customer');
      else placeCustomer(slot, customer);
    }
    return slots;
  }

  /**
   * Screens the valid events as one batch. The first event of each idempotency key in the call is screened
   * (or, its key taken by an earlier call, answered with that call's result); a later event of the call
   * with the same key is a duplicate of it, or a CONFLICT when its body differs — as in a later call.
   */
  /**
   * Events for a closed customer whose key an earlier call of this source took: the original result as a
   * repeat, or CONFLICT when the body differs. The others keep their CONFLICT (the customer is closed).
   */
  private async repeatsForClosedCustomers(manager: EntityManager, principal: PartnerPrincipal, slots: readonly Slot[]): Promise<Map<number, EventResultModel | AppError>> {
    const outcomes = new Map<number, EventResultModel | AppError>();
    if (!slots.length) return outcomes;
    const claims = slots.map((s) => claimOf(s, this.config.keys.token));
    const priors = await this.priorClaims(manager, principal, claims.map((c) => c.key));
    const results = await this.pipeline.priorResults(manager, [...priors.values()].map((p) => ({ eventId: p.event_id, occurredAt: p.occurred_at })));
    for (const c of claims) {
      const prior = priors.get(c.key);
      if (!prior) continue;
      if (!sameBody(prior.body_hash, c)) outcomes.set(c.slot.index, new ConflictError('This idempotencyKey was already used with a different event', { field: 'idempotencyKey' }));
      else outcomes.set(c.slot.index, duplicateOf(results.get(prior.event_id)!));
    }
    return outcomes;
  }

  /** The stored claims of these keys by this source, by key. */
  private async priorClaims(manager: EntityManager, principal: PartnerPrincipal, keys: readonly string[]): Promise<Map<string, PriorClaim>> {
    if (!keys.length) return new Map();
    const rows = (await manager.query(`SELECT idempotency_key, body_hash, event_id, occurred_at FROM event_idempotency WHERE source = $1 AND idempotency_key = ANY($2::text[])`, [
      principal.partnerId,
      [...keys],
    ])) as PriorClaim[];
    return new Map(rows.map((p) => [p.idempotency_key, p]));
  }

  private async screenAll(manager: EntityManager, principal: PartnerPrincipal, slots: readonly Slot[]): Promise<Map<number, EventResultModel | AppError>> {
    const claims = slots.map((s) => claimOf(s, this.config.keys.token));
    const firstOfKey = new Map<string, Claim>();
    for (const c of claims) if (!firstOfKey.has(c.key)) firstOfKey.set(c.key, c);
    const firsts = [...firstOfKey.values()];
    const screened = await this.pipeline.screenBatch(
      manager,
      firsts.map(({ slot, key, bodyHash }) => ({
        event: { ...slot.input, id: randomUUID(), occurredAt: slot.at!, source: principal.partnerId, customer: slot.customer! } as IncomingEvent,
        claim: { key, bodyHash },
      })),
    );
    // Keys taken before this call: the stored claim says which event answers and with which body.
    const taken = firsts.filter((_, i) => !screened[i]);
    const priorByKey = await this.priorClaims(manager, principal, taken.map((c) => c.key));
    const priorResults = await this.pipeline.priorResults(manager, [...priorByKey.values()].map((p) => ({ eventId: p.event_id, occurredAt: p.occurred_at })));
    const original = new Map<string, { bodyHash: string; result: EventResultModel }>();
    firsts.forEach((c, i) => {
      const fresh = screened[i];
      if (fresh) original.set(c.key, { bodyHash: c.bodyHash, result: fresh });
      const prior = priorByKey.get(c.key);
      if (prior) original.set(c.key, { bodyHash: prior.body_hash, result: priorResults.get(prior.event_id)! });
    });
    const screenedFirsts = new Set(firsts.filter((_, i) => screened[i]));
    const outcomes = new Map<number, EventResultModel | AppError>();
    for (const c of claims) {
      const first = original.get(c.key)!;
      if (!sameBody(first.bodyHash, c)) outcomes.set(c.slot.index, new ConflictError('This idempotencyKey was already used with a different event', { field: 'idempotencyKey' }));
      else if (screenedFirsts.has(c)) outcomes.set(c.slot.index, first.result);
      // A repeat answers as a later call would: the stored event, and the alerts it opened.
      else outcomes.set(c.slot.index, duplicateOf(first.result));
    }
    return outcomes;
  }
}

/** The slot's customer; a closed one makes the event CONFLICT (kept, so a repeat can still answer). */
function placeCustomer(slot: Slot, customer: CustomerSnapshot): void {
  if (isClosedCustomer(customer.status)) Object.assign(slot, { error: new ConflictError(`The customer is ${customer.status}`), customer, closed: true });
  else slot.customer = customer;
}

type PriorClaim = { idempotency_key: string; body_hash: string; event_id: string; occurred_at: Date };

type Claim = { slot: Slot; key: string; bodyHash: string; canonical: string };

/**
 * An event's idempotency claim: its key, and a keyed digest (`k1:`, HMAC under the token key) of its body as
 * stored (the customer by id). Keyed, because the body holds the communication `content`, whose ciphertext
 * erasure shreds: a plain hash kept next to the event's other fields would let anyone holding the database
 * confirm a guessed message after the key is gone.
 */
function claimOf(slot: Slot, digestKey: Buffer): Claim {
  const { idempotencyKey, ...body } = slot.input as EventInput & Record<string, unknown>;
  const canonical = canonicalJson({ ...body, customerId: slot.customer!.id, customerExternalRef: undefined });
  return { slot, key: idempotencyKey as string, canonical, bodyHash: `k1:${keyedDigest(digestKey, 'event-body', canonical)}` };
}

/** Whether a stored body digest is this claim's body: keyed, or a plain SHA-256 for claims stored before those. */
function sameBody(stored: string, claim: Claim): boolean {
  return stored.startsWith('k1:') ? stored === claim.bodyHash : stored === createHash('sha256').update(claim.canonical).digest('hex');
}

const duplicateOf = (r: EventResultModel): EventResultModel => ({
  ...r,
  event: r.event && { ...r.event, accountManagerId: null },
  alerts: r.alerts ? r.alerts.filter((a) => a.eventId === r.event?.id) : null,
  duplicate: true,
});
