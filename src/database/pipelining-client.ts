import * as pg from 'pg';

/** The parts of pg's internals a pipeline drives: its protocol writer and the Query it extends. */
interface ProtocolConnection {
  stream: { cork?(): void; uncork?(): void };
  parsedStatements: Record<string, string>;
  submittedNamedStatements: Record<string, string>;
  parse(query: { text: string; name?: string }): void;
  bind(config: { statement?: string; values?: unknown[] }): void;
  describe(message: { type: 'P'; name?: string }): void;
  execute(config?: object): void;
  sync(): void;
}
/** What pg hands back for one statement. */
export interface StatementResult {
  command: string | null;
  rowCount: number | null;
  rows: Array<Record<string, unknown>>;
  fields: unknown[];
}
type QueryCallback = (error: Error | null, results?: StatementResult | StatementResult[]) => void;
interface QueryInternals {
  callback?: QueryCallback;
  _results: StatementResult | StatementResult[];
}
const pgInternals = pg as unknown as {
  Query: new (config: { text: string }) => QueryInternals;
  utils: { prepareValue(value: unknown): unknown };
};

/** Parameters as pg sends them; throws for a value it cannot encode, before anything is sent. */
const wireValues = (values: readonly unknown[]): unknown[] => values.map((v) => pgInternals.utils.prepareValue(v));

const BEGIN = /^\s*(START TRANSACTION|BEGIN)\b[^;]*;?\s*$/i;
const COMMIT = /^\s*(COMMIT|END)\s*;?\s*$/i;
const ROLLBACK = /^\s*(ROLLBACK|ABORT)\s*;?\s*$/i;

/** One statement of a pipeline. `describe` asks for its row description (every statement but BEGIN and COMMIT). */
interface Step {
  text: string;
  /** Already converted to wire values: an unencodable value fails before anything is sent. */
  values: unknown[];
  /** The connection's name for it (PreparingClient), or unnamed. */
  name?: string;
  describe: boolean;
}

/**
 * Several statements written to the socket at once and answered in one round trip: Parse (when needed), Bind,
 * Describe and Execute for each, then one Sync. Within one Sync the server skips everything after an error,
 * so a failed BEGIN never lets the statement behind it run outside the transaction, and a failed last
 * statement never lets the COMMIT behind it run. pg collects one result per statement, in order.
 */
class Pipeline extends pgInternals.Query {
  /** Every statement's text, for whoever counts statements (the benches). */
  readonly statements: string[];
  /** Per step: whether its Parse went out with this pipeline (decided when sent, from what the connection holds). */
  readonly parsedHere: boolean[];

  constructor(
    private readonly steps: readonly Step[],
    settle: (error: Error | null, results: StatementResult[], completed: number) => void,
  ) {
    // A string, not a config object: pg copies a config object property by property on every query.
    super(steps[steps.length - 1].text as unknown as { text: string });
    this.statements = steps.map((s) => s.text);
    this.parsedHere = steps.map(() => false);
    this.callback = (error, results) => {
      const all = results === undefined ? this.resultsSoFar() : Array.isArray(results) ? results : [results];
      // On a failure, what the server completed before it (the COMMIT, say, when the failure was a row pg
      // could not parse) stays readable.
      if (error) Object.defineProperty(error, 'pipelineResults', { value: all, enumerable: false, configurable: true });
      settle(error, all, all.filter((r) => r.command !== null && r.command !== undefined).length);
    };
  }

  submit(connection: ProtocolConnection): null {
    connection.stream.cork?.();
    try {
      this.steps.forEach((step, i) => {
        const { name } = step;
        const held = name !== undefined && (connection.parsedStatements[name] !== undefined || connection.submittedNamedStatements[name] !== undefined);
        if (!held) {
          connection.parse({ text: step.text, name });
          // Marked at once, as pg does for its own named statements: a later step of this pipeline binds it.
          if (name !== undefined) connection.submittedNamedStatements[name] = step.text;
          this.parsedHere[i] = true;
        }
        connection.bind({ statement: name, values: step.values });
        if (step.describe) connection.describe({ type: 'P' });
        connection.execute();
      });
      connection.sync();
    } finally {
      connection.stream.uncork?.();
    }
    return null;
  }

