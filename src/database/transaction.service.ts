import { Injectable } from '@nestjs/common';
import { ClsService } from 'nestjs-cls';
import { DataSource, QueryFailedError, type EntityManager } from 'typeorm';
import { lazyTotal, type ConnectionShape } from '../common/pagination/connection';
import { PipeliningClient } from './pipelining-client';

const TX_KEY = 'custos.tx';

/**
 * Thrown inside `run()` to keep what the transaction wrote (a failed attempt being counted, say) and still
 * fail the operation: the transaction commits, then the wrapped error is thrown.
 */
export class CommitThenThrow {
  constructor(readonly error: unknown) {}
}

/**
 * Multi-step writes run inside `run()`: one database transaction whose EntityManager rides in a child of
 * the request context, so nested `run()` calls (and any service calling `manager()`) join it, while sibling
 * work of the same request — parallel query fields — does not.
 */
@Injectable()
export class TransactionService {
  constructor(
    private readonly dataSource: DataSource,
    private readonly cls: ClsService,
  ) {}

  /** The transaction-bound manager when inside `run()`, else the default one. */
  manager(): EntityManager {
    return this.current() ?? this.dataSource.manager;
  }

  /**
   * The default manager whatever the context: each statement it runs is a transaction of its own, even when
   * called from inside `run()` (a statement that must commit on its own, now).
   */
  outsideTransaction(): EntityManager {
    return this.dataSource.manager;
  }

  /** Whether the caller runs inside an open transaction (work it does now commits or rolls back with it). */
  inTransaction(): boolean {
    return this.current() !== undefined;
  }

  /**
   * A list's `totalCount` from a statement returning `total`: run only if the client selects the field, or at
   * once inside a transaction, which may be over by then (`lazyTotal`).
   */
  countWhenSelected(text: string, values: unknown[]): Promise<ConnectionShape<unknown>['totalCount']> {
    return lazyTotal(async () => ((await this.manager().query(text, values)) as Array<{ total: number }>)[0].total, this.inTransaction());
  }

  /**
   * Runs `effect` once the surrounding transaction has committed (at once when there is none): deliveries
   * such as subscription publishes must never announce what a rollback then takes back.
   */
  afterCommit(effect: () => void): void {
    const slot = this.cls.isActive() ? this.cls.get<{ open: boolean; effects: Array<() => void> }>(TX_KEY) : undefined;
    if (slot?.open) slot.effects.push(effect);
    else effect();
  }

  /**
   * Runs `task` once the surrounding transaction has committed, and makes the outermost `run()` wait for it
   * before returning (at once, awaited by the caller, when there is no transaction): work that must be done
   * before the operation counts as finished but cannot be inside the transaction — chaining the audit entries
   * it wrote, which would otherwise hold the chain lock for the whole transaction. A failing task is the
   * task's to report; it never fails the committed work.
   */
  afterCommitAwait(task: () => Promise<void>): Promise<void> {
    const slot = this.cls.isActive() ? this.cls.get<{ open: boolean; awaited: Array<() => Promise<void>> }>(TX_KEY) : undefined;
    if (slot?.open) {
      slot.awaited.push(task);
      return Promise.resolve();
    }
    return task();
  }

  /**
   * `text` as the last statement of `manager`'s transaction: on a pipelining connection it is held and sent
   * together with the COMMIT (one round trip for both), so awaiting this only registers it and `rows` settles
   * with the commit — never await `rows` inside the transaction. Otherwise (PGlite, no transaction) it runs
   * now and `rows` is settled already. A failure of the held statement fails the commit with it.
   */
  async atCommit<T>(manager: EntityManager, text: string, values: unknown[]): Promise<{ rows: Promise<T[]> }> {
    const open = pipelinedTransaction(manager);
    // Inside a savepoint it runs now, so that rolling back to the savepoint takes it back too.
    if (open && open.depth <= 1) {
      // Throws once the COMMIT has gone out: a statement for this transaction must not commit on its own.
      const rows = open.client.queryAtCommit(text, values).then((result) => result.rows as T[]);
      rows.catch(() => undefined); // the commit reports it
      return { rows };
    }
    return { rows: Promise.resolve((await manager.query(text, values)) as T[]) };
  }

  /**
   * Runs `statements` in `manager`'s transaction, one after another, each seeing what the ones before it
   * wrote; the rows of each, in order. On a pipelining connection they go out in one round trip (after an
   * error the rest are skipped and the transaction fails); otherwise, or outside a transaction, one by one.
   */
  async pipeline(manager: EntityManager, statements: ReadonlyArray<{ text: string; values: unknown[] }>): Promise<Array<Array<Record<string, unknown>>>> {
    const open = pipelinedTransaction(manager);
    if (open && statements.length > 1) {
      try {
        return (await open.client.queryPipeline(statements)).map((result) => result.rows);
      } catch (error) {
        // As TypeORM reports a failed statement (callers read `driverError`).
        throw new QueryFailedError(statements.map((s) => s.text).join(';\n'), undefined, error as Error);
      }
    }
    const rows: Array<Array<Record<string, unknown>>> = [];
    for (const { text, values } of statements) rows.push((await manager.query(text, values)) as Array<Record<string, unknown>>);
    return rows;
  }

  /**
   * The open transaction of this async context. Work started inside a transaction can outlive it (a timer,
   * a detached promise) and still carry its context, so a finished transaction is marked and never reused.
   */
  private current(): EntityManager | undefined {
    if (!this.cls.isActive()) return undefined;
    const slot = this.cls.get<{ manager: EntityManager; open: boolean }>(TX_KEY);
    return slot?.open ? slot.manager : undefined;
  }

  /**
   * Runs `work` in a transaction of its own, in a fresh context that joins nothing and leaks nothing: for
   * work done on behalf of several requests at once (the audit log's grouped appends).
   */
  runDetached<T>(work: (manager: EntityManager) => Promise<T>): Promise<T> {
    return this.cls.run({ ifNested: 'override' }, () => this.run(work));
  }

  async run<T>(work: (manager: EntityManager) => Promise<T>): Promise<T> {
    const current = this.current();
    if (current) return work(current);
    const effects: Array<() => void> = [];
    const awaited: Array<() => Promise<void>> = [];
    const outcome = await this.cls.run({ ifNested: 'inherit' }, () =>
      this.dataSource.transaction(async (manager) => {
        const slot = { manager, open: true, effects, awaited };
        this.cls.set(TX_KEY, slot);
        try {
          return { value: await work(manager) };
        } catch (error) {
          if (error instanceof CommitThenThrow) return { deferred: error };
          throw error;
        } finally {
          slot.open = false;
        }
      }),
    );
    for (const effect of effects) {
      try {
        effect();
      } catch {
        /* an after-commit effect must not fail the committed work */
      }
    }
    if (awaited.length) await Promise.all(awaited.map((task) => task().catch(() => undefined)));
    if ('deferred' in outcome && outcome.deferred) throw outcome.deferred.error;
    return (outcome as { value: T }).value;
  }
}

/** The pipelining connection of `manager`'s open transaction and its TypeORM depth (2 and more: a savepoint). */
function pipelinedTransaction(manager: EntityManager): { client: PipeliningClient; depth: number } | undefined {
  const runner = manager.queryRunner as { databaseConnection?: unknown; isTransactionActive?: boolean; transactionDepth?: number } | undefined;
  const client = runner?.databaseConnection;
  return client instanceof PipeliningClient && runner?.isTransactionActive ? { client, depth: runner.transactionDepth ?? 1 } : undefined;
}
