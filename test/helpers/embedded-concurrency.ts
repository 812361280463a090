/**
 * Child-process half of the embedded-database concurrency test (PGlite cannot load inside jest's sandbox):
 * a fresh embedded database driven through 10 connections at once with parameterised statements, every
 * fifth one large enough (300 kB) to arrive in several TCP packets. Prints one JSON line: errors and wrong
 * answers seen.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Pool } from 'pg';
import { startEmbeddedPostgres } from '../../src/database/embedded-postgres';

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'custos-pglite-conc-'));
  const embedded = await startEmbeddedPostgres(dir);
  const pool = new Pool({ connectionString: embedded.url, max: 10 });
  const errors: string[] = [];
  let wrong = 0;
  const big = 'x'.repeat(300_000);
  try {
    await Promise.all(
      Array.from({ length: 600 }, async (_, i) => {
        try {
          if (i % 5 === 0) {
            const { rows } = await pool.query('SELECT length($1::text) AS len, $2::int AS i', [big + i, i]);
            if (rows[0].len !== big.length + String(i).length || rows[0].i !== i) wrong++;
          } else {
            const { rows } = await pool.query('SELECT $1::int + 1 AS next', [i]);
            if (rows[0].next !== i + 1) wrong++;
          }
        } catch (error) {
          errors.push((error as Error).message);
        }
      }),
    );
  } finally {
    await pool.end();
    await embedded.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  process.stdout.write(`${JSON.stringify({ errors: [...new Set(errors)].slice(0, 5), errorCount: errors.length, wrong })}\n`);
}
void main();
