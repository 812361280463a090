import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Customers with PII encrypted in the application (AES-256-GCM under a per-customer data key) and blind
 * indexes for exact lookup; consent and profile-change history (field names only, never values).
 */
export class Customers1764000000200 implements MigrationInterface {
  name = 'Customers1764000000200';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE customer (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        external_ref text NOT NULL CHECK (length(external_ref) BETWEEN 1 AND 100),
        status text NOT NULL DEFAULT 'ACTIVE' CHECK (status IN ('ACTIVE','RESTRICTED','SUSPENDED','TERMINATED','ERASED')),
        lifecycle_stage text NOT NULL DEFAULT 'ONBOARDING' CHECK (lifecycle_stage IN ('PROSPECT','ONBOARDING','ACTIVE','DORMANT','CHURNED')),
        verification_level text NOT NULL DEFAULT 'NONE' CHECK (verification_level IN ('NONE','BASIC','VERIFIED','ENHANCED')),
        data_key text,
        full_name text,
        email text,
        phone text,
        national_id text,
        date_of_birth text,
        address text,
        email_bidx text,
        phone_bidx text,
        national_id_bidx text,
        account_manager_id uuid REFERENCES app_user(id),
        onboarded_by_partner_id uuid REFERENCES partner(id),
        created_by_user_id uuid REFERENCES app_user(id),
        risk_score int NOT NULL DEFAULT 0 CHECK (risk_score BETWEEN 0 AND 100),
        risk_level text NOT NULL DEFAULT 'LOW' CHECK (risk_level IN ('LOW','MEDIUM','HIGH','CRITICAL')),
        risk_factors jsonb NOT NULL DEFAULT '[]'::jsonb,
        credit_score int,
        credit_level text CHECK (credit_level IN ('LOW','MEDIUM','HIGH','CRITICAL')),
        credit_limit numeric(20,2) CHECK (credit_limit >= 0),
        transaction_limit numeric(20,2) CHECK (transaction_limit >= 0),
        daily_limit numeric(20,2) CHECK (daily_limit >= 0),
        erased_at timestamptz(3),
        created_at timestamptz(3) NOT NULL DEFAULT now(),
        updated_at timestamptz(3) NOT NULL DEFAULT now(),
        -- An erased customer keeps no key, no PII and no index (crypto-shredding).
        CHECK (status <> 'ERASED' OR (data_key IS NULL AND full_name IS NULL AND email IS NULL AND phone IS NULL
               AND national_id IS NULL AND date_of_birth IS NULL AND address IS NULL
               AND email_bidx IS NULL AND phone_bidx IS NULL AND national_id_bidx IS NULL)),
        CHECK (status = 'ERASED' OR data_key IS NOT NULL)
      )`);
    await q.query(`CREATE UNIQUE INDEX customer_external_ref_uq ON customer (external_ref)`);
    await q.query(`CREATE INDEX customer_created_idx ON customer (created_at, id)`);
    await q.query(`CREATE INDEX customer_updated_idx ON customer (updated_at, id)`);
    await q.query(`CREATE INDEX customer_risk_idx ON customer (risk_score, id)`);
    await q.query(`CREATE INDEX customer_email_bidx_idx ON customer (email_bidx) WHERE email_bidx IS NOT NULL`);
    await q.query(`CREATE INDEX customer_phone_bidx_idx ON customer (phone_bidx) WHERE phone_bidx IS NOT NULL`);
    await q.query(`CREATE INDEX customer_national_id_bidx_idx ON customer (national_id_bidx) WHERE national_id_bidx IS NOT NULL`);
    await q.query(`CREATE INDEX customer_manager_idx ON customer (account_manager_id, created_at, id)`);
    await q.query(`CREATE INDEX customer_partner_idx ON customer (onboarded_by_partner_id, created_at, id)`);
    await q.query(`CREATE INDEX customer_status_idx ON customer (status)`);
    await q.query(`CREATE INDEX customer_data_key_version_idx ON customer ((split_part(data_key, ':', 1))) WHERE data_key IS NOT NULL`);

    await q.query(`
      CREATE TABLE customer_consent (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        customer_id uuid NOT NULL REFERENCES customer(id),
        purpose text NOT NULL CHECK (length(purpose) BETWEEN 1 AND 100),
        granted boolean NOT NULL,
        actor_type text NOT NULL,
        actor_id text,
        recorded_at timestamptz(3) NOT NULL DEFAULT now()
      )`);
    await q.query(`CREATE INDEX customer_consent_customer_idx ON customer_consent (customer_id, recorded_at, id)`);

    await q.query(`
      CREATE TABLE customer_profile_change (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        customer_id uuid NOT NULL REFERENCES customer(id),
        fields text[] NOT NULL,
        actor_type text NOT NULL,
        actor_id text,
        changed_at timestamptz(3) NOT NULL DEFAULT now()
      )`);
    await q.query(`CREATE INDEX customer_profile_change_customer_idx ON customer_profile_change (customer_id, changed_at, id)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE IF EXISTS customer_profile_change`);
    await q.query(`DROP TABLE IF EXISTS customer_consent`);
    await q.query(`DROP TABLE IF EXISTS customer`);
  }
}
