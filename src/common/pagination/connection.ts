import { Type } from '@nestjs/common';
import { ArgsType, Field, Int, ObjectType, type FieldMiddleware } from '@nestjs/graphql';

@ObjectType({ description: 'Relay-style page information' })
export class PageInfo {
  @Field()
  hasNextPage!: boolean;

  @Field(() => String, { nullable: true, description: 'Opaque cursor to pass as `after` for the next page' })
  endCursor!: string | null;
}

export const DEFAULT_PAGE_SIZE = 20;
export const MAX_PAGE_SIZE = 100;

/** `first` (≤ 100, default 20) and `after` (an opaque cursor from `pageInfo.endCursor`). */
@ArgsType()
export class PageArgs {
  @Field(() => Int, { nullable: true, defaultValue: DEFAULT_PAGE_SIZE, description: `Page size, 0–${MAX_PAGE_SIZE}` })
  first?: number;

  @Field(() => String, { nullable: true })
  after?: string;
}

export interface ConnectionShape<T> {
  nodes: T[];
  pageInfo: PageInfo;
  /** A number, or a function GraphQL calls only when the client selects `totalCount` (saves a COUNT). */
  totalCount: number | (() => Promise<number>);
}

/**
 * A `totalCount` counted only if the client selects it; at once inside a transaction, which may be over by
 * the time the field resolves.
 */
export async function lazyTotal(count: () => Promise<number>, inTransaction: boolean): Promise<ConnectionShape<unknown>['totalCount']> {
  let counted: Promise<number> | undefined;
  const once = () => (counted ??= count());
  return inTransaction ? once() : once;
}

/** Resolves a lazily counted `totalCount` (see ConnectionShape): the COUNT runs only when selected. */
const countWhenSelected: FieldMiddleware = async (_ctx, next) => {
  const value: unknown = await next();
  return typeof value === 'function' ? (value as () => Promise<number>)() : value;
};

/**
 * Builds a `<Name>Connection` type for a node type. Every list in the API is one of these, so clients
 * paginate the same way everywhere.
 */
export function Connection<T>(nodeType: Type<T>, name?: string): Type<ConnectionShape<T>> {
  const typeName = name ?? `${nodeType.name}Connection`;

  @ObjectType(typeName, { isAbstract: false })
  class ConnectionType implements ConnectionShape<T> {
    @Field(() => [nodeType])
    nodes!: T[];

    @Field(() => PageInfo)
    pageInfo!: PageInfo;

    @Field(() => Int, { description: 'Rows matching the filter, all pages together', middleware: [countWhenSelected] })
    totalCount!: number;
  }
  Object.defineProperty(ConnectionType, 'name', { value: typeName });
  return ConnectionType;
}
