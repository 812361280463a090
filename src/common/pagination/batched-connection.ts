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
  /** The ordering column's type: how a row's value is written into its cursor, and checked when read back. */
  orderKind: CursorKind;
  direction?: 'ASC' | 'DESC';
  /** Extra SQL condition on the child rows (no user input), e.g. `status = 'OPEN'`. */
  where?: string;
}

/**
 * One SQL statement for the same page of children of many parents (a list of customers each showing its
 * events, say), so the statement count does not grow with the number of parents. Each parent's page is its
 * own index-ordered scan with `LIMIT first + 1` (a LATERAL join over the parent ids): a parent with a
 * million children costs what one with ten does. The per-parent totals are one more statement, run only if
 * the client selects `totalCount`. Feed it from a DataLoader keyed by parent id: the pages come back in the
 * order of `parentIds`, each row turned into the node the API serves by `toNode` (given the index of its
 * parent, for what the parent carries and its rows do not).
 */
export async function loadBatchedConnections<Row extends { id: string }, Node>(
  manager: EntityManager,
  query: BatchedConnectionQuery,
  parentIds: readonly string[],
  page: PageArgs,
  toNode: (row: Row, parentIndex: number) => Node,
): Promise<Array<ConnectionShape<Node>>> {
  const limit = pageSize(page);
  const dir = query.direction ?? 'ASC';
  const params: unknown[] = [parentIds];
  let cursorCondition = '';
  if (page.after) {
    const [value, id] = decodeCursor(page.after, [query.orderKind, 'uuid']);
    params.push(value, id);
    cursorCondition = `AND (c.${query.orderColumn}, c.id) ${dir === 'ASC' ? '>' : '<'} ($2, $3)`;
  }
  const where = query.where ? `AND (${query.where})` : '';
  const rows = (await manager.query(
    `SELECT c.* FROM unnest($1::uuid[]) WITH ORDINALITY AS batch_parent(parent_id, ord)
     CROSS JOIN LATERAL (
       SELECT * FROM ${query.table} c
        WHERE c.${query.parentColumn} = batch_parent.parent_id ${where} ${cursorCondition}
        ORDER BY c.${query.orderColumn} ${dir}, c.id ${dir}
        LIMIT ${limit + 1}
     ) c
     ORDER BY batch_parent.ord, c.${query.orderColumn} ${dir}, c.id ${dir}`,
    params,
  )) as Array<Row & Record<string, unknown>>;
  let counting: Promise<Map<string, number>> | undefined;
  const totals = () =>
    (counting ??= (
      manager.query(`SELECT ${query.parentColumn} AS parent, count(*)::int AS total FROM ${query.table} WHERE ${query.parentColumn} = ANY($1) ${where} GROUP BY 1`, [parentIds]) as Promise<
        Array<{ parent: string; total: number }>
      >
    ).then((counts) => new Map(counts.map((c) => [c.parent, c.total]))));
  // Inside a transaction the count cannot wait for the field resolver: the transaction may be over by then.
  const eager = manager.queryRunner?.isTransactionActive ? await totals() : undefined;
  const grouped = new Map<string, Row[]>();
  for (const row of rows) {
    const parent = String(row[query.parentColumn]);
    if (!grouped.has(parent)) grouped.set(parent, []);
    grouped.get(parent)!.push(row);
  }
  return parentIds.map((parentId, parentIndex) => {
    const all = grouped.get(parentId) ?? [];
    const rowsOfPage = all.slice(0, limit);
    const last = rowsOfPage[rowsOfPage.length - 1];
    return {
      nodes: rowsOfPage.map((row) => toNode(row, parentIndex)),
      totalCount: eager ? (eager.get(parentId) ?? 0) : async () => (await totals()).get(parentId) ?? 0,
      pageInfo: { hasNextPage: all.length > limit, endCursor: last ? encodeCursor([cursorValue(last[query.orderColumn as keyof Row], query.orderKind), last.id]) : null },
    };
  });
}

/** A row's ordering value as its cursor carries it, read back by `decodeCursor` as `kind`. */
function cursorValue(value: unknown, kind: CursorKind): string | number {
  if (kind === 'timestamptz') return new Date(value as Date | string).toISOString();
  if (kind === 'int') return Number(value);
  return String(value);
}
