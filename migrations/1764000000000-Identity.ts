import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Staff users, sign-in challenges, sessions with rotating refresh tokens, recovery codes, sign-in failure
 * log (lockout), partners, partner tokens and assessments. Secrets are stored only as digests or ciphertext.
 */
export class Identity1764000000000 implements MigrationInterface {
  name = 'Identity1764000000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE app_user (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        email text NOT NULL CHECK (length(email) BETWEEN 3 AND 254),
        email_normalized text NOT NULL UNIQUE,
        display_name text NOT NULL CHECK (length(display_name) BETWEEN 1 AND 100),
        role text NOT NULL CHECK (role IN ('ADMIN','COMPLIANCE_OFFICER','ANALYST','AGENT','ACCOUNT_MANAGER','AUDITOR')),
        password_hash text NOT NULL,
        password_change_required boolean NOT NULL DEFAULT false,
        data_key text NOT NULL,
        totp_secret text,
        totp_last_step bigint,
        totp_enrolled_at timestamptz(3),
        disabled_at timestamptz(3),
        created_at timestamptz(3) NOT NULL DEFAULT now(),
        updated_at timestamptz(3) NOT NULL DEFAULT now()
      )`);
    await q.query(`CREATE INDEX app_user_role_idx ON app_user (role, created_at, id)`);
    await q.query(`CREATE INDEX app_user_created_idx ON app_user (created_at, id)`);

    await q.query(`
      CREATE TABLE recovery_code (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        user_id uuid NOT NULL REFERENCES app_user(id) ON DELETE CASCADE,
        code_digest text NOT NULL,
        used_at timestamptz(3),
        created_at timestamptz(3) NOT NULL DEFAULT now(),
        UNIQUE (user_id, code_digest)
      )`);

    await q.query(`
      CREATE TABLE sign_in_challenge (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        user_id uuid NOT NULL REFERENCES app_user(id) ON DELETE CASCADE,
        token_digest text NOT NULL UNIQUE,
        next text NOT NULL CHECK (next IN ('PASSWORD_CHANGE_REQUIRED','ENROLLMENT_REQUIRED','TOTP_REQUIRED')),
        pending_totp_secret text,
        failed_attempts int NOT NULL DEFAULT 0 CHECK (failed_attempts >= 0),
        expires_at timestamptz(3) NOT NULL,
        consumed_at timestamptz(3),
        created_at timestamptz(3) NOT NULL DEFAULT now()
      )`);
    await q.query(`CREATE INDEX sign_in_challenge_user_idx ON sign_in_challenge (user_id)`);

    await q.query(`
      CREATE TABLE auth_session (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        user_id uuid NOT NULL REFERENCES app_user(id) ON DELETE CASCADE,
        ip text,
        user_agent text,
        step_up_until timestamptz(3),
        expires_at timestamptz(3) NOT NULL,
        revoked_at timestamptz(3),
        revoke_reason text,
        created_at timestamptz(3) NOT NULL DEFAULT now()
      )`);
    await q.query(`CREATE INDEX auth_session_user_active_idx ON auth_session (user_id) WHERE revoked_at IS NULL`);

    await q.query(`
      CREATE TABLE refresh_token (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        session_id uuid NOT NULL REFERENCES auth_session(id) ON DELETE CASCADE,
        token_digest text NOT NULL UNIQUE,
        used_at timestamptz(3),
        created_at timestamptz(3) NOT NULL DEFAULT now()
      )`);
    await q.query(`CREATE INDEX refresh_token_session_idx ON refresh_token (session_id)`);

    // Failed password / TOTP / recovery / step-up attempts: the lockout and per-IP throttle count these rows.
    await q.query(`
      CREATE TABLE sign_in_failure (
        id bigserial PRIMARY KEY,
        email_normalized text NOT NULL,
        ip text,
        kind text NOT NULL CHECK (kind IN ('PASSWORD','TOTP','RECOVERY_CODE','STEP_UP')),
        occurred_at timestamptz(3) NOT NULL DEFAULT now()
      )`);
    await q.query(`CREATE INDEX sign_in_failure_email_idx ON sign_in_failure (email_normalized, occurred_at)`);
    await q.query(`CREATE INDEX sign_in_failure_ip_idx ON sign_in_failure (ip, occurred_at)`);

    await q.query(`
      CREATE TABLE partner (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
        contact_email text NOT NULL,
        trust_level text NOT NULL CHECK (trust_level IN ('EXTERNAL','INTERNAL')),
        allowed_scopes text[] NOT NULL DEFAULT '{}',
        events_per_minute int CHECK (events_per_minute IS NULL OR events_per_minute > 0),
        agreement_signed_at timestamptz(3) NOT NULL,
        agreement_expires_at timestamptz(3) NOT NULL,
        suspended_at timestamptz(3),
        suspended_reason text,
        created_at timestamptz(3) NOT NULL DEFAULT now(),
        updated_at timestamptz(3) NOT NULL DEFAULT now(),
        CHECK (agreement_expires_at > agreement_signed_at)
      )`);
    await q.query(`CREATE UNIQUE INDEX partner_name_uq ON partner (lower(name))`);
    await q.query(`CREATE INDEX partner_created_idx ON partner (created_at, id)`);

    await q.query(`
      CREATE TABLE partner_token (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        partner_id uuid NOT NULL REFERENCES partner(id) ON DELETE CASCADE,
        name text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
        token_digest text NOT NULL UNIQUE,
        token_prefix text NOT NULL,
        scopes text[] NOT NULL,
        expires_at timestamptz(3) NOT NULL,
        revoked_at timestamptz(3),
        last_used_at timestamptz(3),
        last_used_ip text,
        created_by uuid REFERENCES app_user(id),
        created_at timestamptz(3) NOT NULL DEFAULT now()
      )`);
    await q.query(`CREATE INDEX partner_token_partner_idx ON partner_token (partner_id, created_at, id)`);

    await q.query(`
      CREATE TABLE partner_assessment (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        partner_id uuid NOT NULL REFERENCES partner(id) ON DELETE CASCADE,
        result text NOT NULL CHECK (result IN ('PASS','CONDITIONAL','FAIL')),
        notes text,
        next_due_at timestamptz(3),
        assessed_by uuid REFERENCES app_user(id),
        assessed_at timestamptz(3) NOT NULL DEFAULT now()
      )`);
    await q.query(`CREATE INDEX partner_assessment_partner_idx ON partner_assessment (partner_id, assessed_at DESC)`);
  }

  async down(q: QueryRunner): Promise<void> {
    for (const table of ['partner_assessment', 'partner_token', 'partner', 'sign_in_failure', 'refresh_token', 'auth_session', 'sign_in_challenge', 'recovery_code', 'app_user']) {
      await q.query(`DROP TABLE IF EXISTS ${table}`);
    }
  }
}
