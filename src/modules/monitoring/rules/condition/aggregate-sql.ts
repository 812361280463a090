import { canonicalJson } from './aggregate-spec';
import { compileWhere, operandValue } from './compile-condition';
import type { AggregateSpec, CompareCondition, Condition, Operand } from './condition.types';
import { memberSet, NUMERIC_RE, NUMERIC_SQL_RE, toBool, toDecimalText, toText } from './semantics';
import { resolveCompare } from './typing';
import type { EventFieldName } from './vocabulary';

/**
 * One SQL statement computing every aggregate that the rules need for one event (SPEC §8: windows are
 * `(occurredAt − window, occurredAt]`, so the current event must already be stored). Each aggregate is a
 * column `aN`. An exact aggregate is an aggregate function with its own FILTER over one scan of the
 * customer's events (the longest look-back of the exact ones). A count with a `countCap` — one its rules
 * compare only with constants — is instead a scalar subquery counting at most `countCap` rows with LIMIT,
 * so a customer with 100 000 events in the window costs a few index entries, not a scan of them all.
 * An aggregate's `where` is translated to SQL that mirrors `semantics.ts` exactly (every comparison is
 * wrapped in COALESCE(…, false) so NOT works on two-valued logic as in TypeScript). Every value — event
 * types, intervals, limits, literals, `current` fields, the customer's attributes, watchlist entries,
 * attribute keys — is a bind parameter; the SQL text holds only fixed column names and operators.
 */
export interface AggregateQueryInput {
  customerId: string;
  /** The current event's occurredAt ($2). */
  occurredAt: Date | string;
  /** The current event, shaped like `EvaluationContext.event`, for `current` operands. */
  event: Record<string, unknown>;
  /**
   * The evaluated customer, shaped like `EvaluationContext.customer`, for `customer` operands inside a where
   * (bound as parameters, like `current`); none when no rule reads one there.
   */
  customer?: Record<string, unknown>;
  /** Watchlist entries for `list` operands inside where. */
  list(code: string): ReadonlySet<string>;
  /**
   * The stored current event's id: when given, the statement also returns `last_activity`, the latest
   * `occurred_at` of the customer's other events at or before this one (for `daysSinceLastActivity`).
   */
  lastActivityExcluding?: string;
  /**
   * Stored events the windows must not see: in a batch, the same customer's events that come later in the
   * call (already inserted, but screened after this one).
   */
  excludeIds?: readonly string[];
}

export interface AggregateQuery {
  sql: string;
  params: unknown[];
  /** `keys[i]` is the `AggregateSpec.key` of column `a<i>`. */
  keys: string[];
  /** `casts[i]` is the SQL type of parameter `$<i+1>`. */
  casts: string[];
}

const COLUMNS: Record<EventFieldName, string> = {
  amount: 'amount',
  currency: 'currency',
  channel: 'channel',
  country: 'country',
  deviceId: 'device_id',
  ipAddress: 'ip_address',
  counterpartyRef: 'counterparty_ref',
  flags: 'flags',
};
const SQL_OPS: Record<string, string> = { eq: '=', ne: '<>', gt: '>', gte: '>=', lt: '<', lte: '<=' };
const TABLE_RE = /^[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)?$/;

/**
 * Returns null when there is nothing to compute. Specs with equal keys are computed once; their caps merge
 * to the largest, and to none (an exact count) if any of them has none.
 */
export function buildAggregateQuery(
  specs: readonly AggregateSpec[],
  input: AggregateQueryInput,
  options: { table?: string } = {},
): AggregateQuery | null {
  const table = options.table ?? 'event';
  if (!TABLE_RE.test(table)) throw new Error(`buildAggregateQuery: bad table name ${table}`);
  const byKey = new Map<string, AggregateSpec>();
  for (const s of specs) {
    const seen = byKey.get(s.key);
    if (!seen) byKey.set(s.key, s);
    else if (seen.countCap !== undefined) {
      byKey.set(s.key, { ...seen, countCap: s.countCap === undefined ? undefined : Math.max(seen.countCap, s.countCap) });
    }
  }
  const distinct = [...byKey.values()];
  if (distinct.length === 0 && input.lastActivityExcluding === undefined) return null;
  const b = new Builder(input, table);
  const columns = distinct.map((s, i) => `${s.countCap !== undefined ? b.cappedCount(s, s.countCap) : b.aggregate(s)} AS a${i}`);
  if (input.lastActivityExcluding !== undefined) {
    // On event_customer_time_idx: one backward step per partition. Here rather than in a statement of its own.
    columns.push(
      `(SELECT max(occurred_at) FROM ${table} WHERE customer_id = $1 AND occurred_at <= $2::timestamptz` +
        ` AND id <> ${b.param(input.lastActivityExcluding, 'uuid')}${b.excluded()}) AS last_activity`,
    );
  }
  const scanned = distinct.filter((s) => s.countCap === undefined);
  let sql = `SELECT ${columns.join(', ')}`;
  if (scanned.length) {
    const lookBack = Math.max(...scanned.map((s) => s.windowMs + s.offsetMs));
    const types = [...new Set(scanned.flatMap((s) => s.eventTypes))].sort();
    sql +=
      ` FROM ${table} WHERE customer_id = $1` +
      ` AND occurred_at > $2::timestamptz - ${b.interval(lookBack)} AND occurred_at <= $2::timestamptz` +
      ` AND type = ANY(${b.param(types, 'text[]')})${b.excluded()}`;
  }
  return { sql, params: b.params, keys: distinct.map((s) => s.key), casts: b.casts };
}

