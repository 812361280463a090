import { Inject, Injectable, Logger } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import type { AuditRecord, AuditSink } from '../../common/audit/audit-sink';
import { RequestContext } from '../../common/context/request-context';
import { APP_CONFIG } from '../../config/config.module';
import type { AppConfig } from '../../config/config';
import { TransactionService } from '../../database/transaction.service';
import { chainHash, GENESIS_HASH, type AuditRow } from './audit-chain';

/** One advisory lock serialises appends, so ids, commit order and chain order are the same order. */
const AUDIT_LOCK_KEY = 872_411_001;

@Injectable()
export class AuditWriter implements AuditSink {
  private readonly logger = new Logger('Audit');

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly tx: TransactionService,
    private readonly context: RequestContext,
  ) {}

  async record(entry: AuditRecord): Promise<void> {
    await this.tx.run((manager) => this.append(manager, entry));
  }

  private async append(manager: EntityManager, entry: AuditRecord): Promise<void> {
    const row = this.toRow(entry);
    // Held until the surrounding transaction commits: the next writer reads this row's hash as its prev.
    await manager.query('SELECT pg_advisory_xact_lock($1)', [AUDIT_LOCK_KEY]);
    const [last] = (await manager.query('SELECT hash FROM audit_entry ORDER BY id DESC LIMIT 1')) as Array<{ hash: string }>;
    const [{ id }] = (await manager.query(`SELECT nextval('audit_entry_id_seq')::text AS id`)) as Array<{ id: string }>;
    const prevHash = last?.hash ?? GENESIS_HASH;
    const full: AuditRow = { ...row, id };
    const hash = chainHash(this.config.keys.auditChain, prevHash, full);
    await manager.query(
      `INSERT INTO audit_entry (id, occurred_at, actor_type, actor_id, role, partner_id, session_id, ip, user_agent,
         request_id, action, resource_type, resource_id, customer_id, fields, outcome, details, prev_hash, hash)
       VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19)`,
      [
        full.id, full.occurredAt, full.actorType, full.actorId, full.role, full.partnerId, full.sessionId, full.ip,
        full.userAgent, full.requestId, full.action, full.resourceType, full.resourceId, full.customerId, full.fields,
        full.outcome, JSON.stringify(full.details), prevHash, hash,
      ],
    );
    if (entry.outcome !== 'SUCCESS') this.logger.debug(`${entry.action} ${entry.outcome}`);
  }

  private toRow(entry: AuditRecord): Omit<AuditRow, 'id'> {
    const principal = this.context.principal;
    const actor = entry.actor ?? (principal?.kind === 'USER'
      ? { type: 'USER' as const, id: principal.userId, role: principal.role, sessionId: principal.sessionId, partnerId: null }
      : principal?.kind === 'PARTNER'
        ? { type: 'PARTNER' as const, id: principal.tokenId, role: 'PARTNER', partnerId: principal.partnerId, sessionId: null }
        : { type: this.context.requestId ? ('ANONYMOUS' as const) : ('SYSTEM' as const), id: null, role: null, partnerId: null, sessionId: null });
    return {
      occurredAt: new Date().toISOString(),
      actorType: actor.type,
      actorId: actor.id ?? null,
      role: actor.role ?? null,
      partnerId: actor.partnerId ?? null,
      sessionId: actor.sessionId ?? null,
      ip: this.context.ip ?? null,
      userAgent: this.context.userAgent ?? null,
      requestId: this.context.requestId ?? null,
      action: entry.action,
      resourceType: entry.resourceType ?? null,
      resourceId: entry.resourceId ?? null,
      customerId: entry.customerId ?? null,
      fields: entry.fields ?? [],
      outcome: entry.outcome,
      details: entry.details ?? {},
    };
  }
}
