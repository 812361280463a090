import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Customer verification: one row per one-time-code challenge (SMS_OTP, EMAIL_OTP) or external result
 * (DOCUMENT, BIOMETRIC). A challenge keeps only the keyed digest of its code, never the code; an external
 * result keeps the provider's reference, never a document or an image.
 */
export class Verification1764000000900 implements MigrationInterface {
  name = 'Verification1764000000900';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE customer_verification (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        customer_id uuid NOT NULL REFERENCES customer(id),
        method text NOT NULL CHECK (method IN ('SMS_OTP','EMAIL_OTP','DOCUMENT','BIOMETRIC')),
        -- PENDING while a challenge is live; the rest are final.
        status text NOT NULL CHECK (status IN ('PENDING','PASSED','FAILED','REVIEW','EXPIRED','LOCKED','SUPERSEDED')),
        -- The decisive outcome that verification levels are computed from (NULL: none yet, or not decisive).
        result text CHECK (result IN ('PASSED','FAILED','REVIEW')),
        provider text CHECK (length(provider) BETWEEN 1 AND 100),
        score numeric(7,3) CHECK (score BETWEEN 0 AND 100),
        reference text CHECK (length(reference) BETWEEN 1 AND 200),
        -- HMAC-SHA-256 (TOKEN_SECRET-keyed) of (id, code): 64 hex characters, never the code.
        code_digest text CHECK (code_digest ~ '^[0-9a-f]{64}$'),
        attempts int NOT NULL DEFAULT 0 CHECK (attempts BETWEEN 0 AND 1000),
        max_attempts int,
        expires_at timestamptz(3),
        completed_at timestamptz(3),
        actor_type text NOT NULL CHECK (actor_type IN ('USER','PARTNER')),
        created_by_user_id uuid REFERENCES app_user(id),
        created_by_partner_id uuid REFERENCES partner(id),
        created_at timestamptz(3) NOT NULL DEFAULT now(),
        updated_at timestamptz(3) NOT NULL DEFAULT now(),
        CHECK (num_nonnulls(created_by_user_id, created_by_partner_id) = 1),
        -- A challenge has a digest, an expiry and an attempt budget; an external result has none of them.
        CHECK (
          (method IN ('SMS_OTP','EMAIL_OTP') AND code_digest IS NOT NULL AND expires_at IS NOT NULL AND max_attempts IS NOT NULL
             AND provider IS NULL AND reference IS NULL AND score IS NULL)
          OR (method IN ('DOCUMENT','BIOMETRIC') AND code_digest IS NULL AND expires_at IS NULL AND provider IS NOT NULL
             AND result IS NOT NULL AND status = result)
        )
      )`);
    // Customer.verifications (newest first, keyset on created_at, id) and the level recompute.
    await q.query(`CREATE INDEX customer_verification_customer_idx ON customer_verification (customer_id, created_at, id)`);
    // A new start supersedes the live challenge of the same customer and method.
    await q.query(`CREATE INDEX customer_verification_live_idx ON customer_verification (customer_id, method) WHERE status = 'PENDING'`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE IF EXISTS customer_verification`);
  }
}
