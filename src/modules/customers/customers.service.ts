import { Inject, Injectable } from '@nestjs/common';
import { isUUID } from 'class-validator';
import type { EntityManager } from 'typeorm';
import { canQueryCustomers, type AppAbility } from '../../access/abilities';
import { AUDIT_SINK, CUSTOMER_LOOKUP_ACTION, type AuditSink } from '../../common/audit/audit-sink';
import { InvalidPiiValueError } from '../../common/crypto/crypto.errors';
import { RequestContext } from '../../common/context/request-context';
import type { Principal } from '../../common/context/principal';
import { BadUserInputError, ForbiddenError, NotFoundError, RateLimitedError, StepUpRequiredError } from '../../common/errors/app-error';
import type { ConnectionShape, PageArgs } from '../../common/pagination/connection';
import { paginate, type SortKey } from '../../common/pagination/paginate';
import { RateLimiter } from '../../common/rate-limit/rate-limiter.service';
import { configuredBucket, RATE_LIMITS } from '../../common/rate-limit/rate-limits';
import type { AppConfig } from '../../config/config';
import { APP_CONFIG } from '../../config/config.module';
import { TransactionService } from '../../database/transaction.service';
import { applyCustomerScope } from './customer-scope';
import { CustomerPii } from './customer-pii';
import { CustomerOrderField, type CustomerOrder, type CustomersFilter } from './dto/customer.inputs';
import { CUSTOMER_PII_FIELDS, CustomerEntity } from './entities/customer.entity';
import type { CustomerModel } from './models/customer.model';
import { loadPlainRows } from '../../database/raw-entities';

/** What monitoring needs to know about a customer to decide on an event (no PII). */
export interface CustomerSnapshot {
  id: string;
  externalRef: string;
  status: string;
  riskLevel: string;
  riskScore: number;
  verificationLevel: string;
  creditLevel: string | null;
  /** Limits as PostgreSQL's numeric text: rules compare them exactly, as decimals, whatever their size. */
  transactionLimit: string | null;
  dailyLimit: string | null;
  /** While RESTRICTED, money-moving events above it are held (null: every amount). */
  restrictedLimit: string | null;
  createdAt: Date;
  accountManagerId: string | null;
  onboardedByPartnerId: string | null;
  dataKey: string | null;
}

/** The customer columns behind a {@link CustomerSnapshot}, as a select list; read them back with {@link toSnapshot}. */
export const SNAPSHOT_COLUMNS = `id, external_ref, status, risk_level, risk_score, verification_level, credit_level, transaction_limit, daily_limit,
  restricted_limit, created_at, account_manager_id, onboarded_by_partner_id, data_key`;

/** The customer columns behind a {@link CustomerSnapshot}, as pg returns them (numeric as text). */
export interface SnapshotRow {
  id: string;
  external_ref: string;
  status: string;
  risk_level: string;
  risk_score: number;
  verification_level: string;
  credit_level: string | null;
  transaction_limit: string | null;
  daily_limit: string | null;
  restricted_limit: string | null;
  created_at: Date;
  account_manager_id: string | null;
  onboarded_by_partner_id: string | null;
  data_key: string | null;
}

export function toSnapshot(r: SnapshotRow): CustomerSnapshot {
  return {
    id: r.id,
    externalRef: r.external_ref,
    status: r.status,
    riskLevel: r.risk_level,
    riskScore: r.risk_score,
    verificationLevel: r.verification_level,
    creditLevel: r.credit_level,
    transactionLimit: r.transaction_limit,
    dailyLimit: r.daily_limit,
    restrictedLimit: r.restricted_limit,
    createdAt: r.created_at,
    accountManagerId: r.account_manager_id,
    onboardedByPartnerId: r.onboarded_by_partner_id,
    dataKey: r.data_key,
  };
}

/**
 * Whether `fresh` (read under the row lock) says anything a decision reads differently from `seen` (read
 * before it, or cached): a change committed in between — a limit, the status, the account manager, the risk
 * score. The onboarding partner too, which no write changes today: ownership was checked on `seen`.
 */
export function snapshotChanged(seen: CustomerSnapshot, fresh: CustomerSnapshot): boolean {
  return (
    seen.status !== fresh.status || seen.riskLevel !== fresh.riskLevel || seen.riskScore !== fresh.riskScore || seen.verificationLevel !== fresh.verificationLevel ||
    seen.creditLevel !== fresh.creditLevel || seen.transactionLimit !== fresh.transactionLimit || seen.dailyLimit !== fresh.dailyLimit ||
    seen.restrictedLimit !== fresh.restrictedLimit || seen.accountManagerId !== fresh.accountManagerId || seen.dataKey !== fresh.dataKey ||
    seen.externalRef !== fresh.externalRef || seen.onboardedByPartnerId !== fresh.onboardedByPartnerId
  );
}

