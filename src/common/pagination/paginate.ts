import type { ObjectLiteral, SelectQueryBuilder } from 'typeorm';
import { lazyTotal, type ConnectionShape, type PageArgs } from './connection';
import { decodeCursor, encodeCursor, pageSize, type CursorKind } from './cursor';

export interface SortKey<T> {
  /** SQL expression on the query's alias, e.g. `c.created_at`. */
  column: string;
  /** The column's type, against which a cursor's value is checked before it reaches the query. */
  kind: CursorKind;
  /** Reads the same value from a loaded row, as written into the cursor. */
  value: (row: T) => string | number;
}

export interface PaginateOptions<T extends ObjectLiteral> {
  /** Sort keys, most significant first; the last must be unique (usually the id). */
  keys: SortKey<T>[];
  direction?: 'ASC' | 'DESC';
  /** For a list whose order the client chooses: its field and direction, bound into the cursors (see `encodeCursor`). */
  order?: string;
  /** Loads up to `limit` rows of the ordered page query; TypeORM entities (`getMany`) unless given. */
  load?: (query: SelectQueryBuilder<T>, limit: number) => Promise<T[]>;
}

/**
 * Keyset pagination over a TypeORM query: one query for the page (fetching one extra row to know whether
 * another page exists) and one COUNT for `totalCount`, both with the caller's filters and row scope. The
 * COUNT runs only if the client selects `totalCount` (GraphQL calls the function then), except on a query
 * bound to a transaction, which may be over by the time the field resolves: there it runs at once.
 */
export async function paginate<T extends ObjectLiteral>(
  query: SelectQueryBuilder<T>,
  args: PageArgs,
  options: PaginateOptions<T>,
): Promise<ConnectionShape<T>> {
  const limit = pageSize(args);
  const direction = options.direction ?? 'ASC';
  const countQuery = query.clone().orderBy();
  const pageQuery = query.clone();
  if (args.after) {
    const values = decodeCursor(args.after, options.keys.map((k) => k.kind), options.order);
    const op = direction === 'ASC' ? '>' : '<';
    const params = Object.fromEntries(values.map((v, i) => [`cursor_${i}`, v]));
    const lhs = options.keys.map((k) => k.column).join(', ');
    const rhs = values.map((_, i) => `:cursor_${i}`).join(', ');
    pageQuery.andWhere(`(${lhs}) ${op} (${rhs})`, params);
  }
  options.keys.forEach((k, i) => (i === 0 ? pageQuery.orderBy(k.column, direction) : pageQuery.addOrderBy(k.column, direction)));
  const inTransaction = (query as unknown as { queryRunner?: unknown }).queryRunner !== undefined;
  const [rows, totalCount] = await Promise.all([
    limit === 0 ? Promise.resolve([] as T[]) : options.load ? options.load(pageQuery, limit + 1) : pageQuery.take(limit + 1).getMany(),
    lazyTotal(() => countQuery.getCount(), inTransaction),
  ]);
  const hasNextPage = rows.length > limit;
  const nodes = hasNextPage ? rows.slice(0, limit) : rows;
  const last = nodes[nodes.length - 1];
  return {
    nodes,
    totalCount,
    pageInfo: { hasNextPage, endCursor: last ? encodeCursor(options.keys.map((k) => k.value(last)), options.order) : null },
  };
}
