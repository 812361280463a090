import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Risk and early warning (monitoring): the history of a customer's risk score (a row only when the score
 * or level changes), the history of credit assessments, and early warnings — at most one OPEN warning per
 * customer and type (a partial unique index the writers upsert against).
 *
 * The current values stay on the customer row (`risk_score`, `risk_level`, `risk_factors`, `credit_*`),
 * which the customers module owns and writes; these tables only keep what happened over time.
 */
export class Risk1764000000700 implements MigrationInterface {
  name = 'Risk1764000000700';

  async up(q: QueryRunner): Promise<void> {
    const levels = `('LOW','MEDIUM','HIGH','CRITICAL')`;
    await q.query(`
      CREATE TABLE customer_risk_history (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        customer_id uuid NOT NULL REFERENCES customer(id),
        score int NOT NULL CHECK (score BETWEEN 0 AND 100),
        level text NOT NULL CHECK (level IN ${levels}),
        previous_score int CHECK (previous_score BETWEEN 0 AND 100),
        previous_level text CHECK (previous_level IN ${levels}),
        factors jsonb NOT NULL DEFAULT '[]'::jsonb,
        reason text NOT NULL CHECK (length(reason) BETWEEN 1 AND 100),
        -- clock_timestamp(), not now(): several recomputes in one transaction keep their order.
        computed_at timestamptz(3) NOT NULL DEFAULT clock_timestamp()
      )`);
    // Customer.riskHistory: newest first, keyset on (computed_at, id), batched per customer.
    await q.query(`CREATE INDEX customer_risk_history_customer_idx ON customer_risk_history (customer_id, computed_at, id)`);

    await q.query(`
      CREATE TABLE customer_credit_history (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        customer_id uuid NOT NULL REFERENCES customer(id),
        score int NOT NULL CHECK (score BETWEEN 300 AND 850),
        level text NOT NULL CHECK (level IN ${levels}),
        credit_limit numeric(20,2) NOT NULL CHECK (credit_limit >= 0),
        previous_score int,
        previous_level text CHECK (previous_level IN ${levels}),
        source text NOT NULL CHECK (length(source) BETWEEN 1 AND 100),
        actor_type text NOT NULL,
        actor_id text,
        recorded_at timestamptz(3) NOT NULL DEFAULT clock_timestamp()
      )`);
    await q.query(`CREATE INDEX customer_credit_history_customer_idx ON customer_credit_history (customer_id, recorded_at, id)`);

    await q.query(`
      CREATE TABLE early_warning (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        customer_id uuid NOT NULL REFERENCES customer(id),
        type text NOT NULL CHECK (type IN ('CREDIT_DETERIORATION','CHURN_RISK','LOW_SATISFACTION','RISK_ESCALATION')),
        status text NOT NULL DEFAULT 'OPEN' CHECK (status IN ('OPEN','RESOLVED')),
        detail jsonb NOT NULL DEFAULT '{}'::jsonb,
        occurrences int NOT NULL DEFAULT 1 CHECK (occurrences >= 1),
        created_at timestamptz(3) NOT NULL DEFAULT clock_timestamp(),
        updated_at timestamptz(3) NOT NULL DEFAULT clock_timestamp(),
        resolved_at timestamptz(3),
        CHECK ((status = 'RESOLVED') = (resolved_at IS NOT NULL))
      )`);
    // De-duplication: one OPEN warning per customer and type; a repeat updates it (occurrences, detail).
    await q.query(`CREATE UNIQUE INDEX early_warning_open_uq ON early_warning (customer_id, type) WHERE status = 'OPEN'`);
    // earlyWarnings(filter): newest first, optionally by type.
    await q.query(`CREATE INDEX early_warning_created_idx ON early_warning (created_at, id)`);
    await q.query(`CREATE INDEX early_warning_type_idx ON early_warning (type, created_at, id)`);
    await q.query(`CREATE INDEX early_warning_customer_idx ON early_warning (customer_id, created_at, id)`);
  }

  async down(q: QueryRunner): Promise<void> {
    for (const table of ['early_warning', 'customer_credit_history', 'customer_risk_history']) {
      await q.query(`DROP TABLE IF EXISTS ${table}`);
    }
  }
}