/**
 * Turns the single result row into values by key, exact: counts as JS numbers, sums, averages and maxima as
 * their decimal text (the SQL returns them as text, see `Builder.aggregate`), which the evaluator compares as
 * exact decimals. pg returns bigint as text; in a combined statement (`to_jsonb`) counts are JSON numbers.
 */
export function readAggregateRow(query: AggregateQuery, row: Record<string, unknown>): Map<string, number | string | null> {
  return new Map(query.keys.map((key, i) => [key, aggregateValue(row[`a${i}`])]));
}

/** Integer text of at most 15 digits: a safe integer, which a JS number holds exactly. */
const SHORT_INTEGER_RE = /^-?[0-9]{1,15}$/;

function aggregateValue(v: unknown): number | string | null {
  if (typeof v === 'number') return Number.isFinite(v) ? v : null;
  if (typeof v === 'string') {
    if (!NUMERIC_RE.test(v)) return null;
    return SHORT_INTEGER_RE.test(v) ? Number(v) : v; // a count as a number: the comparator's fast path
  }
  if (typeof v === 'bigint') return Number.isSafeInteger(Number(v)) ? Number(v) : v.toString();
  return null;
}

/** The `last_activity` column of the row (see `lastActivityExcluding`), or null when the customer had none. */
export function readLastActivity(row: Record<string, unknown>): Date | null {
  const v = row.last_activity;
  if (v === null || v === undefined) return null;
  return v instanceof Date ? v : new Date(String(v));
}

class Builder {
  readonly params: unknown[];
  readonly casts = ['uuid', 'timestamptz'];
  private readonly index = new Map<string, string>();

  constructor(
    private readonly input: AggregateQueryInput,
    private readonly table: string,
  ) {
    this.params = [input.customerId, input.occurredAt];
  }

  /** The filter leaving out `excludeIds`; nothing when there are none, so the usual scan stays index-only. */
  excluded(): string {
    const ids = this.input.excludeIds ?? [];
    return ids.length ? ` AND id <> ALL(${this.param(ids, 'uuid[]')})` : '';
  }

  /**
   * `$n::cast`, one parameter per distinct (cast, value), or per (cast, `operand`) when given: a parameter must
   * keep one type throughout.
   */
  param(value: unknown, cast: string, operand?: string): string {
    const id = operand === undefined ? `${cast}:${canonicalJson(value ?? null)}` : `${cast}@${operand}`;
    let ref = this.index.get(id);
    if (!ref) {
      this.params.push(value ?? null);
      this.casts.push(cast);
      ref = `$${this.params.length}::${cast}`;
      this.index.set(id, ref);
    }
    return ref;
  }

  /** Exact milliseconds as seconds: no calendar days, so DST cannot stretch a window. */
  interval(ms: number): string {
    return this.param(`${ms / 1000} seconds`, 'interval');
  }

  /**
   * The rows of `spec`. Inside the statement's scan, which already ends at the event, a window without an
   * offset needs no upper bound of its own; a subquery (`standalone`) needs it.
   */
  private filters(spec: AggregateSpec, standalone: boolean): string[] {
    const filters = [
      `type = ANY(${this.param(spec.eventTypes, 'text[]')})`,
      `occurred_at > $2::timestamptz - ${this.interval(spec.windowMs + spec.offsetMs)}`,
    ];
    if (spec.offsetMs > 0) filters.push(`occurred_at <= $2::timestamptz - ${this.interval(spec.offsetMs)}`);
    else if (standalone) filters.push('occurred_at <= $2::timestamptz');
    if (spec.where) filters.push(this.condition(spec.where));
    return filters;
  }

