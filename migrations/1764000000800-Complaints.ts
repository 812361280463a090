import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Complaints: the complaint itself (free text encrypted under the customer's data key, SLA deadlines fixed
 * at intake), its timeline (one row per change, notes encrypted the same way), and the running category
 * spikes that keep a SYSTEMIC alert from being raised once per complaint.
 */
export class Complaints1764000000800 implements MigrationInterface {
  name = 'Complaints1764000000800';

  async up(q: QueryRunner): Promise<void> {
    const statuses = `('RECEIVED','ACKNOWLEDGED','INVESTIGATING','RESOLVED','REOPENED','CLOSED')`;
    await q.query(`
      CREATE TABLE complaint (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        customer_id uuid NOT NULL REFERENCES customer(id),
        channel text NOT NULL CHECK (channel IN ('PHONE','EMAIL','ONLINE','IN_PERSON','SOCIAL','PARTNER')),
        -- A code from the configurable list (ComplaintSettings); the format is all the database can know.
        category text NOT NULL CHECK (category ~ '^[A-Z][A-Z0-9_]{1,63}$'),
        severity text NOT NULL CHECK (severity IN ('LOW','MEDIUM','HIGH','CRITICAL')),
        subject text NOT NULL CHECK (length(subject) BETWEEN 1 AND 200),
        -- Ciphertexts (AES-256-GCM under the customer's data key, AAD = table, column, id).
        description text,
        resolution_summary text,
        feedback_comment text,
        status text NOT NULL DEFAULT 'RECEIVED' CHECK (status IN ${statuses}),
        assignee_id uuid REFERENCES app_user(id),
        filed_by_user_id uuid REFERENCES app_user(id),
        filed_by_partner_id uuid REFERENCES partner(id),
        received_at timestamptz(3) NOT NULL DEFAULT now(),
        acknowledge_by timestamptz(3) NOT NULL,
        resolve_by timestamptz(3) NOT NULL,
        acknowledged_at timestamptz(3),
        resolved_at timestamptz(3),
        closed_at timestamptz(3),
        escalated boolean NOT NULL DEFAULT false,
        escalated_at timestamptz(3),
        -- Which deadline the SLA sweep already reported: each breach escalates exactly once.
        acknowledge_breached_at timestamptz(3),
        resolve_breached_at timestamptz(3),
        remedy text CHECK (remedy IN ('REFUND','REPLACEMENT','COMPENSATION','APOLOGY','NONE')),
        remedy_amount numeric(20,2) CHECK (remedy_amount >= 0),
        satisfaction int CHECK (satisfaction BETWEEN 1 AND 5),
        feedback_at timestamptz(3),
        reopen_count int NOT NULL DEFAULT 0 CHECK (reopen_count >= 0),
        created_at timestamptz(3) NOT NULL DEFAULT now(),
        updated_at timestamptz(3) NOT NULL DEFAULT now(),
        CHECK (num_nonnulls(filed_by_user_id, filed_by_partner_id) = 1),
        CHECK (acknowledge_by > received_at AND resolve_by >= acknowledge_by),
        CHECK (escalated = (escalated_at IS NOT NULL)),
        CHECK (status <> 'CLOSED' OR closed_at IS NOT NULL)
      )`);
    // Lists (newest first, keyset on received_at, id), Customer.complaints, partner scope, stats by period.
    await q.query(`CREATE INDEX complaint_received_idx ON complaint (received_at, id)`);
    await q.query(`CREATE INDEX complaint_customer_idx ON complaint (customer_id, received_at, id)`);
    await q.query(`CREATE INDEX complaint_partner_idx ON complaint (filed_by_partner_id, received_at, id) WHERE filed_by_partner_id IS NOT NULL`);
    await q.query(`CREATE INDEX complaint_status_idx ON complaint (status, received_at, id)`);
    // The spike check counts one category over the last eight days on every filing.
    await q.query(`CREATE INDEX complaint_category_idx ON complaint (category, received_at)`);
    // The SLA sweep: deadlines not yet reported, of complaints still short of the state the deadline asks for.
    await q.query(`CREATE INDEX complaint_ack_due_idx ON complaint (acknowledge_by) WHERE status = 'RECEIVED' AND acknowledge_breached_at IS NULL`);
    await q.query(`CREATE INDEX complaint_resolve_due_idx ON complaint (resolve_by) WHERE status NOT IN ('RESOLVED','CLOSED') AND resolve_breached_at IS NULL`);

    await q.query(`
      CREATE TABLE complaint_activity (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        complaint_id uuid NOT NULL REFERENCES complaint(id),
        kind text NOT NULL CHECK (kind IN ('FILED','ACKNOWLEDGED','ASSIGNED','INVESTIGATION_STARTED','NOTE_ADDED','RESOLVED','FEEDBACK_RECORDED','REOPENED','CLOSED','ESCALATED')),
        actor_type text NOT NULL CHECK (actor_type IN ('USER','PARTNER','SYSTEM')),
        actor_id uuid,
        from_status text CHECK (from_status IN ${statuses}),
        to_status text CHECK (to_status IN ${statuses}),
        -- Ciphertext under the customer's data key (notes, reopen reasons); never in the audit log.
        note text,
        -- Non-PII facts of the change (assignee id, satisfaction, remedy, missed deadline, alert id).
        detail jsonb NOT NULL DEFAULT '{}'::jsonb,
        -- clock_timestamp(): several changes in one transaction keep their order.
        created_at timestamptz(3) NOT NULL DEFAULT clock_timestamp()
      )`);
    await q.query(`CREATE INDEX complaint_activity_complaint_idx ON complaint_activity (complaint_id, created_at, id)`);

    await q.query(`
      CREATE TABLE complaint_spike (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        category text NOT NULL,
        alert_id uuid NOT NULL,
        started_at timestamptz(3) NOT NULL,
        last_seen_at timestamptz(3) NOT NULL,
        peak_count int NOT NULL CHECK (peak_count >= 1),
        trailing_daily_average numeric(12,4) NOT NULL,
        complaints int NOT NULL DEFAULT 1 CHECK (complaints >= 1)
      )`);
    await q.query(`CREATE INDEX complaint_spike_category_idx ON complaint_spike (category, last_seen_at)`);
  }

  async down(q: QueryRunner): Promise<void> {
    for (const table of ['complaint_spike', 'complaint_activity', 'complaint']) await q.query(`DROP TABLE IF EXISTS ${table}`);
  }
}