  private resultsSoFar(): StatementResult[] {
    return Array.isArray(this._results) ? this._results : [this._results];
  }
}

/** A statement held back until COMMIT, to travel with it. */
interface HeldStatement {
  text: string;
  values: unknown[];
  resolve: (result: StatementResult) => void;
  reject: (error: unknown) => void;
}

const emptyResult = (command: string): StatementResult => ({ command, rowCount: null, rows: [], fields: [] });

/** Thrown to statements held for a COMMIT that never came: the transaction rolled back. */
export class TransactionRolledBack extends Error {
  constructor() {
    super('The transaction rolled back before this statement was sent');
  }
}

type QueryFn = (this: PipeliningClient, config: unknown, values?: unknown, callback?: unknown) => unknown;

/**
 * A `pg` client that saves the round trips a transaction's boundaries cost (each one also a socket write on
 * the app's one thread, the most expensive system call on its ingest path):
 *
 * - **BEGIN** is not sent on its own: it goes out with the transaction's first statement, in one pipeline.
 * - **A statement held for the commit** (`queryAtCommit`: the audit entries a transaction stages) goes out
 *   with COMMIT, in one pipeline; its result arrives with the commit's.
 *
 * A transaction without statements sends nothing at all. Subclassed by PreparingClient, which names statements.
 */
export class PipeliningClient extends pg.Client {
  /** The BEGIN text not yet sent, while a transaction has been opened but nothing sent in it. */
  private beginPending?: string;
  /** Whether a transaction is open on this connection (as far as the statements sent through here tell). */
  private transactionOpen = false;
  private held: HeldStatement[] = [];

  constructor(config?: string | pg.ClientConfig) {
    super(config);
    // A lost connection ends the transaction: nothing held will be sent, and no later user of this client
    // (there is none: the pool discards it) may inherit the state.
    const lost = (): void => this.abandonTransaction(new Error('The connection was lost before the transaction committed'));
    this.on('error', lost);
    this.on('end', lost);
  }

  /** Whether statements can be held for this connection's COMMIT now: a transaction is open and not committing. */
  get holdsForCommit(): boolean {
    return this.transactionOpen;
  }

  /** The name `text` goes under on this connection, or undefined (unnamed). Named by PreparingClient. */
  preparedName(_text: string): string | undefined {
    return undefined;
  }

  /**
   * A named statement failed. `parsedNow`: its Parse was sent with it, so whether the server holds it is unknown.
   * PreparingClient renames it when it must be prepared again.
   */
  protected namedStatementFailed(_text: string, _error: unknown, _parsedNow: boolean): void {}

  /**
   * Whether a named statement that failed with `error` outside any transaction is sent once more: true when
   * the server refused the statement before running it (PreparingClient: a stale or missing prepared
   * statement), so nothing happened and a second try under a fresh name is safe.
   */
  protected retriesAfter(_error: unknown): boolean {
    return false;
  }

  /** Whether a statement sent now runs on its own (no transaction open here or on the server). */
  protected get outsideTransaction(): boolean {
    return !this.transactionOpen && this.getTransactionStatus() === 'I';
  }

  /**
   * Runs `text` as the last statement before this transaction's COMMIT, sent together with it. The promise
   * settles with the commit: its result when both succeeded, the statement's error (the commit then fails
   * with it too), or `TransactionRolledBack`; it never counts as an unhandled rejection. A parameter that
   * cannot be encoded throws at once, and so does a call with no open transaction (`holdsForCommit`).
   */
  queryAtCommit(text: string, values: unknown[]): Promise<StatementResult> {
    // Never run on its own: after the COMMIT went out it would commit apart from (or despite) the transaction.
    if (!this.transactionOpen) throw new Error('queryAtCommit needs an open transaction on this connection');
    // Thrown, not held: a statement that can never be sent must fail the transaction now, not vanish from it.
    const prepared = wireValues(values);
    const result = new Promise<StatementResult>((resolve, reject) => this.held.push({ text, values: prepared, resolve, reject }));
    // A caller need not wait for it: the COMMIT reports its failure too.
    result.catch(() => undefined);
    return result;
  }

