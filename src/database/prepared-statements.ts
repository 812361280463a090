import { createHash } from 'node:crypto';
import { DatabaseError } from 'pg';
import { PipeliningClient } from './pipelining-client';

/**
 * Named statements a connection keeps at most. Past it, new texts run unnamed (parsed and planned on each
 * execution, as without this module): a bound on the server's memory whatever SQL is sent, such as
 * `IN ($1, …, $n)` lists of every length. A text is named from its second use on the connection, so
 * one-off texts (a list query with a rare combination of filters) take no slot: the slots go to the
 * statements that repeat.
 */
export const MAX_PREPARED_PER_CONNECTION = 200;
/** Texts a connection remembers having sent once, unnamed (cleared when full: they then wait one use more). */
const SEEN_ONCE_LIMIT = 1000;

/** Connections are replaced after this long, so texts nobody sends any more (old rule sets) do not stay. */
export const PREPARED_CONNECTION_LIFETIME_SECONDS = 3600;

/**
 * A name for a statement text: a digest, so every connection and instance names a text alike. Computed when
 * a connection names a text (at most MAX_PREPARED_PER_CONNECTION times), so it needs no cache.
 */
export function statementName(text: string): string {
  return `custos_${createHash('sha256').update(text).digest('base64url').slice(0, 27)}`;
}

/**
 * Whether the statement must be prepared again under a fresh name on its next use:
 * - the server no longer holds it as we prepared it: a migration changed the columns it returns (0A000
 *   "cached plan must not change result type", recognised by the server routine that raises it, since the
 *   message is translated under a non-English `lc_messages`), or the session's statements were dropped
 *   (26000: DISCARD ALL, DEALLOCATE by a pooler);
 * - the server holds the name although this side does not count it as prepared (42P05: a Parse sent in a
 *   pipeline whose reply was never read, after a timeout);
 * - the failure came from this side (a parameter that cannot be encoded): pg then closes the statement on
 *   the server but still counts it as prepared.
 * Any other server error (a constraint, a bad value) leaves the statement prepared and usable.
 */
export function mustPrepareAgain(error: unknown): boolean {
  if (!(error instanceof DatabaseError)) return true;
  return (
    (error.code === '0A000' && (error.routine === 'RevalidateCachedQuery' || /cached plan must not change result type/.test(error.message))) ||
    error.code === '26000' ||
    // The server holds the name after all (a Parse whose reply this side never read, a timeout say).
    error.code === '42P05'
  );
}

/**
 * A `pg` client that sends every parameterised statement as a named (server-side prepared) statement,
 * so PostgreSQL parses and analyses each text once per connection, and plans it once when its generic
 * plan is as good as a custom one (`plan_cache_mode = auto`). On the ingest path the aggregate statement
 * alone spent more time being parsed and planned than executed. It pipelines transaction boundaries as
 * PipeliningClient does.
 *
 * Only for a real PostgreSQL server: the embedded PGlite multiplexes every connection onto one session,
 * where two connections preparing the same name would collide.
 */
export class PreparingClient extends PipeliningClient {
  /** text → the name this connection prepared it under. */
  private readonly names = new Map<string, string>();
  /** Texts sent once, unnamed: named on their next use. */
  private readonly seenOnce = new Set<string>();
  private renames = 0;

  /** How many statements this connection has named (a test hook; bounded by MAX_PREPARED_PER_CONNECTION). */
  get preparedCount(): number {
    return this.names.size;
  }

  /**
   * The name to send `text` under on this connection, or undefined when it runs unnamed: its first use, or
   * the bound is reached.
   */
  override preparedName(text: string): string | undefined {
    const known = this.names.get(text);
    if (known !== undefined || this.names.size >= MAX_PREPARED_PER_CONNECTION) return known;
    if (!this.seenOnce.has(text)) {
      if (this.seenOnce.size >= SEEN_ONCE_LIMIT) this.seenOnce.clear();
      this.seenOnce.add(text);
      return undefined;
    }
    this.seenOnce.delete(text);
    const name = statementName(text);
    this.names.set(text, name);
    return name;
  }

  /** After a stale-statement error: the next use prepares `text` again. */
  forgetPrepared(text: string): void {
    // The old name may still be held by the server: never reuse it on this connection.
    if (this.names.has(text)) this.names.set(text, `${statementName(text)}_${++this.renames}`);
  }

  protected override namedStatementFailed(text: string, error: unknown, parsedNow: boolean): void {
    if (parsedNow || mustPrepareAgain(error)) this.forgetPrepared(text);
  }

  protected override retriesAfter(error: unknown): boolean {
    // The server's refusals only: an encoding failure on this side would fail again.
    return error instanceof DatabaseError && mustPrepareAgain(error);
  }
}
