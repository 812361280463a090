import { ApolloArmor } from '@escape.tech/graphql-armor';
import type { GraphQLError, GraphQLSchema, ValidationRule } from 'graphql';
import {
  fieldExtensionsEstimator,
  getComplexity,
  simpleEstimator,
  type ComplexityEstimator,
} from 'graphql-query-complexity';
import { QueryTooComplexError } from '../common/errors/app-error';
import { variablesError } from './variable-errors';
import { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE } from '../common/pagination/connection';
import type { AppConfig } from '../config/config';

/** Marker set on errors raised by a query limit, so the formatter can give them one code. */
export const LIMIT_MARKER = 'custosQueryLimit';

/**
 * Sized so that one `ingestEvents` document with 1000 inline events (under 1 MB) passes; depth, alias,
 * directive and cost limits still bound what such a document can ask for.
 */
export const MAX_TOKENS = 200_000;

const markRejection = (_ctx: unknown, error: GraphQLError) => {
  (error.extensions as Record<string, unknown>)[LIMIT_MARKER] = true;
};

/**
 * Depth, alias, directive and token limits from graphql-armor, checked during validation (before anything
 * executes). Cost is computed separately (see `costLimitPlugin` in plugins.ts) because it needs the operation's variables.
 */
export function armorProtection(config: AppConfig): { validationRules: ValidationRule[]; plugins: unknown[] } {
  // A fresh object (and `onReject` array) per rule: armor appends its reporter to the array it is given, so a
  // shared one reported each breach once per rule.
  const callbacks = () => ({ onReject: [markRejection], propagateOnRejection: true });
  const armor = new ApolloArmor({
    maxDepth: { n: config.graphql.maxDepth, ignoreIntrospection: true, flattenFragments: true, ...callbacks() },
    maxAliases: { n: config.graphql.maxAliases, ...callbacks() },
    maxDirectives: { n: config.graphql.maxDirectives, ...callbacks() },
    maxTokens: { n: MAX_TOKENS, ...callbacks() },
    costLimit: { enabled: false },
    // Suggestions ("Did you mean …") leak the schema when introspection is off.
    blockFieldSuggestion: { enabled: config.isProduction },
  });
  const { validationRules, plugins } = armor.protect();
  return { validationRules, plugins };
}

/** A list of `rows` rows, each costing what its selection costs (at least 1). */
const listCost = (rows: number, childComplexity: number) => 1 + rows * Math.max(childComplexity, 1);

/**
 * Lists multiply what they hold: a connection field costs `first` (default 20) × its children, so
 * `customers(first: 100) { nodes { alerts(first: 100) { … } } }` is priced as the 10 000 rows it could load.
 * A `first` above the page cap is priced at the cap: the resolver refuses it with BAD_USER_INPUT, which is
 * the answer the client should get, not QUERY_TOO_COMPLEX.
 */
const connectionEstimator: ComplexityEstimator = ({ field, args, childComplexity }) => {
  if (!field.args.some((a) => a.name === 'first')) return undefined;
  const first = typeof args.first === 'number' && args.first > 0 ? Math.min(args.first, MAX_PAGE_SIZE) : DEFAULT_PAGE_SIZE;
  return listCost(first, childComplexity);
};

/**
 * The `complexity` of a list field without `first`: priced as the most rows it can return, as a connection
 * is by its page, so its children's pages multiply (`repeatComplainants { customer { alerts(first: 100) … } }`
 * is 100 × 100 rows, not 100). Declare it on every such list that can hold many rows:
 * `@Query(() => [Row], { complexity: listOfAtMost(MAX_ROWS) })`. Undeclared lists are priced as one row.
 */
export function listOfAtMost(maxRows: number): (options: { childComplexity: number }) => number {
  return ({ childComplexity }) => listCost(maxRows, childComplexity);
}

type CostedDocument = Parameters<typeof getComplexity>[0]['query'];

/**
 * Costs already computed, per parsed document (Apollo hands the same document object to every request with
 * the same query text), operation name and shape of the variables (`costKey`). Bounded per document, so a
 * client varying its variables cannot grow it.
 */
const knownCosts = new WeakMap<object, Map<string, number>>();
const COSTS_PER_DOCUMENT = 64;

/**
 * What a cost depends on: the operation and the variables' shape — scalars as they are, a list by its length,
 * an input object by a marker. The cost functions read scalar arguments (`first`) and list lengths (the
 * events of `ingestEvents`), never what an input object holds, so two calls of one shape cost the same: a
 * batch of 1000 events is priced once, not coerced a second time on every call. (Its variables are still
 * coerced by the executor, which answers a bad one as pricing would: see CompiledExecution.) The markers
 * are objects, which no variable's own value serializes to here, so a string cannot pass for a list.
 */
export function costKey(variables: Record<string, unknown> | undefined, operationName: string | undefined): string {
  const shape = variables ? JSON.stringify(variables, (key, value: unknown) => {
    if (key === '' || value === null || typeof value !== 'object') return value;
    return Array.isArray(value) ? { length: value.length } : {};
  }) : '';
  return `${operationName ?? ''}\u0000${shape}`;
}

/** The cost of an operation with its variables; throws QUERY_TOO_COMPLEX above `maxCost`. */
export function assertCostWithinLimit(
  schema: GraphQLSchema,
  query: CostedDocument,
  variables: Record<string, unknown> | undefined,
  operationName: string | undefined,
  maxCost: number,
): number {
  const key = costKey(variables, operationName);
  let known = knownCosts.get(query);
  let cost = known?.get(key);
  if (cost === undefined) {
    cost = computeCost(schema, query, variables, operationName);
    if (!known) knownCosts.set(query, (known = new Map()));
    if (known.size >= COSTS_PER_DOCUMENT) known.clear();
    known.set(key, cost);
  }
  if (cost > maxCost) throw new QueryTooComplexError(`Query cost ${cost} exceeds the limit of ${maxCost}`);
  return cost;
}

function computeCost(schema: GraphQLSchema, query: CostedDocument, variables: Record<string, unknown> | undefined, operationName: string | undefined): number {
  let cost: number;
  try {
    cost = getComplexity({
      schema,
      query,
      variables: variables ?? {},
      operationName,
      estimators: [fieldExtensionsEstimator(), connectionEstimator, simpleEstimator({ defaultComplexity: 1 })],
    });
  } catch (error) {
    // The pricer stops counting past its node limit (10 000 fields once fragments are expanded) rather
    // than walk a document that names exponentially many.
    if (error instanceof Error && /maximum allowed number of nodes/.test(error.message)) throw new QueryTooComplexError('Query names too many fields once its fragments are expanded');
    // Pricing needs the variables' values, so their coercion fails here first: answer as graphql-js would
    // (every bad variable named), not as an internal error.
    throw variablesError(schema, query, variables, operationName) ?? error;
  }
  return cost;
}