/** What risk scoring reads of a customer (no PII), read under a row lock in the caller's transaction. */
export interface CustomerRiskInputs {
  id: string;
  status: string;
  verificationLevel: string;
  createdAt: Date;
  riskScore: number;
  riskLevel: string;
  riskFactors: Array<{ factor: string; points: number; detail: string | null }>;
  /** When the earliest time-windowed input of the stored score expires (null: none does). */
  riskReviewAt: Date | null;
  creditScore: number | null;
  creditLevel: string | null;
  creditLimit: string | null;
  accountManagerId: string | null;
}

/**
 * Columns a listed row always carries, whatever was selected: the id, the row-scope attributes the field
 * policy's conditions and the `accountManager` / `onboardedBy` fields read, and the state.
 */
const LIST_BASE_COLUMNS = ['id', 'status', 'accountManagerId', 'onboardedByPartnerId'] as const;
/** Entity properties a list may load only when a field needs them (every other GraphQL field is one). */
const LIST_OPTIONAL_COLUMNS: ReadonlySet<string> = new Set<keyof CustomerEntity>([
  'externalRef', 'lifecycleStage', 'verificationLevel', ...CUSTOMER_PII_FIELDS, 'riskScore', 'riskLevel', 'riskFactors',
  'creditScore', 'creditLevel', 'creditLimit', 'transactionLimit', 'dailyLimit', 'createdAt', 'updatedAt',
]);
const ORDER_PROPERTY: Record<CustomerOrderField, keyof CustomerEntity> = {
  CREATED_AT: 'createdAt',
  UPDATED_AT: 'updatedAt',
  RISK_SCORE: 'riskScore',
  EXTERNAL_REF: 'externalRef',
};

/**
 * The entity properties a page must load to serve `fields` (GraphQL field names selected on its nodes):
 * ciphertexts (and the data key) only of the PII fields asked for, no blind index, no risk factors unless
 * asked. A 100-row page then reads and parses a fraction of the bytes it would with every column.
 */
export function listColumns(fields: ReadonlySet<string>, orderField: CustomerOrderField): Array<keyof CustomerEntity> {
  const columns = new Set<keyof CustomerEntity>(LIST_BASE_COLUMNS);
  columns.add(ORDER_PROPERTY[orderField]);
  for (const field of fields) if (LIST_OPTIONAL_COLUMNS.has(field)) columns.add(field as keyof CustomerEntity);
  if ((CUSTOMER_PII_FIELDS as readonly string[]).some((field) => fields.has(field))) columns.add('dataKey');
  return [...columns];
}

const ORDER_COLUMNS: Record<CustomerOrderField, SortKey<CustomerEntity>> = {
  CREATED_AT: { column: 'c.created_at', kind: 'timestamptz', value: (c) => c.createdAt.toISOString() },
  UPDATED_AT: { column: 'c.updated_at', kind: 'timestamptz', value: (c) => c.updatedAt.toISOString() },
  RISK_SCORE: { column: 'c.risk_score', kind: 'int', value: (c) => c.riskScore },
  EXTERNAL_REF: { column: 'c.external_ref', kind: 'text', value: (c) => c.externalRef },
};

/** The most customers one lookup is recorded under (a blind-index value shared by more is a data problem). */
const LOOKUP_AUDIT_CAP = 100;

