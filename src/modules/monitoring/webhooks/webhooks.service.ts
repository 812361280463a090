import { Inject, Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { isUUID } from 'class-validator';
import type { EntityManager } from 'typeorm';
import { AUDIT_SINK, type AuditSink } from '../../../common/audit/audit-sink';
import { isStaff } from '../../../common/context/principal';
import { RequestContext } from '../../../common/context/request-context';
import { BadUserInputError, ConflictError, NotFoundError } from '../../../common/errors/app-error';
import type { ConnectionShape, PageArgs } from '../../../common/pagination/connection';
import { decodeCursor, encodeCursor, pageSize } from '../../../common/pagination/cursor';
import type { AppConfig } from '../../../config/config';
import { APP_CONFIG } from '../../../config/config.module';
import { TransactionService } from '../../../database/transaction.service';
import { PartnersService } from '../../identity/partners/partners.service';
import type { CreateWebhookInput, UpdateWebhookInput } from './dto/webhook.inputs';
import type { CreatedWebhookModel, WebhookDeliveryModel, WebhookDeliveryStatus, WebhookModel } from './models/webhook.model';
import { WebhookSecrets } from './webhook-secrets';
import { checkWebhookUrl, WebhookUrlError, type UrlPolicy } from './webhook-url';
import { WEBHOOK_SETTINGS, webhookScopeFor } from './webhooks.settings';

type Row = { id: string; partner_id: string; url: string; event_types: string[]; active: boolean; created_at: Date; updated_at: Date };
const COLUMNS = 'id, partner_id, url, event_types, active, created_at, updated_at';
const toModel = (r: Row): WebhookModel => ({ id: r.id, partnerId: r.partner_id, url: r.url, eventTypes: r.event_types, active: r.active, createdAt: r.created_at, updatedAt: r.updated_at });

type DeliveryRow = { id: string; outbox_id: string; event_type: string; attempt: number; status: WebhookDeliveryStatus; status_code: number | null; error: string | null; duration_ms: number; created_at: Date };

const unique = (values: string[]) => [...new Set(values)];

/**
 * Partner webhooks for ADMIN: create (the secret is shown once), change, deactivate, rotate the secret,
 * delete, list, and read the delivery log. Every change is audited, naming the host but never the secret.
 */
@Injectable()
export class WebhooksService {
  private readonly urlPolicy: UrlPolicy;

  constructor(
    @Inject(APP_CONFIG) config: AppConfig,
    private readonly tx: TransactionService,
    private readonly context: RequestContext,
    private readonly partners: PartnersService,
    private readonly secrets: WebhookSecrets,
    @Inject(AUDIT_SINK) private readonly audit: AuditSink,
  ) {
    this.urlPolicy = { requireHttps: config.isProduction, blockPrivate: config.isProduction && !config.webhookAllowPrivate };
  }

  async create(input: CreateWebhookInput): Promise<CreatedWebhookModel> {
    const partner = await this.partners.findEntity(input.partnerId);
    const url = await this.checkUrl(input.url);
    const eventTypes = unique(input.eventTypes);
    checkScopes(eventTypes, partner.allowedScopes);
    const id = randomUUID();
    const { secret, secretEnc, dataKey } = this.secrets.issue(id);
    const principal = this.context.principal;
    return this.tx.run(async (manager) => {
      // The partner row serialises concurrent creations, so the per-partner limit holds.
      await manager.query(`SELECT id FROM partner WHERE id = $1 FOR UPDATE`, [partner.id]);
      const [{ live }] = (await manager.query(`SELECT count(*)::int AS live FROM webhook WHERE partner_id = $1 AND deleted_at IS NULL`, [partner.id])) as Array<{ live: number }>;
      if (live >= WEBHOOK_SETTINGS.maxWebhooksPerPartner) throw new ConflictError(`A partner may have at most ${WEBHOOK_SETTINGS.maxWebhooksPerPartner} webhooks`);
      await manager.query(
        `INSERT INTO webhook (id, partner_id, url, event_types, secret_enc, data_key, created_by) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
        [id, partner.id, url, eventTypes, secretEnc, dataKey, isStaff(principal) ? principal.userId : null],
      );
      await this.audit.record({ action: 'webhook.create', outcome: 'SUCCESS', resourceType: 'Webhook', resourceId: id, details: { partnerId: partner.id, host: new URL(url).host, eventTypes } });
      return { webhook: await this.load(manager, id), secret };
    });
  }

  async update(id: string, input: UpdateWebhookInput): Promise<WebhookModel> {
    const current = await this.get(id);
    const url = input.url !== undefined ? await this.checkUrl(input.url) : null;
    const eventTypes = input.eventTypes ? unique(input.eventTypes) : null;
    if (eventTypes) checkScopes(eventTypes, (await this.partners.findEntity(current.partnerId)).allowedScopes);
    return this.tx.run(async (manager) => {
      const [rows] = (await manager.query(
        `UPDATE webhook SET url = COALESCE($2, url), event_types = COALESCE($3::text[], event_types), active = COALESCE($4::boolean, active), updated_at = now()
          WHERE id = $1 AND deleted_at IS NULL RETURNING ${COLUMNS}`,
        [id, url, eventTypes, input.active ?? null],
      )) as [Row[], number];
      if (!rows.length) throw new NotFoundError('Webhook');
      const deadLettered = rows[0].active ? 0 : await this.deadLetterPending(manager, id, 'webhook deactivated');
      const changed = (['url', 'eventTypes', 'active'] as const).filter((k) => input[k] !== undefined && input[k] !== null);
      await this.audit.record({
        action: 'webhook.update',
        outcome: 'SUCCESS',
        resourceType: 'Webhook',
        resourceId: id,
        details: { partnerId: rows[0].partner_id, changed, host: new URL(rows[0].url).host, eventTypes: rows[0].event_types, active: rows[0].active, deadLettered },
      });
      return toModel(rows[0]);
    });
  }

  /** A new secret, shown once; the old one stops working at once (pending messages are signed with the new one). */
  async rotateSecret(id: string): Promise<CreatedWebhookModel> {
    const current = await this.get(id);
    const { secret, secretEnc, dataKey } = this.secrets.issue(id);
    return this.tx.run(async (manager) => {
      const [old] = (await manager.query(`SELECT data_key FROM webhook WHERE id = $1 AND deleted_at IS NULL FOR UPDATE`, [id])) as Array<{ data_key: string }>;
      if (!old) throw new NotFoundError('Webhook');
      await manager.query(`UPDATE webhook SET secret_enc = $2, data_key = $3, updated_at = now() WHERE id = $1`, [id, secretEnc, dataKey]);
      await this.audit.record({ action: 'webhook.rotate_secret', outcome: 'SUCCESS', resourceType: 'Webhook', resourceId: id, details: { partnerId: current.partnerId } });
      this.secrets.forget(old.data_key);
      return { webhook: await this.load(manager, id), secret };
    });
  }

  /**
   * Soft delete: the row stays for the delivery log, its secret and data key are destroyed, and messages
   * not yet delivered are dead-lettered.
   */
  async delete(id: string): Promise<boolean> {
    await this.get(id);
    return this.tx.run(async (manager) => {
      const [old] = (await manager.query(`SELECT partner_id, data_key FROM webhook WHERE id = $1 AND deleted_at IS NULL FOR UPDATE`, [id])) as Array<{ partner_id: string; data_key: string }>;
      if (!old) throw new NotFoundError('Webhook');
      await manager.query(`UPDATE webhook SET deleted_at = now(), active = false, secret_enc = NULL, data_key = NULL, updated_at = now() WHERE id = $1`, [id]);
      const deadLettered = await this.deadLetterPending(manager, id, 'webhook deleted');
      await this.audit.record({ action: 'webhook.delete', outcome: 'SUCCESS', resourceType: 'Webhook', resourceId: id, details: { partnerId: old.partner_id, deadLettered } });
      this.secrets.forget(old.data_key);
      return true;
    });
  }

  async get(id: string): Promise<WebhookModel> {
    if (!isUUID(id)) throw BadUserInputError.field('id', 'is not a valid id');
    return this.load(this.tx.manager(), id);
  }

  /** Live webhooks, oldest first; of one partner when `partnerId` is given. */
  async list(partnerId: string | undefined, page: PageArgs): Promise<ConnectionShape<WebhookModel>> {
    const limit = pageSize(page);
    const params: unknown[] = [];
    let where = 'deleted_at IS NULL';
    if (partnerId) {
      if (!isUUID(partnerId)) throw BadUserInputError.field('partnerId', 'is not a valid id');
      await this.partners.findEntity(partnerId);
      where += ` AND partner_id = $${params.push(partnerId)}`;
    }
    const manager = this.tx.manager();
    const [{ total }] = (await manager.query(`SELECT count(*)::int AS total FROM webhook WHERE ${where}`, params)) as Array<{ total: number }>;
    if (page.after) {
      const [at, id] = decodeCursor(page.after, ['timestamptz', 'uuid']);
      where += ` AND (created_at, id) > ($${params.push(at)}::timestamptz, $${params.push(id)}::uuid)`;
    }
    const rows = limit === 0 ? [] : ((await manager.query(`SELECT ${COLUMNS} FROM webhook WHERE ${where} ORDER BY created_at, id LIMIT $${params.push(limit + 1)}`, params)) as Row[]);
    const nodes = rows.slice(0, limit).map(toModel);
    const last = nodes[nodes.length - 1];
    return { nodes, totalCount: total, pageInfo: { hasNextPage: rows.length > limit, endCursor: last ? encodeCursor([last.createdAt.toISOString(), last.id]) : null } };
  }

  /** The delivery log of one webhook, newest attempt first. */
  async deliveries(webhookId: string, page: PageArgs): Promise<ConnectionShape<WebhookDeliveryModel>> {
    const limit = pageSize(page);
    const params: unknown[] = [webhookId];
    let where = 'webhook_id = $1';
    const manager = this.tx.manager();
    const [{ total }] = (await manager.query(`SELECT count(*)::int AS total FROM webhook_delivery WHERE ${where}`, params)) as Array<{ total: number }>;
    if (page.after) {
      const [id] = decodeCursor(page.after, ['bigint']);
      where += ` AND id < $${params.push(id)}::bigint`;
    }
    const rows = limit === 0 ? [] : ((await manager.query(`SELECT id::text AS id, outbox_id, event_type, attempt, status, status_code, error, duration_ms, created_at FROM webhook_delivery WHERE ${where} ORDER BY id DESC LIMIT $${params.push(limit + 1)}`, params)) as DeliveryRow[]);
    const nodes = rows.slice(0, limit).map((r) => ({
      id: r.id, deliveryId: r.outbox_id, eventType: r.event_type, attempt: r.attempt, status: r.status, statusCode: r.status_code, error: r.error, durationMs: r.duration_ms, createdAt: r.created_at,
    }));
    const last = nodes[nodes.length - 1];
    return { nodes, totalCount: total, pageInfo: { hasNextPage: rows.length > limit, endCursor: last ? encodeCursor([last.id]) : null } };
  }

  private async load(manager: EntityManager, id: string): Promise<WebhookModel> {
    const [row] = (await manager.query(`SELECT ${COLUMNS} FROM webhook WHERE id = $1 AND deleted_at IS NULL`, [id])) as Row[];
    if (!row) throw new NotFoundError('Webhook');
    return toModel(row);
  }

  /**
   * The webhook's waiting messages, dead-lettered with a `DEAD` entry in the delivery log as the attempt they
   * were waiting for. A message whose attempt is in flight (leased) is left to it: that attempt is logged as
   * it ends, and its retry, if any, is refused then (`refusalOf`) with its own entry.
   */
  private async deadLetterPending(manager: EntityManager, webhookId: string, reason: string): Promise<number> {
    const rows = (await manager.query(
      `WITH dead AS (
         UPDATE webhook_outbox SET status = 'DEAD', last_error = $2, locked_until = NULL, updated_at = now()
          WHERE webhook_id = $1 AND status = 'PENDING' AND (locked_until IS NULL OR locked_until < now())
          RETURNING id, event_type, attempts)
       INSERT INTO webhook_delivery (outbox_id, webhook_id, event_type, attempt, status, status_code, error, duration_ms)
       SELECT id, $1, event_type, attempts + 1, 'DEAD', NULL, $2, 0 FROM dead
       RETURNING outbox_id`,
      [webhookId, reason],
    )) as unknown[];
    return rows.length;
  }

  private async checkUrl(raw: string): Promise<string> {
    try {
      return await checkWebhookUrl(raw, this.urlPolicy);
    } catch (error) {
      if (error instanceof WebhookUrlError) throw BadUserInputError.field('url', error.message);
      throw error;
    }
  }
}

/**
 * A webhook may subscribe only to event types its partner is allowed to hear of (WEBHOOK_EVENT_SCOPES): one
 * the partner lacks the scope for would never be delivered, so it is refused now rather than dropped
 * silently. A scope taken away later stops deliveries (docs/WEBHOOKS.md).
 */
function checkScopes(eventTypes: readonly string[], allowedScopes: readonly string[]): void {
  const missing = eventTypes.filter((type) => !allowedScopes.includes(webhookScopeFor(type)));
  if (missing.length) {
    throw BadUserInputError.field('eventTypes', `the partner may not receive ${missing.map((type) => `${type} (needs ${webhookScopeFor(type)})`).join(', ')}`);
  }
}
