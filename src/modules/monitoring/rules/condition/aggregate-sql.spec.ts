import { buildAggregateQuery, readAggregateRow, readLastActivity, type AggregateQueryInput } from './aggregate-sql';
import { compileCondition } from './compile-condition';
import type { AggregateSpec } from './condition.types';
import { DEFAULT_RULE_CONDITIONS } from './default-rules';

const cmp = (left: unknown, op: string, right: unknown) => ({ compare: { left, op, right } });
const input = (over: Partial<AggregateQueryInput> = {}): AggregateQueryInput => ({
  customerId: 'c-1',
  occurredAt: '2025-03-01T12:00:00.000Z',
  event: {},
  list: () => new Set(),
  ...over,
});
/** The aggregate specs of a condition that compares one aggregate with a customer attribute: exact values. */
const specsOf = (aggregate: Record<string, unknown>): AggregateSpec[] =>
  compileCondition(cmp({ aggregate: { eventTypes: ['TRANSACTION'], window: 'PT1H', ...aggregate } }, 'gt', { customer: 'riskScore' })).aggregates;
/** The same compared with a literal: a count gets a cap. */
const cappedSpecsOf = (aggregate: Record<string, unknown>, op = 'gte', k = 5): AggregateSpec[] =>
  compileCondition(cmp({ aggregate: { eventTypes: ['TRANSACTION'], window: 'PT1H', ...aggregate } }, op, { value: k })).aggregates;
const sqlOf = (aggregate: Record<string, unknown>, over: Partial<AggregateQueryInput> = {}) => buildAggregateQuery(specsOf(aggregate), input(over))!;