  /**
   * min(count, cap) as a scalar subquery: LIMIT stops the index scan on `(customer_id, type, occurred_at)`
   * after `cap` matching rows, however many the window holds.
   */
  cappedCount(spec: AggregateSpec, cap: number): string {
    if (spec.fn !== 'count') throw new Error('buildAggregateQuery: only a count can be capped');
    const where = ['customer_id = $1', ...this.filters(spec, true)].join(' AND ') + this.excluded();
    return `(SELECT count(*) FROM (SELECT 1 FROM ${this.table} WHERE ${where} LIMIT ${this.param(cap, 'bigint')}) AS capped)`;
  }

  /**
   * A numeric aggregate (sum, avg, max) is returned as text: a combined statement reads each row through
   * `to_jsonb`, where numeric would become a JSON number, i.e. a JS double missing digits. Only the
   * projection changes; the scan is the same.
   */
  aggregate(spec: AggregateSpec): string {
    const filter = `FILTER (WHERE ${this.filters(spec, false).join(' AND ')})`;
    const field: Operand = { field: spec.field ?? 'amount' };
    switch (spec.fn) {
      case 'count':
        return `count(*) ${filter}`;
      case 'sum':
        return `coalesce(sum(${this.num(field)}) ${filter}, 0)::text`;
      case 'avg':
      case 'max':
        return `(${spec.fn}(${this.num(field)}) ${filter})::text`;
      case 'distinctCount':
        return `count(DISTINCT ${spec.field === 'amount' ? 'amount' : this.text(field)}) ${filter}`;
    }
  }

  condition(c: Condition): string {
    if ('all' in c) return `(${c.all.map((x) => this.condition(x)).join(' AND ')})`;
    if ('any' in c) return `(${c.any.map((x) => this.condition(x)).join(' OR ')})`;
    if ('not' in c) return `(NOT ${this.condition(c.not)})`;
    return this.compare(c.compare);
  }