/** Reading customers: by id, lists with filters and blind-index lookups, all within the principal's row scope. */
@Injectable()
export class CustomersService {
  constructor(
    private readonly tx: TransactionService,
    private readonly pii: CustomerPii,
    private readonly context: RequestContext,
    private readonly limiter: RateLimiter,
    @Inject(AUDIT_SINK) private readonly audit: AuditSink,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  principal(): Principal {
    return this.context.requirePrincipal();
  }

  ability(): AppAbility {
    return this.context.requireAbility<AppAbility>();
  }

  /** The row if it exists and is in scope; absent and out-of-scope rows are the same NOT_FOUND. */
  async findEntity(id: string, path = 'id'): Promise<CustomerEntity> {
    if (typeof id !== 'string' || !isUUID(id)) throw BadUserInputError.field(path, 'is not a valid id');
    const principal = this.principal();
    const query = applyCustomerScope(this.tx.manager().createQueryBuilder(CustomerEntity, 'c').where('c.id = :id', { id }), 'c', principal);
    const row = await query.getOne();
    if (row) return row;
    if (await this.tx.manager().existsBy(CustomerEntity, { id })) {
      await this.audit.record({ action: 'customer.read', outcome: 'DENIED', resourceType: 'Customer', resourceId: id, customerId: id, details: { reason: 'out_of_scope' } });
    }
    throw new NotFoundError('Customer');
  }

  async get(id: string): Promise<CustomerModel> {
    await this.assertMayQuery('customer');
    return this.pii.toModel(await this.findEntity(id));
  }

  /**
   * Non-PII facts that monitoring decides on, by id or external ref. No row scope: the caller (the ingest
   * pipeline) applies its own ownership rule to what it finds. `forUpdate`: read under the row locks (taken in
   * id order, as the ingest pipeline takes them), in the caller's transaction.
   */
  async snapshots(ids: readonly string[], externalRefs: readonly string[], options: { forUpdate?: boolean } = {}): Promise<CustomerSnapshot[]> {
    const uuids = ids.filter((id) => isUUID(id));
    if (!uuids.length && !externalRefs.length) return [];
    // Only the columns a decision reads, as plain rows: no entity hydration of the encrypted PII columns on
    // the ingest hot path. A condition only for the keys given, and `= $1` for a single key: the prepared
    // statement then keeps its generic plan (PostgreSQL prices `= ANY($1)` for a ten-element array, so it
    // re-planned the one-customer look-up on every call).
    const keyed = (column: string, type: string, values: readonly string[]) =>
      values.length === 1 ? { sql: `${column} = $1::${type}`, params: [values[0]] } : { sql: `${column} = ANY($1::${type}[])`, params: [[...values]] };
    const where = !externalRefs.length
      ? keyed('id', 'uuid', uuids)
      : !uuids.length
        ? keyed('external_ref', 'text', externalRefs)
        : { sql: 'id = ANY($1::uuid[]) OR external_ref = ANY($2::text[])', params: [uuids, [...externalRefs]] };
    const rows = (await this.tx.manager().query(`SELECT ${SNAPSHOT_COLUMNS} FROM customer WHERE ${where.sql}${options.forUpdate ? ' ORDER BY id FOR UPDATE' : ''}`, where.params)) as SnapshotRow[];
    return rows.map(toSnapshot);
  }

  /**
   * Drops a data key from memory that a snapshot still carried after the customer's row lost it (erased on
   * another instance, whose vault forgot it there): sealing with the stale snapshot had opened it here.
   */
  forgetReplacedKey(seen: Pick<CustomerSnapshot, 'dataKey'>, current: Pick<CustomerSnapshot, 'dataKey'>): void {
    if (seen.dataKey && seen.dataKey !== current.dataKey) this.pii.forget({ dataKey: seen.dataKey });
  }

  /** Encrypts free text tied to a customer (event content, notes) under that customer's data key. */
  sealForCustomer(customer: Pick<CustomerSnapshot, 'id' | 'dataKey'>, aad: { table: string; column: string; rowId: string }, text: string): string | null {
    const dek = this.pii.dataKey({ id: customer.id, dataKey: customer.dataKey });
    return dek ? this.pii.sealText(dek, aad, text) : null;
  }

  /**
   * Decrypts free text sealed by {@link sealForCustomer}; `null` when the customer's key is gone (erased).
   * Callers decrypt only for principals allowed to read the record the text belongs to.
   */
  openForCustomer(customer: Pick<CustomerSnapshot, 'id' | 'dataKey'>, aad: { table: string; column: string; rowId: string }, sealed: string | null): string | null {
    if (sealed === null) return null;
    const dek = this.pii.dataKey({ id: customer.id, dataKey: customer.dataKey });
    return dek ? this.pii.openText(dek, aad, sealed) : null;
  }

  /** Batched by DataLoader for nested `customer` fields (alerts, complaints…): in-scope rows only. */
  async getMany(ids: readonly string[]): Promise<Array<CustomerModel | null>> {
    const valid = ids.filter((id) => isUUID(id));
    const rows = valid.length
      ? await applyCustomerScope(this.tx.manager().createQueryBuilder(CustomerEntity, 'c').where('c.id IN (:...ids)', { ids: valid }), 'c', this.principal()).getMany()
      : [];
    const byId = new Map(rows.map((r) => [r.id, r]));
    return ids.map((id) => (byId.has(id) ? this.pii.toModel(byId.get(id)!) : null));
  }

  /**
   * Risk and credit inputs of one customer, the row locked (FOR UPDATE) in the caller's transaction so that
   * concurrent recomputes of one customer run one after the other, each seeing what the previous committed.
   * No row scope: monitoring calls it for customers it already resolved. `null` when the id is unknown.
   */
  async riskInputs(manager: EntityManager, customerId: string): Promise<CustomerRiskInputs | null> {
    if (!isUUID(customerId)) return null;
    const [row] = (await manager.query(
      `SELECT id, status, verification_level, created_at, risk_score, risk_level, risk_factors, risk_review_at, credit_score, credit_level, credit_limit, account_manager_id
         FROM customer WHERE id = $1 FOR UPDATE`,
      [customerId],
    )) as Array<{
      id: string; status: string; verification_level: string; created_at: Date; risk_score: number; risk_level: string;
      risk_factors: CustomerRiskInputs['riskFactors'] | null; risk_review_at: Date | null; credit_score: number | null; credit_level: string | null; credit_limit: string | null; account_manager_id: string | null;
    }>;
    if (!row) return null;
    return {
      id: row.id, status: row.status, verificationLevel: row.verification_level, createdAt: new Date(row.created_at),
      riskScore: row.risk_score, riskLevel: row.risk_level, riskFactors: row.risk_factors ?? [], riskReviewAt: row.risk_review_at === null ? null : new Date(row.risk_review_at),
      creditScore: row.credit_score, creditLevel: row.credit_level, creditLimit: row.credit_limit === null ? null : String(row.credit_limit),
      accountManagerId: row.account_manager_id,
    };
  }

  /** Stores a recomputed risk score (monitoring computes it; the customer row holds the current value). */
  async updateRisk(manager: EntityManager, customerId: string, score: number, level: string, factors: CustomerRiskInputs['riskFactors'], reviewAt: Date | null): Promise<void> {
    await manager.query(
      `UPDATE customer SET risk_score = $2, risk_level = $3, risk_factors = $4::jsonb, risk_review_at = $5, updated_at = now() WHERE id = $1`,
      [customerId, score, level, JSON.stringify(factors), reviewAt?.toISOString() ?? null],
    );
  }

  /** Moves only the time the stored risk score is to be reviewed (its factors are unchanged). */
  async setRiskReviewAt(manager: EntityManager, customerId: string, reviewAt: Date | null): Promise<void> {
    await manager.query(`UPDATE customer SET risk_review_at = $2 WHERE id = $1`, [customerId, reviewAt?.toISOString() ?? null]);
  }

  /** Stores the result of a credit assessment (monitoring validates it and keeps the history). */
  async recordCredit(manager: EntityManager, customerId: string, credit: { score: number; level: string; limit: string }): Promise<void> {
    await manager.query(
      `UPDATE customer SET credit_score = $2, credit_level = $3, credit_limit = $4, updated_at = now() WHERE id = $1`,
      [customerId, credit.score, credit.level, credit.limit],
    );
  }

  /**
   * A page of customers in the principal's row scope. `fields`: the GraphQL fields selected on the nodes,
   * when known, so only their columns are loaded; without it every column is.
   */
  async list(filter: CustomersFilter | undefined, orderBy: CustomerOrder | undefined, page: PageArgs, fields?: ReadonlySet<string>): Promise<ConnectionShape<CustomerModel>> {
    await this.assertMayQuery('customers');
    const principal = this.principal();
    const query = applyCustomerScope(this.tx.manager().createQueryBuilder(CustomerEntity, 'c'), 'c', principal);
    const lookups = filter ? await this.applyFilter(query, filter) : [];
    // Whom a lookup confirms: every match in scope, not only the page returned (`first: 0` with `totalCount`
    // confirms as much as the nodes do). Blind-index matches are few; past the cap the entry says how many more.
    const confirmed = lookups.length
      ? ((await query.clone().select('c.id', 'id').orderBy('c.id').limit(LOOKUP_AUDIT_CAP + 1).getRawMany()) as Array<{ id: string }>).map((r) => r.id)
      : [];
    const orderField = orderBy?.field ?? CustomerOrderField.CREATED_AT;
    // Ordering is no oracle either: sorting by a value reveals it as much as filtering on it.
    if (orderField === CustomerOrderField.RISK_SCORE) this.assertFilterable('riskScore', 'orderBy.field');
    const order = ORDER_COLUMNS[orderField];
    const direction = orderBy?.direction ?? 'ASC';
    const result = await paginate(query, page, {
      keys: [order, { column: 'c.id', kind: 'uuid', value: (c) => c.id }],
      direction,
      order: `${orderField}:${direction}`,
      load: fields ? (pageQuery, limit) => loadPlainRows(pageQuery.select(listColumns(fields, orderField).map((p) => `c.${p}`)), limit) : loadPlainRows,
    });
    if (lookups.length) await this.recordLookup(lookups, confirmed);
    return { ...result, nodes: result.nodes.map((r) => this.pii.toModel(r)) };
  }

  /**
   * A search by a full email, phone or national id confirms that value for every customer it matches, so it
   * is audited under each of them (the customer's access report lists it with the fields searched), or once
   * without a customer when nothing matched. Field names only, never the searched value. `matched` holds at
   * most one id past the cap: that one is not named, the entries say more matched.
   */
  private recordLookup(fields: readonly string[], matched: readonly string[]): Promise<void> {
    const entry = { action: CUSTOMER_LOOKUP_ACTION, outcome: 'SUCCESS' as const, resourceType: 'Customer', fields: [...fields] };
    if (!matched.length) return this.audit.record(entry);
    const details = matched.length > LOOKUP_AUDIT_CAP ? { moreMatches: true } : undefined;
    return this.audit.recordMany(matched.slice(0, LOOKUP_AUDIT_CAP).map((id) => ({ ...entry, resourceId: id, customerId: id, ...(details ? { details } : {}) })));
  }

  /**
   * Filters are no oracle: filtering on a field needs at least masked access to it. Blind-index lookups are
   * rate-limited per principal; `list` audits them. Returns the blind-index fields searched.
   */
  private async applyFilter(query: ReturnType<typeof applyCustomerScope<CustomerEntity>>, filter: CustomersFilter): Promise<Array<'email' | 'phone' | 'nationalId'>> {
    const lookups = (['email', 'phone', 'nationalId'] as const).filter((f) => filter[f] !== undefined && filter[f] !== null);
    for (const field of [...lookups, ...(filter.riskLevel ? (['riskLevel'] as const) : [])]) this.assertFilterable(field);
    if (lookups.length) {
      const principal = this.principal();
      const who = principal.kind === 'USER' ? principal.userId : principal.tokenId;
      await this.limiter.consumeOrThrow(configuredBucket(RATE_LIMITS.blindIndexLookups, this.config.rateLimits.blindIndexLookups), who, lookups.length, (s) => new RateLimitedError(s, 'Too many customer lookups'));
    }
    const column = { email: 'email_bidx', phone: 'phone_bidx', nationalId: 'national_id_bidx' } as const;
    for (const field of lookups) {
      let digest: string;
      try {
        digest = this.pii.blindIndex(field, String(filter[field]));
      } catch (error) {
        if (error instanceof InvalidPiiValueError) throw BadUserInputError.field(`filter.${field}`, 'is not a valid value');
        throw error;
      }
      query.andWhere(`c.${column[field]} = :${field}Digest`, { [`${field}Digest`]: digest });
    }
    if (filter.status) query.andWhere('c.status = :status', { status: filter.status });
    if (filter.riskLevel) query.andWhere('c.risk_level = :riskLevel', { riskLevel: filter.riskLevel });
    if (filter.lifecycleStage) query.andWhere('c.lifecycle_stage = :stage', { stage: filter.lifecycleStage });
    if (filter.accountManagerId) query.andWhere('c.account_manager_id = :manager', { manager: filter.accountManagerId });
    return lookups;
  }

  /**
   * The customer queries need read access to customers, not just `customers:write`'s read-back of the rows
   * it writes (canQueryCustomers): refused and audited as the guard refuses an operation.
   */
  private async assertMayQuery(operation: 'customer' | 'customers'): Promise<void> {
    if (canQueryCustomers(this.ability())) return;
    await this.audit.record({ action: 'access.denied', outcome: 'DENIED', resourceType: 'Operation', resourceId: operation, details: { reason: 'read Customer' } });
    throw new ForbiddenError(`Not allowed to run ${operation}`);
  }

  /** Type-level check (row scope is already in the SQL): any of full, masked or step-up access will do. */
  private assertFilterable(field: string, path = `filter.${field}`): void {
    const ability = this.ability();
    const allowed = (['read', 'readMasked', 'readAfterStepUp'] as const).some((action) => ability.can(action, 'Customer', field));
    // A field behind step-up is behind step-up as a search key too: a hit would reveal that the value exists.
    if (allowed && !ability.can('read', 'Customer', field) && !ability.can('readMasked', 'Customer', field)) {
      const principal = this.principal();
      const stepped = principal.kind === 'USER' && principal.stepUpUntil !== null && principal.stepUpUntil.getTime() > Date.now();
      if (!stepped) throw new StepUpRequiredError();
    }
    if (!allowed) throw new ForbiddenError(`Filtering or ordering on ${field} is not allowed`, { field: path });
  }
}