  /**
   * Sends `statements` one after another in one round trip (with BEGIN when the transaction has not begun
   * on the server yet): each sees what the ones before it wrote; after an error the server skips the rest,
   * and the promise rejects with that error. A parameter that cannot be encoded rejects before anything is sent.
   */
  queryPipeline(statements: ReadonlyArray<{ text: string; values: unknown[] }>): Promise<StatementResult[]> {
    let steps: Step[];
    try {
      steps = statements.map((s) => this.step(s.text, wireValues(s.values)));
    } catch (error) {
      return Promise.reject(error);
    }
    const begin = this.beginPending;
    this.beginPending = undefined;
    if (begin === undefined) return this.runPipeline(steps);
    return this.runPipeline([this.boundary(begin), ...steps]).then((results) => results.slice(1));
  }

  /** A statement of this connection as a pipeline step, named when PreparingClient names it. */
  protected step(text: string, values: unknown[]): Step {
    return { text, values, name: values.length ? this.preparedName(text) : undefined, describe: true };
  }

  /**
   * Sends `steps` as one pipeline; resolves with the results of every step. Named statements it parsed count
   * as parsed once their step completed; a failure renames the statement it happened in when needed.
   */
  protected runPipeline(steps: Step[]): Promise<StatementResult[]> {
    const plain = pg.Client.prototype.query as unknown as QueryFn;
    const connection = (this as unknown as { connection: ProtocolConnection }).connection;
    return new Promise<StatementResult[]>((resolve, reject) => {
      const pipeline: Pipeline = new Pipeline(steps, (error, results, completed) => {
        // Steps before the failing one completed, so their Parse succeeded; the failing one's may or may not have.
        steps.forEach((s, i) => {
          if (s.name === undefined || !pipeline.parsedHere[i]) return;
          delete connection.submittedNamedStatements[s.name];
          if (!error || i < completed) connection.parsedStatements[s.name] = s.text;
        });
        if (!error) return resolve(results);
        // The failing step, and any later one whose Parse went out: the server may hold them or not (a
        // pipeline settled early, by a timeout, still reaches the server whole).
        steps.forEach((s, i) => {
          if (s.name !== undefined && i >= completed && (i === completed || pipeline.parsedHere[i])) this.namedStatementFailed(s.text, error, pipeline.parsedHere[i]);
        });
        reject(error);
      });
      plain.call(this, pipeline);
    });
  }

  /** The transaction boundaries and the statements of a transaction not yet begun on the server. */
  protected pipelinedQuery(text: string, values: unknown[] | undefined): Promise<StatementResult> | undefined {
    if (BEGIN.test(text) && !values?.length) {
      // Open here but idle on the server, with BEGIN sent: the transaction ended without passing through here.
      if (this.transactionOpen && this.beginPending === undefined && this.getTransactionStatus() === 'I') this.abandonTransaction(new TransactionRolledBack());
      if (this.transactionOpen) return undefined; // a nested BEGIN: let the server warn as it always would
      this.transactionOpen = true;
      this.beginPending = text;
      return Promise.resolve(emptyResult('BEGIN'));
    }
    if (COMMIT.test(text) && !values?.length) return this.commit(text);
    if (ROLLBACK.test(text) && !values?.length) return this.rollback(text);
    const begin = this.beginPending;
    if (begin === undefined) return undefined;
    // With BEGIN, in one pipeline (an unencodable parameter leaves the transaction still to begin).
    if (values?.length) return this.queryPipeline([{ text, values }]).then((results) => results[0]);
    this.beginPending = undefined;
    // A statement without parameters may hold several statements (simple protocol): one Query message.
    return this.sendPlain(`${begin};\n${text}`).then((results) => {
      const rest = (results as unknown as StatementResult[]).slice(1);
      return (rest.length === 1 ? rest[0] : rest) as StatementResult;
    });
  }

  private boundary(text: string): Step {
    return { text, values: [], describe: false };
  }

  /** Forgets the transaction here; what it still had to send (BEGIN, held statements) is the caller's. */
  private endTransaction(): { begin?: string; held: HeldStatement[] } {
    const ended = { begin: this.beginPending, held: this.held };
    this.beginPending = undefined;
    this.held = [];
    this.transactionOpen = false;
    return ended;
  }