  private compare(c: CompareCondition['compare']): string {
    const { left, op, right } = c;
    const list = (code: string) => this.input.list(code);
    // Nothing from the past event: the answer is known now, from the very code the evaluator uses.
    if (!reads(left) && !reads(right)) return compileWhere({ compare: c })({}, this.input.event, list, this.input.customer) ? 'TRUE' : 'FALSE';
    const typed = resolveCompare(left, op, right);
    if ('errors' in typed) throw new Error(`buildAggregateQuery: ${typed.errors[0].message}`); // validated earlier
    const { domain } = typed;
    const members = () => {
      const v = this.value(right);
      return [...(v instanceof Set ? v : memberSet(v as unknown[], domain))];
    };
    const sqlOp = SQL_OPS[op];
    switch (domain.kind) {
      case 'isNull': {
        const o = domain.side === 'left' ? left : right;
        return `(${this.nullable(o)} IS ${op === 'eq' ? '' : 'NOT '}NULL)`;
      }
      case 'number':
        return `COALESCE(${this.num(left)} ${sqlOp} ${this.num(right)}, false)`;
      case 'text':
        return `COALESCE(${this.text(left)} ${sqlOp} ${this.text(right)}, false)`;
      case 'boolean':
        return `COALESCE(${this.bool(left)} ${sqlOp} ${this.bool(right)}, false)`;
      case 'memberText':
      case 'memberNumber': {
        const numeric = domain.kind === 'memberNumber';
        const l = numeric ? this.num(left) : this.text(left);
        const set = this.bind(right, members(), numeric ? 'numeric[]' : 'text[]');
        return `COALESCE(${l} ${op === 'in' ? '= ANY' : '<> ALL'}(${set}), false)`;
      }
      case 'intersect': // left is the flags column: a constant left was folded above
        return `COALESCE(${op === 'in' ? '' : 'NOT '}(flags && ${this.bind(right, members(), 'text[]')}), false)`;
      case 'arrayContains': {
        const arr = reads(left) ? 'flags' : this.bind(left, stringsOf(this.value(left)), 'text[]');
        return `COALESCE(${this.text(right)} = ANY(${arr}), false)`;
      }
      case 'substring': {
        const l = reads(left) ? this.column(left) : this.bind(left, stringOf(this.value(left)), 'text');
        return substringSql(l, this.text(right));
      }
      case 'containsDynamic': {
        const needle = this.text(right);
        if (!reads(left)) {
          const v = this.value(left);
          if (typeof v === 'string') return substringSql(this.bind(left, v, 'text'), needle);
          if (Array.isArray(v)) return `COALESCE(${needle} = ANY(${this.bind(left, stringsOf(v), 'text[]')}), false)`;
          return 'FALSE';
        }
        const a = this.attribute(left);
        return (
          `(CASE jsonb_typeof(${a}) WHEN 'string' THEN ${substringSql(`(${a} #>> '{}')`, needle)}` +
          ` WHEN 'array' THEN COALESCE(${needle} IS NOT NULL AND ${a} @> jsonb_build_array(${needle}), false) ELSE false END)`
        );
      }
      case 'level': {
        // Ordered by position on the scale, as the evaluator does; a value off the scale (NULL) compares false.
        const scale = this.param([...domain.scale], 'text[]');
        return `COALESCE(array_position(${scale}, ${this.text(left)}) ${sqlOp} array_position(${scale}, ${this.text(right)}), false)`;
      }
    }
  }

  /**
   * The value of an operand that reads no past event, as a parameter. One that reads the evaluated event or
   * customer gets a parameter of its own, whatever its value: the statement's text then does not depend on
   * which of those values happen to be equal, so the events of a batch share one text and a prepared statement
   * serves every customer.
   */
  private bind(o: Operand, value: unknown, cast: string): string {
    return this.param(value, cast, perEvaluation(o) ? canonicalJson(o) : undefined);
  }

  /** The value of an operand that reads no past event: a literal, `current`, `customer`, a list or a product of those. */
  private value(o: Operand): unknown {
    return operandValue(o, this.input.event, (c) => this.input.list(c), this.input.customer);
  }

  private column(o: Operand): string {
    if (!('field' in o) || o.field.startsWith('attributes.')) throw new Error('buildAggregateQuery: expected a column');
    return COLUMNS[o.field as EventFieldName];
  }

  private attribute(o: Operand): string {
    if (!('field' in o) || !o.field.startsWith('attributes.')) throw new Error('buildAggregateQuery: expected an attribute');
    return `(attributes -> ${this.param(o.field.slice('attributes.'.length), 'text')})`;
  }

  private isAttribute(o: Operand): boolean {
    return 'field' in o && o.field.startsWith('attributes.');
  }

  private nullable(o: Operand): string {
    if ('mul' in o) return this.num(o);
    if (!this.isAttribute(o)) return this.column(o);
    return `(attributes ->> ${this.param((o as { field: string }).field.slice('attributes.'.length), 'text')})`; // JSON null is SQL NULL here
  }

  num(o: Operand): string {
    if (!reads(o)) {
      const v = this.value(o);
      // As decimal text, so numeric keeps every digit: of an amount as is, of a product (a Big) all of them.
      return this.bind(o, toDecimalText(v), 'numeric');
    }
    if ('mul' in o) return `(${this.num(o.mul[0])} * ${this.num(o.mul[1])})`;
    if (!this.isAttribute(o)) return this.column(o); // amount: validation admits no other column here
    const a = this.attribute(o);
    return (
      `(CASE jsonb_typeof(${a}) WHEN 'number' THEN (${a} #>> '{}')::numeric` +
      ` WHEN 'string' THEN (CASE WHEN (${a} #>> '{}') ~ '${NUMERIC_SQL_RE}' THEN (${a} #>> '{}')::numeric END) END)`
    );
  }

  text(o: Operand): string {
    if (!reads(o)) return this.bind(o, toText(this.value(o)), 'text');
    if (!this.isAttribute(o)) return this.column(o);
    const a = this.attribute(o);
    return `(CASE WHEN jsonb_typeof(${a}) IN ('string', 'number', 'boolean') THEN ${a} #>> '{}' END)`;
  }

  private bool(o: Operand): string {
    if (!reads(o)) return this.bind(o, toBool(this.value(o)), 'boolean');
    const a = this.attribute(o);
    return `(CASE WHEN jsonb_typeof(${a}) = 'boolean' THEN (${a} #>> '{}')::boolean END)`;
  }
}

/** Does the operand's value depend on the event or customer evaluated (`current`, `customer`)? */
function perEvaluation(o: Operand): boolean {
  return 'current' in o || 'customer' in o || ('mul' in o && o.mul.some(perEvaluation));
}

/** Does the operand read the past event being aggregated (as opposed to constants and the current event)? */
function reads(o: Operand): boolean {
  return 'field' in o || ('mul' in o && o.mul.some(reads));
}

function substringSql(haystack: string, needle: string): string {
  return `COALESCE(strpos(lower(${haystack}), lower(${needle})) > 0, false)`;
}

const stringOf = (v: unknown) => (typeof v === 'string' ? v : null);
const stringsOf = (v: unknown) => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);
