import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Partner webhooks: the subscriptions (secret encrypted under a per-webhook data key), the transactional
 * outbox written in the same transaction as the change it reports, and the delivery log (one row per
 * attempt). The job queue that carries the attempts (pg-boss) installs and migrates its own `pgboss`
 * schema when the application starts; it is not part of these migrations.
 */
export class Webhooks1764000000600 implements MigrationInterface {
  name = 'Webhooks1764000000600';

  async up(q: QueryRunner): Promise<void> {
    const eventTypes = `ARRAY['alert.raised','hold.placed','hold.resolved','complaint.updated','customer.status_changed']::text[]`;
    await q.query(`
      CREATE TABLE webhook (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        partner_id uuid NOT NULL REFERENCES partner(id) ON DELETE CASCADE,
        url text NOT NULL CHECK (length(url) BETWEEN 1 AND 2048 AND url ~ '^https?://'),
        event_types text[] NOT NULL CHECK (cardinality(event_types) >= 1 AND event_types <@ ${eventTypes}),
        secret_enc text,
        data_key text,
        active boolean NOT NULL DEFAULT true,
        created_by uuid REFERENCES app_user(id),
        created_at timestamptz(3) NOT NULL DEFAULT now(),
        updated_at timestamptz(3) NOT NULL DEFAULT now(),
        deleted_at timestamptz(3),
        -- A live webhook can sign; a deleted one has had its secret and key destroyed.
        CHECK (deleted_at IS NOT NULL OR (secret_enc IS NOT NULL AND data_key IS NOT NULL)),
        CHECK (deleted_at IS NULL OR NOT active)
      )`);
    // Serves both the admin list and the ingest hot path (a partner's live webhooks for one event type).
    await q.query(`CREATE INDEX webhook_partner_idx ON webhook (partner_id, created_at, id) WHERE deleted_at IS NULL`);
    await q.query(`CREATE INDEX webhook_created_idx ON webhook (created_at, id) WHERE deleted_at IS NULL`);

    await q.query(`
      CREATE TABLE webhook_outbox (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        webhook_id uuid NOT NULL REFERENCES webhook(id) ON DELETE CASCADE,
        event_type text NOT NULL CHECK (event_type = ANY (${eventTypes})),
        payload jsonb NOT NULL,
        status text NOT NULL DEFAULT 'PENDING' CHECK (status IN ('PENDING','DELIVERED','DEAD')),
        attempts int NOT NULL DEFAULT 0 CHECK (attempts >= 0),
        next_attempt_at timestamptz(3) NOT NULL DEFAULT now(),
        locked_until timestamptz(3),
        last_status_code int,
        last_error text,
        delivered_at timestamptz(3),
        created_at timestamptz(3) NOT NULL DEFAULT now(),
        updated_at timestamptz(3) NOT NULL DEFAULT now(),
        CHECK ((status = 'DELIVERED') = (delivered_at IS NOT NULL))
      )`);
    // The sweeper's scan: PENDING rows whose attempt is overdue.
    await q.query(`CREATE INDEX webhook_outbox_due_idx ON webhook_outbox (next_attempt_at) WHERE status = 'PENDING'`);
    await q.query(`CREATE INDEX webhook_outbox_webhook_idx ON webhook_outbox (webhook_id, status)`);

    await q.query(`
      CREATE TABLE webhook_delivery (
        id bigserial PRIMARY KEY,
        outbox_id uuid NOT NULL REFERENCES webhook_outbox(id) ON DELETE CASCADE,
        webhook_id uuid NOT NULL REFERENCES webhook(id) ON DELETE CASCADE,
        event_type text NOT NULL,
        attempt int NOT NULL CHECK (attempt >= 1),
        status text NOT NULL CHECK (status IN ('DELIVERED','FAILED','DEAD')),
        status_code int,
        error text,
        duration_ms int NOT NULL CHECK (duration_ms >= 0),
        created_at timestamptz(3) NOT NULL DEFAULT now()
      )`);
    // Not unique per (outbox_id, attempt): an operator may re-queue a dead message, which starts a new series.
    await q.query(`CREATE INDEX webhook_delivery_outbox_idx ON webhook_delivery (outbox_id, attempt)`);
    await q.query(`CREATE INDEX webhook_delivery_webhook_idx ON webhook_delivery (webhook_id, id)`);
  }

  async down(q: QueryRunner): Promise<void> {
    for (const table of ['webhook_delivery', 'webhook_outbox', 'webhook']) {
      await q.query(`DROP TABLE IF EXISTS ${table}`);
    }
  }
}
