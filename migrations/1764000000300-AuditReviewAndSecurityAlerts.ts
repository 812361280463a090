import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Reviewer-side audit: indexes for the reviewer filters and the detectors, security alerts, and the state
 * the alert detector keeps (its cursor on the audit stream, the networks each partner token has used).
 */
export class AuditReviewAndSecurityAlerts1764000000300 implements MigrationInterface {
  name = 'AuditReviewAndSecurityAlerts1764000000300';

  async up(q: QueryRunner): Promise<void> {
    // Ids are now assigned under the sequencer lock as head + 1, so a rolled-back append leaves no gap and
    // a gap always means a removed row. The sequence is no longer used.
    await q.query(`DROP SEQUENCE IF EXISTS audit_entry_id_seq`);
    // Full-value PII reads per actor in a time window (spike detector) and per customer (access report).
    await q.query(`CREATE INDEX audit_entry_pii_read_idx ON audit_entry (actor_id, occurred_at) INCLUDE (customer_id)
                     WHERE action = 'customer.read_pii'`);
    await q.query(`CREATE INDEX audit_entry_denied_idx ON audit_entry (actor_id, occurred_at) INCLUDE (request_id)
                     WHERE outcome = 'DENIED'`);
    await q.query(`CREATE INDEX audit_entry_partner_idx ON audit_entry (partner_id, id) WHERE partner_id IS NOT NULL`);

    await q.query(`
      CREATE TABLE security_alert (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        kind text NOT NULL CHECK (kind IN ('PII_READ_SPIKE','DENIED_BURST','TOKEN_NEW_NETWORK','CHAIN_INVALID')),
        dedup_key text NOT NULL,
        actor_type text CHECK (actor_type IN ('USER','PARTNER','SYSTEM','ANONYMOUS')),
        actor_id text,
        partner_id uuid,
        detail jsonb NOT NULL DEFAULT '{}'::jsonb,
        status text NOT NULL DEFAULT 'OPEN' CHECK (status IN ('OPEN','ACKNOWLEDGED','CLOSED')),
        created_at timestamptz(3) NOT NULL DEFAULT now(),
        updated_at timestamptz(3) NOT NULL DEFAULT now(),
        status_changed_by uuid
      )`);
    await q.query(`CREATE INDEX security_alert_created_idx ON security_alert (created_at, id)`);
    await q.query(`CREATE INDEX security_alert_open_idx ON security_alert (kind, dedup_key, created_at) WHERE status = 'OPEN'`);

    // One row per detector: the last audit id it has processed. Locked FOR UPDATE while a batch is processed,
    // so with several instances exactly one processes each entry.
    await q.query(`CREATE TABLE audit_detector_cursor (name text PRIMARY KEY, last_id bigint NOT NULL CHECK (last_id >= 0))`);
    // Start at the current head: history written before the detector existed raises nothing retroactively.
    await q.query(`INSERT INTO audit_detector_cursor (name, last_id)
                     VALUES ('security_alerts', COALESCE((SELECT max(id) FROM audit_entry), 0))`);

    // Networks (/24 or /48) each partner token has been used from; the first ever is the baseline.
    await q.query(`
      CREATE TABLE audit_token_network (
        token_id text NOT NULL,
        network text NOT NULL,
        first_seen_at timestamptz(3) NOT NULL,
        first_entry_id bigint NOT NULL,
        PRIMARY KEY (token_id, network)
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE IF EXISTS audit_token_network`);
    await q.query(`DROP TABLE IF EXISTS audit_detector_cursor`);
    await q.query(`DROP TABLE IF EXISTS security_alert`);
    await q.query(`DROP INDEX IF EXISTS audit_entry_partner_idx`);
    await q.query(`DROP INDEX IF EXISTS audit_entry_denied_idx`);
    await q.query(`DROP INDEX IF EXISTS audit_entry_pii_read_idx`);
    await q.query(`CREATE SEQUENCE IF NOT EXISTS audit_entry_id_seq AS bigint OWNED BY audit_entry.id`);
    await q.query(`SELECT setval('audit_entry_id_seq', COALESCE((SELECT max(id) FROM audit_entry), 0) + 1, false)`);
  }
}
