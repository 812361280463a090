import type { EntityManager } from 'typeorm';
import type { ConnectionShape, PageArgs } from './connection';
import { decodeCursor, encodeCursor, pageSize, type CursorKind } from './cursor';

export interface BatchedConnectionQuery {
  /** Table (or subquery) holding the child rows. */
  table: string;
  /** Column naming the parent, e.g. `customer_id`. */
  parentColumn: string;
  /** Ordering column; ties are broken by `id` (a uuid). Both values go into the cursor. */
  orderColumn: string;
  /** The ordering column's type, against which a cursor's first value is checked. */
  orderKind: CursorKind;
  direction?: 'ASC' | 'DESC';
  /** Extra SQL condition on the child rows (no user input), e.g. `status = 'OPEN'`. */
  where?: string;
}

/**
 * One SQL statement for the same page of children of many parents (a list of customers each showing its
 * consents, say): window functions number and count rows per parent, so the statement count does not grow
 * with the number of parents. Feed it from a DataLoader keyed by parent id.
 */
export async function loadBatchedConnections<Row extends { id: string }>(
  manager: EntityManager,
  query: BatchedConnectionQuery,
  parentIds: readonly string[],
  page: PageArgs,
  orderValue: (row: Row) => string | number,
): Promise<Map<string, ConnectionShape<Row>>> {
  const limit = pageSize(page);
  const dir = query.direction ?? 'ASC';
  const params: unknown[] = [parentIds];
  let cursorCondition = '';
  if (page.after) {
    const [value, id] = decodeCursor(page.after, [query.orderKind, 'uuid']);
    params.push(value, id);
    cursorCondition = `AND (${query.orderColumn}, id) ${dir === 'ASC' ? '>' : '<'} ($2, $3)`;
  }
  const where = query.where ? `AND (${query.where})` : '';
  const rows = (await manager.query(
    `SELECT * FROM (
       SELECT c.*,
              row_number() OVER (PARTITION BY ${query.parentColumn} ORDER BY ${query.orderColumn} ${dir}, id ${dir}) AS page_rn
         FROM ${query.table} c
        WHERE ${query.parentColumn} = ANY($1) ${where} ${cursorCondition}
     ) ranked
     WHERE page_rn <= ${limit + 1}
     ORDER BY ${query.parentColumn}, page_rn`,
    params,
  )) as Array<Row & Record<string, unknown>>;
  const counts = (await manager.query(
    `SELECT ${query.parentColumn} AS parent, count(*)::int AS total FROM ${query.table} WHERE ${query.parentColumn} = ANY($1) ${where} GROUP BY 1`,
    [parentIds],
  )) as Array<{ parent: string; total: number }>;
  const totals = new Map(counts.map((c) => [c.parent, c.total]));
  const grouped = new Map<string, Row[]>();
  for (const row of rows) {
    const parent = String(row[query.parentColumn]);
    if (!grouped.has(parent)) grouped.set(parent, []);
    grouped.get(parent)!.push(row);
  }
  const result = new Map<string, ConnectionShape<Row>>();
  for (const parentId of parentIds) {
    const all = grouped.get(parentId) ?? [];
    const nodes = all.slice(0, limit);
    const last = nodes[nodes.length - 1];
    result.set(parentId, {
      nodes,
      totalCount: totals.get(parentId) ?? 0,
      pageInfo: { hasNextPage: all.length > limit, endCursor: last ? encodeCursor([orderValue(last), last.id]) : null },
    });
  }
  return result;
}
