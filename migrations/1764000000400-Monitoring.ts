import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Monitoring: events (partitioned by month, indexed for per-customer window aggregates), idempotency keys
 * in their own unpartitioned table, versioned rules, watchlists, rule hits, alerts, holds, notifications
 * and login locks.
 */
export class Monitoring1764000000400 implements MigrationInterface {
  name = 'Monitoring1764000000400';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE event (
        id uuid NOT NULL DEFAULT gen_random_uuid(),
        customer_id uuid NOT NULL,
        type text NOT NULL CHECK (type IN ('TRANSACTION','LOGIN','PROFILE_CHANGE','COMMUNICATION','VERIFICATION','PAYMENT','COMPLAINT')),
        source text NOT NULL,
        occurred_at timestamptz(3) NOT NULL,
        received_at timestamptz(3) NOT NULL DEFAULT now(),
        amount numeric(20,2),
        currency text,
        channel text,
        country text,
        device_id text,
        ip_address text,
        counterparty_ref text,
        content text,
        flags text[] NOT NULL DEFAULT '{}',
        attributes jsonb NOT NULL DEFAULT '{}'::jsonb,
        decision text NOT NULL DEFAULT 'ALLOW' CHECK (decision IN ('ALLOW','REVIEW','HOLD','BLOCK')),
        hold_status text CHECK (hold_status IN ('PENDING','RELEASED','REJECTED')),
        triggered_rule_ids uuid[] NOT NULL DEFAULT '{}',
        PRIMARY KEY (id, occurred_at)
      ) PARTITION BY RANGE (occurred_at)`);
    // Old or far-future months land in the default partition; the current window of months gets its own.
    await q.query(`CREATE TABLE event_default PARTITION OF event DEFAULT`);
    await q.query(`
      DO $$
      DECLARE m date := date_trunc('month', now() - interval '3 months')::date;
      BEGIN
        WHILE m < date_trunc('month', now() + interval '13 months')::date LOOP
          EXECUTE format('CREATE TABLE %I PARTITION OF event FOR VALUES FROM (%L) TO (%L)',
                         'event_' || to_char(m, 'YYYY_MM'), m, (m + interval '1 month')::date);
          m := (m + interval '1 month')::date;
        END LOOP;
      END $$`);
    // The aggregate index: every window of the rule language is (customer, type, time range).
    await q.query(`CREATE INDEX event_customer_type_time_idx ON event (customer_id, type, occurred_at) INCLUDE (amount, device_id)`);
    await q.query(`CREATE INDEX event_customer_time_idx ON event (customer_id, occurred_at)`);
    await q.query(`CREATE INDEX event_time_idx ON event (occurred_at, id)`);
    await q.query(`CREATE INDEX event_pending_hold_idx ON event (occurred_at, id) WHERE hold_status = 'PENDING'`);

    await q.query(`
      CREATE TABLE event_idempotency (
        source text NOT NULL,
        idempotency_key text NOT NULL,
        body_hash text NOT NULL,
        event_id uuid NOT NULL,
        occurred_at timestamptz(3) NOT NULL,
        created_at timestamptz(3) NOT NULL DEFAULT now(),
        PRIMARY KEY (source, idempotency_key)
      )`);

    await q.query(`
      CREATE TABLE rule (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        code text NOT NULL CHECK (code ~ '^[A-Z][A-Z0-9_]{1,63}$'),
        version int NOT NULL CHECK (version >= 1),
        name text NOT NULL,
        description text,
        event_types text[] NOT NULL,
        condition jsonb NOT NULL,
        severity text NOT NULL CHECK (severity IN ('LOW','MEDIUM','HIGH','CRITICAL')),
        actions text[] NOT NULL,
        mode text NOT NULL DEFAULT 'ENFORCE' CHECK (mode IN ('ENFORCE','SHADOW')),
        dedup_window text NOT NULL DEFAULT 'P1D',
        status text NOT NULL DEFAULT 'DRAFT' CHECK (status IN ('DRAFT','ACTIVE','RETIRED')),
        created_by uuid,
        created_at timestamptz(3) NOT NULL DEFAULT now(),
        updated_at timestamptz(3) NOT NULL DEFAULT now(),
        activated_at timestamptz(3),
        retired_at timestamptz(3),
        UNIQUE (code, version)
      )`);
    await q.query(`CREATE UNIQUE INDEX rule_one_active_per_code ON rule (code) WHERE status = 'ACTIVE'`);
    await q.query(`CREATE INDEX rule_created_idx ON rule (created_at, id)`);

    await q.query(`
      CREATE TABLE watchlist (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        code text NOT NULL UNIQUE CHECK (code ~ '^[A-Z][A-Z0-9_]{1,63}$'),
        name text NOT NULL,
        created_at timestamptz(3) NOT NULL DEFAULT now(),
        updated_at timestamptz(3) NOT NULL DEFAULT now()
      )`);
    await q.query(`
      CREATE TABLE watchlist_entry (
        watchlist_id uuid NOT NULL REFERENCES watchlist(id) ON DELETE CASCADE,
        value text NOT NULL,
        PRIMARY KEY (watchlist_id, value)
      )`);

    await q.query(`
      CREATE TABLE rule_hit (
        id bigserial PRIMARY KEY,
        rule_id uuid NOT NULL REFERENCES rule(id),
        event_id uuid NOT NULL,
        customer_id uuid NOT NULL,
        mode text NOT NULL,
        occurred_at timestamptz(3) NOT NULL,
        created_at timestamptz(3) NOT NULL DEFAULT now()
      )`);
    await q.query(`CREATE INDEX rule_hit_rule_idx ON rule_hit (rule_id, occurred_at)`);

    await q.query(`
      CREATE TABLE alert (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        kind text NOT NULL DEFAULT 'RULE' CHECK (kind IN ('RULE','SYSTEMIC','SLA_BREACH')),
        rule_id uuid REFERENCES rule(id),
        customer_id uuid,
        event_id uuid,
        severity text NOT NULL CHECK (severity IN ('LOW','MEDIUM','HIGH','CRITICAL')),
        status text NOT NULL DEFAULT 'OPEN' CHECK (status IN ('OPEN','INVESTIGATING','ESCALATED','CLOSED')),
        occurrences int NOT NULL DEFAULT 1 CHECK (occurrences >= 1),
        assignee_id uuid,
        disposition text CHECK (disposition IN ('TRUE_POSITIVE','FALSE_POSITIVE','INCONCLUSIVE')),
        first_seen_at timestamptz(3) NOT NULL,
        last_seen_at timestamptz(3) NOT NULL,
        closed_at timestamptz(3),
        created_at timestamptz(3) NOT NULL DEFAULT now(),
        updated_at timestamptz(3) NOT NULL DEFAULT now(),
        CHECK (status <> 'CLOSED' OR disposition IS NOT NULL)
      )`);
    await q.query(`CREATE INDEX alert_dedup_idx ON alert (rule_id, customer_id, last_seen_at) WHERE status <> 'CLOSED'`);
    await q.query(`CREATE INDEX alert_created_idx ON alert (created_at, id)`);
    await q.query(`CREATE INDEX alert_customer_idx ON alert (customer_id, created_at, id)`);
    await q.query(`CREATE INDEX alert_status_idx ON alert (status, created_at, id)`);

    await q.query(`
      CREATE TABLE alert_activity (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        alert_id uuid NOT NULL REFERENCES alert(id),
        actor_id uuid,
        from_status text,
        to_status text,
        note text,
        created_at timestamptz(3) NOT NULL DEFAULT now()
      )`);
    await q.query(`CREATE INDEX alert_activity_alert_idx ON alert_activity (alert_id, created_at, id)`);

    await q.query(`
      CREATE TABLE hold_action (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        event_id uuid NOT NULL,
        customer_id uuid NOT NULL,
        outcome text NOT NULL CHECK (outcome IN ('PLACED','RELEASED','REJECTED')),
        actor_id uuid,
        note text,
        created_at timestamptz(3) NOT NULL DEFAULT now()
      )`);
    await q.query(`CREATE INDEX hold_action_event_idx ON hold_action (event_id, created_at, id)`);

    await q.query(`
      CREATE TABLE notification (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        user_id uuid NOT NULL,
        kind text NOT NULL,
        title text NOT NULL,
        customer_id uuid,
        alert_id uuid,
        event_id uuid,
        read_at timestamptz(3),
        created_at timestamptz(3) NOT NULL DEFAULT now()
      )`);
    await q.query(`CREATE INDEX notification_user_idx ON notification (user_id, created_at, id)`);
    await q.query(`CREATE INDEX notification_unread_idx ON notification (user_id, created_at, id) WHERE read_at IS NULL`);

    await q.query(`
      CREATE TABLE login_lock (
        customer_id uuid PRIMARY KEY,
        locked_until timestamptz(3) NOT NULL,
        rule_id uuid,
        lifted_at timestamptz(3),
        lifted_by uuid
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    for (const table of ['login_lock', 'notification', 'hold_action', 'alert_activity', 'alert', 'rule_hit', 'watchlist_entry', 'watchlist', 'rule', 'event_idempotency', 'event']) {
      await q.query(`DROP TABLE IF EXISTS ${table}`);
    }
  }
}