describe('buildAggregateQuery: statement shape', () => {
  it('returns null when there is nothing to compute', () => {
    expect(buildAggregateQuery([], input())).toBeNull();
  });

  it('reads one customer over the longest look-back, ending at the event', () => {
    const q = sqlOf({ fn: 'count' });
    expect(q.sql).toBe(
      'SELECT count(*) FILTER (WHERE type = ANY($3::text[]) AND occurred_at > $2::timestamptz - $4::interval) AS a0' +
        ' FROM event WHERE customer_id = $1 AND occurred_at > $2::timestamptz - $4::interval' +
        ' AND occurred_at <= $2::timestamptz AND type = ANY($3::text[])',
    );
    expect(q.params).toEqual(['c-1', '2025-03-01T12:00:00.000Z', ['TRANSACTION'], '3600 seconds']);
    expect(q.keys).toEqual([specsOf({ fn: 'count' })[0].key]);
  });

  it.each([
    [{ fn: 'count' }, /^SELECT count\(\*\) FILTER \(WHERE /],
    // Sums, averages and maxima come back as text: every digit reaches JS, through to_jsonb too.
    [{ fn: 'sum', field: 'amount' }, /^SELECT coalesce\(sum\(amount\) FILTER \(WHERE .*\), 0\)::text AS a0/],
    [{ fn: 'avg', field: 'amount' }, /^SELECT \(avg\(amount\) FILTER \(WHERE .*\)\)::text AS a0 /],
    [{ fn: 'max', field: 'amount' }, /^SELECT \(max\(amount\) FILTER \(WHERE .*\)\)::text AS a0 /],
    // Without a field, sum, avg and max read the amount.
    [{ fn: 'sum' }, /^SELECT coalesce\(sum\(amount\) FILTER \(WHERE .*\), 0\)::text AS a0/],
    [{ fn: 'avg' }, /^SELECT \(avg\(amount\) FILTER \(WHERE .*\)\)::text AS a0 /],
    [{ fn: 'max' }, /^SELECT \(max\(amount\) FILTER \(WHERE .*\)\)::text AS a0 /],
    [{ fn: 'distinctCount', field: 'deviceId' }, /^SELECT count\(DISTINCT device_id\) FILTER \(WHERE /],
    [{ fn: 'distinctCount', field: 'amount' }, /^SELECT count\(DISTINCT amount\) FILTER \(WHERE /],
    [{ fn: 'distinctCount', field: 'counterpartyRef' }, /^SELECT count\(DISTINCT counterparty_ref\) FILTER/],
    [{ fn: 'sum', field: 'attributes.daysLate' }, /^SELECT coalesce\(sum\(\(CASE jsonb_typeof\(\(attributes -> \$5::text\)\) WHEN 'number'/],
    [{ fn: 'max', field: 'attributes.daysLate' }, /^SELECT \(max\(\(CASE jsonb_typeof\(\(attributes -> \$5::text\)\)/],
    [{ fn: 'distinctCount', field: 'attributes.merchant' }, /^SELECT count\(DISTINCT \(CASE WHEN jsonb_typeof\(\(attributes -> \$5::text\)\) IN/],
  ])('%j', (aggregate, shape) => {
    expect(sqlOf(aggregate).sql).toMatch(shape);
  });

  it('binds attribute keys instead of writing them into the SQL', () => {
    const q = sqlOf({ fn: 'sum', field: 'attributes.daysLate' });
    expect(q.sql).not.toContain('daysLate');
    expect(q.params).toContain('daysLate');
  });

  it('bounds an offset window on both sides and looks back over window plus offset', () => {
    const q = sqlOf({ fn: 'avg', field: 'amount', window: 'P7D', offset: 'P1D' });
    expect(q.sql).toContain('occurred_at > $2::timestamptz - $4::interval AND occurred_at <= $2::timestamptz - $5::interval');
    expect(q.params.slice(3, 5)).toEqual(['691200 seconds', '86400 seconds']);
    expect(q.sql).toContain('WHERE customer_id = $1 AND occurred_at > $2::timestamptz - $4::interval AND occurred_at <= $2::timestamptz');
  });

  it('computes the default pack in one statement, an aggregate shared by rules only once', () => {
    const specs = DEFAULT_RULE_CONDITIONS.flatMap((r) => compileCondition(r.condition).aggregates);
    const twice = [...specs, ...specs];
    const q = buildAggregateQuery(twice, input({ event: { deviceId: 'dev-9' } }))!;
    expect(q.keys).toEqual(specs.map((s) => s.key));
    expect(q.sql.match(/ AS a\d+/g)).toHaveLength(specs.length);
    // Every count of the pack is compared with a constant: each is a capped subquery; the one scan reads
    // only what the sums and averages need (8 days of transactions), not the new-device rule's 90 days.
    const counts = specs.filter((s) => s.fn === 'count');
    expect(counts.map((s) => s.countCap).sort()).toEqual([2, 4, 4, 6]);
    expect(q.sql.match(/SELECT/g)).toHaveLength(1 + 2 * counts.length);
    expect(q.sql.match(/ LIMIT \$\d+::bigint\) AS capped\)/g)).toHaveLength(counts.length);
    expect(q.sql).toMatch(/ FROM event WHERE customer_id = \$1 AND occurred_at > \$2::timestamptz - (\$\d+)::interval AND occurred_at <= \$2::timestamptz AND type = ANY\((\$\d+)::text\[\]\)$/);
    const [, lookBack, types] = / FROM event WHERE .* - \$(\d+)::interval AND .* = ANY\(\$(\d+)::text\[\]\)$/.exec(q.sql)!;
    expect(q.params[Number(lookBack) - 1]).toBe('691200 seconds');
    expect(q.params[Number(types) - 1]).toEqual(['TRANSACTION']);
    expect(q.params).toContain('7776000 seconds'); // inside the new-device subquery
  });

  it('drops the scan altogether when every aggregate is a capped count', () => {
    const q = buildAggregateQuery([...cappedSpecsOf({ fn: 'count' }), ...cappedSpecsOf({ fn: 'count', window: 'P1D' }, 'eq', 1)], input())!;
    expect(q.sql).not.toMatch(/\) FROM event/);
    expect(q.sql.startsWith('SELECT (SELECT count(*) FROM (SELECT 1 FROM event WHERE')).toBe(true);
    expect(q.sql.match(/SELECT count/g)).toHaveLength(2);
  });

  it('accepts another table name but refuses anything that is not an identifier', () => {
    const specs = specsOf({ fn: 'count' });
    expect(buildAggregateQuery(specs, input(), { table: 'monitoring.event' })!.sql).toContain('FROM monitoring.event WHERE');
    expect(() => buildAggregateQuery(specs, input(), { table: 'event; DROP TABLE x' })).toThrow('bad table name');
  });
});

describe('buildAggregateQuery: counts compared with a constant stop at the cap', () => {
  it('counts at most countCap rows of the window in a LIMITed subquery with its own bounds', () => {
    const specs = cappedSpecsOf({ fn: 'count' });
    expect(specs[0].countCap).toBe(6);
    const q = buildAggregateQuery(specs, input())!;
    expect(q.sql).toBe(
      'SELECT (SELECT count(*) FROM (SELECT 1 FROM event WHERE customer_id = $1 AND type = ANY($3::text[])' +
        ' AND occurred_at > $2::timestamptz - $4::interval AND occurred_at <= $2::timestamptz LIMIT $5::bigint) AS capped) AS a0',
    );
    expect(q.params).toEqual(['c-1', '2025-03-01T12:00:00.000Z', ['TRANSACTION'], '3600 seconds', 6]);
  });

  it('keeps an offset window and a where inside the subquery', () => {
    const where = cmp({ field: 'deviceId' }, 'eq', { current: 'deviceId' });
    const q = buildAggregateQuery(cappedSpecsOf({ fn: 'count', window: 'P7D', offset: 'P1D', where }, 'eq', 1), input({ event: { deviceId: 'd-1' } }))!;
    expect(q.sql).toBe(
      'SELECT (SELECT count(*) FROM (SELECT 1 FROM event WHERE customer_id = $1 AND type = ANY($3::text[])' +
        ' AND occurred_at > $2::timestamptz - $4::interval AND occurred_at <= $2::timestamptz - $5::interval' +
        ' AND COALESCE(device_id = $6::text, false) LIMIT $7::bigint) AS capped) AS a0',
    );
    expect(q.params.slice(3)).toEqual(['691200 seconds', '86400 seconds', 'd-1', 2]);
  });

  it('sits beside exact aggregates in the same statement; those keep one scan with FILTER', () => {
    const q = buildAggregateQuery([...cappedSpecsOf({ fn: 'count', window: 'P90D' }), ...specsOf({ fn: 'sum', field: 'amount' })], input())!;
    expect(q.sql).toMatch(/^SELECT \(SELECT count\(\*\) FROM \(SELECT 1 FROM event WHERE .* LIMIT \$5::bigint\) AS capped\) AS a0, coalesce\(sum\(amount\) FILTER \(WHERE .*\), 0\)::text AS a1 FROM event WHERE customer_id = \$1 AND occurred_at > \$2::timestamptz - \$6::interval /);
    expect(q.params[5]).toBe('3600 seconds'); // the scan looks back one hour (the sum), not 90 days (the count)
  });

  it.each([
    ['capped uses only: the largest cap', [6, 3], 6],
    ['one exact use: exact', [6, undefined], undefined],
    ['exact first: exact', [undefined, 6], undefined],
  ])('merges the uses of one key: %s', (_, caps, merged) => {
    const [spec] = cappedSpecsOf({ fn: 'count' });
    const q = buildAggregateQuery(
      caps.map((countCap) => ({ ...spec, countCap })),
      input(),
    )!;
    expect(q.keys).toEqual([spec.key]);
    if (merged === undefined) expect(q.sql).toMatch(/^SELECT count\(\*\) FILTER/);
    else expect(q.params.at(-1)).toBe(merged);
  });

  it('leaves counts exact when the rule needs the value', () => {
    expect(buildAggregateQuery(specsOf({ fn: 'count' }), input())!.sql).not.toContain('LIMIT');
    expect(buildAggregateQuery(cappedSpecsOf({ fn: 'distinctCount', field: 'deviceId' }), input())!.sql).not.toContain('LIMIT');
  });
});

describe('buildAggregateQuery: where', () => {
  const hostile = "x'); DROP TABLE event; --";

  it('binds literals and current fields; no value reaches the SQL text', () => {
    const where = {
      all: [
        cmp({ field: 'attributes.outcome' }, 'eq', { value: hostile }),
        cmp({ field: 'deviceId' }, 'eq', { current: 'deviceId' }),
        cmp({ field: 'channel' }, 'contains', { value: 'W%_' }),
      ],
    };
    const q = sqlOf({ fn: 'count', where }, { event: { deviceId: 'dev-1' } });
    expect(q.sql).not.toContain('DROP');
    expect(q.sql).not.toContain('dev-1');
    expect(q.sql).not.toContain('W%_');
    expect(q.params).toEqual(expect.arrayContaining([hostile, 'outcome', 'dev-1', 'W%_']));
    expect(q.sql).toContain('COALESCE(device_id = $');
    expect(q.sql).toContain('COALESCE(strpos(lower(channel), lower($');
  });

  it('binds a missing current field as null, so that nothing matches it', () => {
    const q = sqlOf({ fn: 'count', where: cmp({ field: 'deviceId' }, 'eq', { current: 'deviceId' }) });
    expect(q.sql).toMatch(/COALESCE\(device_id = \$5::text, false\)/);
    expect(q.params[4]).toBeNull();
  });

  it('binds watchlist entries as one array', () => {
    const q = sqlOf(
      { fn: 'count', where: cmp({ field: 'counterpartyRef' }, 'in', { list: 'SANCTIONED' }) },
      { list: (code) => new Set(code === 'SANCTIONED' ? ['ACME', 'EVIL'] : []) },
    );
    expect(q.sql).toMatch(/COALESCE\(counterparty_ref = ANY\(\$5::text\[\]\), false\)/);
    expect(q.params[4]).toEqual(['ACME', 'EVIL']);
  });

  it.each([
    [cmp({ field: 'country' }, 'notIn', { value: ['NL'] }), /COALESCE\(country <> ALL\(\$5::text\[\]\), false\)/],
    [cmp({ field: 'amount' }, 'in', { value: [1, 2] }), /COALESCE\(amount = ANY\(\$5::numeric\[\]\), false\)/],
    [cmp({ field: 'flags' }, 'in', { value: ['THREAT'] }), /COALESCE\(\(flags && \$5::text\[\]\), false\)/],
    [cmp({ field: 'flags' }, 'notIn', { value: ['THREAT'] }), /COALESCE\(NOT \(flags && \$5::text\[\]\), false\)/],
    [cmp({ field: 'flags' }, 'contains', { value: 'THREAT' }), /COALESCE\(\$5::text = ANY\(flags\), false\)/],
    [cmp({ field: 'amount' }, 'gte', { value: 10 }), /COALESCE\(amount >= \$5::numeric, false\)/],
    [cmp({ field: 'amount' }, 'lt', { mul: [{ current: 'amount' }, { value: 2 }] }), /COALESCE\(amount < \$5::numeric, false\)/],
    [cmp({ field: 'amount' }, 'lt', { mul: [{ field: 'attributes.qty' }, { value: 2 }] }), /COALESCE\(amount < \(\(CASE .*\) \* \$6::numeric\), false\)/],
    [cmp({ field: 'deviceId' }, 'eq', { value: null }), /\(device_id IS NULL\)/],
    [cmp({ field: 'attributes.x' }, 'ne', { value: null }), /\(\(attributes ->> \$5::text\) IS NOT NULL\)/],
    [cmp({ field: 'attributes.vip' }, 'eq', { value: true }), /= \$6::boolean, false\)/],
    [{ not: cmp({ field: 'channel' }, 'eq', { value: 'WEB' }) }, /\(NOT COALESCE\(channel = \$5::text, false\)\)/],
    [{ any: [cmp({ field: 'channel' }, 'eq', { value: 'A' }), cmp({ field: 'channel' }, 'eq', { value: 'B' })] }, /\(COALESCE\(.*\) OR COALESCE\(.*\)\)/],
    [cmp({ field: 'attributes.fields' }, 'contains', { value: 'email' }), /CASE jsonb_typeof\(.*\) WHEN 'string' THEN .* WHEN 'array' THEN .*@> jsonb_build_array/],
  ])('%j', (where, shape) => {
    expect(sqlOf({ fn: 'count', where }).sql).toMatch(shape);
  });

  it('decides comparisons that read no past event now, with the evaluator', () => {
    const where = { all: [cmp({ current: 'channel' }, 'eq', { value: 'WEB' }), cmp({ current: 'flags' }, 'contains', { value: 'X' })] };
    expect(sqlOf({ fn: 'count', where }, { event: { channel: 'WEB', flags: ['X'] } }).sql).toContain('(TRUE AND TRUE)');
    expect(sqlOf({ fn: 'count', where }, { event: { channel: 'APP', flags: ['X'] } }).sql).toContain('(FALSE AND TRUE)');
  });

  it("binds the customer's attributes like current fields", () => {
    const where = cmp({ field: 'amount' }, 'gt', { mul: [{ customer: 'transactionLimit' }, { value: 0.5 }] });
    const q = sqlOf({ fn: 'count', where }, { customer: { transactionLimit: '1000.00' } });
    expect(q.sql).toMatch(/COALESCE\(amount > \$5::numeric, false\)/);
    expect(q.params[4]).toBe('500');
    const statusOnly = cmp({ customer: 'status' }, 'eq', { value: 'RESTRICTED' });
    expect(sqlOf({ fn: 'count', where: statusOnly }, { customer: { status: 'RESTRICTED' } }).sql).toContain('FILTER (WHERE type = ANY($3::text[]) AND occurred_at > $2::timestamptz - $4::interval AND TRUE)');
    expect(sqlOf({ fn: 'count', where: statusOnly }, { customer: { status: 'ACTIVE' } }).sql).toContain('AND FALSE)');
  });

  it("orders a past event's attribute against the customer's level by position on the scale", () => {
    const q = sqlOf({ fn: 'count', where: cmp({ field: 'attributes.tier' }, 'gte', { customer: 'riskLevel' }) }, { customer: { riskLevel: 'HIGH' } });
    expect(q.sql).toMatch(/COALESCE\(array_position\(\$5::text\[\], \(CASE .*\)\) >= array_position\(\$5::text\[\], \$7::text\), false\)/);
    expect(q.params[4]).toEqual(['LOW', 'MEDIUM', 'HIGH', 'CRITICAL']);
    expect(q.params[6]).toBe('HIGH');
  });

  it('gives one text for every customer, whichever of their values happen to be equal', () => {
    const where = { all: [cmp({ field: 'attributes.tier' }, 'gte', { customer: 'riskLevel' }), cmp({ field: 'attributes.band' }, 'eq', { customer: 'creditLevel' })] };
    const equal = sqlOf({ fn: 'count', where }, { customer: { riskLevel: 'HIGH', creditLevel: 'HIGH' } });
    const different = sqlOf({ fn: 'count', where }, { customer: { riskLevel: 'LOW', creditLevel: 'HIGH' } });
    expect(equal.sql).toBe(different.sql);
    expect(equal.params.filter((p) => p === 'HIGH')).toHaveLength(2);
  });

  it('passes a current decimal amount as text so numeric keeps every digit', () => {
    const q = sqlOf({ fn: 'count', where: cmp({ field: 'amount' }, 'eq', { current: 'amount' }) }, { event: { amount: '12345678901234567.89' } });
    expect(q.params).toContain('12345678901234567.89');
  });
});

describe('buildAggregateQuery: last activity', () => {
  it('adds the previous activity as a column, excluding the current event', () => {
    const q = buildAggregateQuery(specsOf({ fn: 'sum', field: 'amount' }), input({ lastActivityExcluding: 'e-1' }))!;
    expect(q.sql).toContain(', (SELECT max(occurred_at) FROM event WHERE customer_id = $1 AND occurred_at <= $2::timestamptz AND id <> $5::uuid) AS last_activity FROM event WHERE');
    expect(q.params[4]).toBe('e-1');
    expect(q.keys).toHaveLength(1);
  });

  it('is a statement of its own when no aggregate is needed', () => {
    const q = buildAggregateQuery([], input({ lastActivityExcluding: 'e-1' }))!;
    expect(q.sql).toBe('SELECT (SELECT max(occurred_at) FROM event WHERE customer_id = $1 AND occurred_at <= $2::timestamptz AND id <> $3::uuid) AS last_activity');
    expect(q.keys).toEqual([]);
  });

  it('reads the column as a Date, null when there was none', () => {
    expect(readLastActivity({ last_activity: null })).toBeNull();
    expect(readLastActivity({})).toBeNull();
    expect(readLastActivity({ last_activity: new Date('2025-01-01T00:00:00Z') })!.toISOString()).toBe('2025-01-01T00:00:00.000Z');
    expect(readLastActivity({ last_activity: '2025-01-01T00:00:00Z' })!.toISOString()).toBe('2025-01-01T00:00:00.000Z');
  });
});

describe('readAggregateRow', () => {
  it('reads counts as numbers and sums or averages as exact decimal text, by key, keeping nulls', () => {
    const q = buildAggregateQuery([...specsOf({ fn: 'count' }), ...specsOf({ fn: 'avg', field: 'amount' })], input())!;
    const values = readAggregateRow(q, { a0: '3', a1: null });
    expect([...values.entries()]).toEqual([
      [q.keys[0], 3],
      [q.keys[1], null],
    ]);
    expect(readAggregateRow(q, { a0: 7, a1: '12.50' }).get(q.keys[1])).toBe('12.50');
    // More digits than a double holds: kept as text (a double would read 1e18 and 1000.0233333333334).
    const big = readAggregateRow(q, { a0: '9007199254740993', a1: '1000.0233333333333333' });
    expect([...big.values()]).toEqual(['9007199254740993', '1000.0233333333333333']);
    expect([...readAggregateRow(q, { a0: 5n, a1: 'NaN' }).values()]).toEqual([5, null]);
  });
});
