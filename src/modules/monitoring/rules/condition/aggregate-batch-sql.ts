import type { AggregateQuery } from './aggregate-sql';

/** The aggregate queries of a batch of events as one statement; its rows are `{ ord, r }`, `r` the query's row. */
export interface AggregateBatch {
  sql: string;
  params: unknown[];
}

/**
 * One statement for the aggregate queries of many events (`buildAggregateQuery`, one per event), so a batch
 * costs one round trip whatever its size. Queries of the same text — the same rules, the same folded
 * constants — form a group, joined LATERAL over the group's rows: one JSON array per event holding its
 * ordinal and the parameters that differ between the group's events. Parameters equal across the group
 * stay bind parameters, so the constants of index conditions and LIMIT caps are planned as before; the
 * per-event ones (customer, occurredAt, `current` values, the ids a window leaves out) are columns of the
 * row, of the type the query cast them to. Typed once per event by `jsonb_to_recordset`: cast inside the
 * query, each was converted again for every row the query scanned, so an event leaving out n later events
 * of its customer parsed that list once per stored event it read (a call of 200 events of one customer at
 * one instant took seconds, of 1 000 past the statement timeout). The groups are glued with UNION ALL; each row's columns come back as one jsonb object, where
 * counts are JSON numbers and sums, averages and maxima JSON strings: `buildAggregateQuery` returns those as
 * text, since a numeric in jsonb would reach JS as a double missing digits (see `readAggregateRow`).
 */
export function combineAggregateQueries(queries: ReadonlyArray<{ ord: number; query: AggregateQuery }>): AggregateBatch | null {
  if (!queries.length) return null;
  const groups = new Map<string, Array<{ ord: number; query: AggregateQuery }>>();
  for (const q of queries) {
    const group = groups.get(q.query.sql);
    if (group) group.push(q);
    else groups.set(q.query.sql, [q]);
  }
  const params: unknown[] = [];
  const branches: string[] = [];
  for (const [text, members] of groups) {
    const { params: firstParams, casts } = members[0].query;
    const refs: string[] = [];
    const varying: number[] = [];
    const columns = ['ord int'];
    firstParams.forEach((value, i) => {
      const key = paramKey(value);
      if (members.some((m) => paramKey(m.query.params[i]) !== key)) {
        varying.push(i);
        columns.push(`p${varying.length} ${casts[i]}`);
        refs.push(`batch_row.p${varying.length}`);
      } else {
        params.push(value ?? null);
        refs.push(`$${params.length}::${casts[i]}`);
      }
    });
    params.push(JSON.stringify(members.map((m) => Object.fromEntries([['ord', m.ord], ...varying.map((i, j) => [`p${j + 1}`, asText(m.query.params[i])])]))));
    const rows = `$${params.length}::jsonb`;
    const body = text.replace(/\$(\d+)/g, (_, n: string) => refs[Number(n) - 1]);
    branches.push(`SELECT batch_row.ord, to_jsonb(q) AS r FROM jsonb_to_recordset(${rows}) AS batch_row(${columns.join(', ')}) CROSS JOIN LATERAL (${body}) AS q`);
  }
  return { sql: branches.join(' UNION ALL '), params };
}

const paramKey = (v: unknown): string => JSON.stringify(v instanceof Date ? v.toISOString() : (v ?? null));

/** A parameter as the text its cast reads: arrays as PostgreSQL array literals. */
function asText(v: unknown): string | null {
  if (v === null || v === undefined) return null;
  if (v instanceof Date) return v.toISOString();
  if (Array.isArray(v)) return `{${v.map((x) => (x === null || x === undefined ? 'NULL' : `"${String(x).replace(/[\\"]/g, '\\$&')}"`)).join(',')}}`;
  return String(v);
}
