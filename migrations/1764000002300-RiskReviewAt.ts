import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * A stored risk score counted true positives and complaints of the last 90 days, but nothing recomputed it
 * when one of them left that window: the score stayed high until the customer's next alert, complaint or
 * assessment. `risk_review_at` is when the earliest windowed input of the stored score expires; the hourly
 * refresh recomputes customers whose time has come. Existing scores with such inputs are reviewed at the
 * next refresh (the partial index keeps the refresh's look-up to those rows).
 */
export class RiskReviewAt1764000002300 implements MigrationInterface {
  name = 'RiskReviewAt1764000002300';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE customer ADD COLUMN risk_review_at timestamptz(3)`);
    await q.query(`CREATE INDEX customer_risk_review_idx ON customer (risk_review_at) WHERE risk_review_at IS NOT NULL`);
    await q.query(
      `UPDATE customer SET risk_review_at = now()
        WHERE EXISTS (SELECT 1 FROM jsonb_array_elements(risk_factors) f WHERE f->>'factor' IN ('CONFIRMED_TRUE_POSITIVES', 'COMPLAINTS'))`,
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX customer_risk_review_idx`);
    await q.query(`ALTER TABLE customer DROP COLUMN risk_review_at`);
  }
}
