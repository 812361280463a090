export * from './condition.types';
export * from './vocabulary';
export { parseDuration, MAX_WINDOW_MS } from './duration';
export { validateCondition, assertValidCondition } from './validate-condition';
export { compileCondition, compileWhere } from './compile-condition';
export { canonicalJson } from './aggregate-spec';
export { buildAggregateQuery, readAggregateRow, type AggregateQuery, type AggregateQueryInput } from './aggregate-sql';
export { computeAggregateInMemory } from './aggregate-memory';
export { DEFAULT_RULE_CONDITIONS, SANCTIONED_COUNTERPARTIES, type DefaultRule, type RuleAction, type RuleSeverity } from './default-rules';