  private commit(text: string): Promise<StatementResult> {
    const { begin, held } = this.endTransaction();
    if (!held.length && begin !== undefined) return Promise.resolve(emptyResult('COMMIT')); // nothing was sent
    if (!held.length) return this.sendPlain(text);
    const steps = [...(begin !== undefined ? [this.boundary(begin)] : []), ...held.map((h) => this.step(h.text, h.values)), this.boundary(text)];
    const offset = begin !== undefined ? 1 : 0;
    return this.runPipeline(steps).then(
      (results) => {
        held.forEach((h, i) => h.resolve(results[offset + i]));
        return committed(results[results.length - 1]);
      },
      (error: unknown) => {
        for (const h of held) h.reject(error);
        // A failure on this side (a row pg could not parse) is reported once the server has answered
        // everything: if the COMMIT went through, the transaction is committed and must not look failed.
        const results = (error as { pipelineResults?: StatementResult[] }).pipelineResults;
        const last = results?.length === steps.length ? results[results.length - 1] : undefined;
        if (last?.command === 'COMMIT') return last;
        throw error;
      },
    );
  }

  /** Everything held is refused and the transaction forgotten (a lost connection, or state found stale). */
  private abandonTransaction(reason: Error): void {
    for (const h of this.endTransaction().held) h.reject(reason);
  }

  private rollback(text: string): Promise<StatementResult> {
    const { begin, held } = this.endTransaction();
    for (const h of held) h.reject(new TransactionRolledBack());
    return begin !== undefined ? Promise.resolve(emptyResult('ROLLBACK')) : this.sendPlain(text);
  }

  private sendPlain(text: string): Promise<StatementResult> {
    const sent = (pg.Client.prototype.query as unknown as QueryFn).call(this, text) as Promise<StatementResult>;
    return COMMIT.test(text) ? sent.then(committed) : sent;
  }

  /**
   * Any query this client does not pipeline (a config object, a callback, a cursor) while BEGIN is still
   * unsent: BEGIN goes first, so the query runs inside the transaction.
   */
  protected flushBegin(): void {
    const begin = this.beginPending;
    if (begin === undefined) return;
    this.beginPending = undefined;
    this.sendPlain(begin).catch(() => undefined);
  }
}

/** The server answers COMMIT of a transaction an earlier error aborted with ROLLBACK: that is a failure. */
export class CommitRolledBack extends Error {
  constructor() {
    super('The transaction had failed: COMMIT rolled it back');
  }
}

function committed(result: StatementResult): StatementResult {
  if (result.command === 'ROLLBACK') throw new CommitRolledBack();
  return result;
}

// Assigned on the prototype rather than declared in the class: pg's typings overload `query` a dozen ways,
// and this override only changes the plain promise form `query(text, values?)`.
Object.defineProperty(PipeliningClient.prototype, 'query', {
  configurable: true,
  writable: true,
  value: function pipeliningQuery(this: PipeliningClient, config: unknown, values?: unknown, callback?: unknown): unknown {
    // Looked up per call: whatever wraps Client#query (a statement counter in the benches) still sees it.
    const plain = pg.Client.prototype.query as unknown as QueryFn;
    if (typeof config !== 'string' || callback !== undefined || (values !== undefined && !Array.isArray(values))) {
      (this as unknown as { flushBegin(): void }).flushBegin();
      return plain.call(this, config, values, callback);
    }
    const pipelined = (this as unknown as { pipelinedQuery: PipeliningClient['pipelinedQuery'] }).pipelinedQuery(config, values as unknown[] | undefined);
    if (pipelined) return pipelined;
    const name = Array.isArray(values) && values.length ? this.preparedName(config) : undefined;
    if (name === undefined) return plain.call(this, config, values);
    const self = this as unknown as {
      namedStatementFailed: PipeliningClient['namedStatementFailed'];
      retriesAfter: PipeliningClient['retriesAfter'];
      outsideTransaction: boolean;
    };
    const alone = self.outsideTransaction;
    return (plain.call(this, { name, text: config }, values) as Promise<unknown>).catch((error: unknown) => {
      self.namedStatementFailed(config, error, false);
      // After a migration changed what it returns (or a pooler dropped it) the statement did not run: alone,
      // it is simply sent again, unnamed this once (the next use prepares the new name), so a rolling deploy
      // fails no request for it. Inside a transaction the error has aborted the transaction: the caller sees it.
      if (alone && self.retriesAfter(error)) return plain.call(this, config, values);
      throw error;
    });
  },
});
