import { BadUserInputError, type FieldError } from '../../../../common/errors/app-error';
import { isStorableText, UNSTORABLE_TEXT_MESSAGE } from '../../../../common/validation/text.decorators';
import { DURATION_HINT, MAX_WINDOW_MS, parseDuration } from './duration';
import type { Operand } from './condition.types';
import { resolveCompare, staticType } from './typing';
import {
  AGGREGATE_FNS,
  ATTRIBUTE_KEY_RE,
  COMPARE_OPS,
  CUSTOMER_ATTRIBUTES,
  EVENT_FIELDS,
  EVENT_TYPES,
  LIMITS,
  LIST_CODE_RE,
} from './vocabulary';

const CONDITION_KEYS = ['all', 'any', 'not', 'compare'] as const;
const OPERAND_KEYS = ['value', 'field', 'customer', 'aggregate', 'current', 'list', 'mul'] as const;
const COMPARE_KEYS = ['left', 'op', 'right'];
const AGGREGATE_KEYS = ['fn', 'field', 'eventTypes', 'window', 'offset', 'where'];

interface State {
  root: string;
  errors: FieldError[];
  nodes: number;
  stopped: boolean;
}

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
const oneOf = (xs: readonly string[]) => xs.join(', ');

/**
 * Checks a rule condition (SPEC §5) and returns every problem, each naming the bad node by its dotted path
 * from `rootPath` (`condition.all.0.compare.op`). An empty array means `compileCondition` will accept it.
 */
export function validateCondition(json: unknown, rootPath = 'condition'): FieldError[] {
  const st: State = { root: rootPath, errors: [], nodes: 0, stopped: false };
  condition(json, rootPath, 1, false, st);
  return st.errors;
}

/** Throws `BAD_USER_INPUT` carrying every field error when the condition is not valid. */
export function assertValidCondition(json: unknown, rootPath = 'condition'): void {
  const errors = validateCondition(json, rootPath);
  if (errors.length) throw invalidConditionError(errors);
}

/** The one error shape for a refused condition: the first problem in the message, every one in `fieldErrors`. */
export function invalidConditionError(errors: FieldError[]): BadUserInputError {
  const first = `${errors[0].path} ${errors[0].message}`;
  const more = errors.length > 1 ? ` (and ${errors.length - 1} more)` : '';
  return new BadUserInputError(`Invalid rule condition: ${first}${more}`, errors);
}

function fail(st: State, path: string, message: string): void {
  st.errors.push({ path, message });
}

/** Counts a node and enforces the size limits; false means: do not look inside. */
function enter(st: State, path: string, depth: number): boolean {
  if (st.stopped) return false;
  if (++st.nodes > LIMITS.maxNodes) {
    st.stopped = true;
    fail(st, st.root, `has more than ${LIMITS.maxNodes} conditions and operands`);
    return false;
  }
  if (depth > LIMITS.maxDepth) {
    fail(st, path, `is nested too deeply (at most ${LIMITS.maxDepth} levels of conditions and operands)`);
    return false;
  }
  return true;
}

/** The one key of a node, or null after reporting why there is not exactly one known key. */
function singleKey(st: State, node: unknown, path: string, allowed: readonly string[], what: string): string | null {
  if (!isObject(node)) {
    fail(st, path, `must be ${what} object with exactly one of ${oneOf(allowed)}`);
    return null;
  }
  const keys = Object.keys(node);
  if (keys.length !== 1) {
    const found = keys.length ? `; found ${oneOf(keys)}` : '';
    fail(st, path, `must have exactly one of ${oneOf(allowed)}${found}`);
    return null;
  }
  if (!allowed.includes(keys[0])) {
    fail(st, `${path}.${keys[0]}`, `is not a known key; expected one of ${oneOf(allowed)}`);
    return null;
  }
  return keys[0];
}

function condition(node: unknown, path: string, depth: number, inWhere: boolean, st: State): void {
  if (!enter(st, path, depth)) return;
  const key = singleKey(st, node, path, CONDITION_KEYS, 'a condition');
  if (key === null) return;
  const body = (node as Record<string, unknown>)[key];
  const here = `${path}.${key}`;
  if (key === 'all' || key === 'any') {
    if (!Array.isArray(body) || body.length === 0) return fail(st, here, 'must be a non-empty array of conditions');
    body.forEach((c, i) => condition(c, `${here}.${i}`, depth + 1, inWhere, st));
  } else if (key === 'not') {
    condition(body, here, depth + 1, inWhere, st);
  } else {
    compare(body, here, depth, inWhere, st);
  }
}

function compare(node: unknown, path: string, depth: number, inWhere: boolean, st: State): void {
  if (!isObject(node)) return fail(st, path, 'must be an object with left, op and right');
  for (const k of Object.keys(node)) {
    if (!COMPARE_KEYS.includes(k)) fail(st, `${path}.${k}`, 'is not allowed; a compare has left, op and right');
  }
  const before = st.errors.length;
  const op = node.op;
  if (op === undefined) fail(st, `${path}.op`, 'is required');
  else if (typeof op !== 'string' || !(COMPARE_OPS as readonly string[]).includes(op)) {
    fail(st, `${path}.op`, `must be one of ${oneOf(COMPARE_OPS)}`);
  }
  for (const side of ['left', 'right'] as const) {
    if (node[side] === undefined) fail(st, `${path}.${side}`, 'is required');
    else operand(node[side], `${path}.${side}`, depth + 1, inWhere, st);
  }
  if (st.errors.length !== before || st.stopped) return;
  const typed = resolveCompare(node.left as Operand, op as (typeof COMPARE_OPS)[number], node.right as Operand);
  if ('errors' in typed) typed.errors.forEach((e) => fail(st, `${path}.${e.rel}`, e.message));
}

function operand(node: unknown, path: string, depth: number, inWhere: boolean, st: State): void {
  if (!enter(st, path, depth)) return;
  const key = singleKey(st, node, path, OPERAND_KEYS, 'an operand');
  if (key === null) return;
  const body = (node as Record<string, unknown>)[key];
  const here = `${path}.${key}`;
  switch (key) {
    case 'value':
      return literal(body, here, st);
    case 'field':
      return fieldName(body, here, st);
    case 'current':
      if (!inWhere) return fail(st, path, "current is only allowed inside an aggregate's where (elsewhere use field)");
      return fieldName(body, here, st);
    case 'customer':
      if (typeof body !== 'string' || !(CUSTOMER_ATTRIBUTES as readonly string[]).includes(body)) {
        return fail(st, here, `must be one of ${oneOf(CUSTOMER_ATTRIBUTES)}`);
      }
      // Inside a where, a customer attribute is the evaluated customer's value, bound like `current`; the last
      // activity is read by the very statement that computes the aggregates, so it is not known yet there.
      if (inWhere && body === 'daysSinceLastActivity') {
        return fail(st, here, "daysSinceLastActivity cannot be used inside an aggregate's where: it is computed with the aggregates");
      }
      return;
    case 'list':
      if (typeof body !== 'string' || !LIST_CODE_RE.test(body)) {
        fail(st, here, 'must be a watchlist code (1–64 letters, digits, _, . or -)');
      }
      return;
    case 'mul':
      if (!Array.isArray(body) || body.length !== 2) return fail(st, here, 'must be an array of exactly two operands');
      body.forEach((o, i) => {
        const before = st.errors.length;
        operand(o, `${here}.${i}`, depth + 1, inWhere, st);
        const t = st.errors.length === before && !st.stopped ? staticType(o as Operand).kind : null;
        if (t === 'list') fail(st, `${here}.${i}`, 'a list can only be the right operand of in or notIn');
        else if (t !== null && t !== 'number' && t !== 'any') fail(st, `${here}.${i}`, 'mul multiplies numbers');
      });
      return;
    default:
      if (inWhere) return fail(st, path, "aggregates cannot be nested inside an aggregate's where");
      return aggregate(body, here, depth, st);
  }
}

/** What is wrong with a string literal (too long, or a character the rule could not be stored with), or null. */
function textProblem(x: string): string | null {
  if (x.length > LIMITS.maxStringLength) return `must be at most ${LIMITS.maxStringLength} characters`;
  return isStorableText(x) ? null : UNSTORABLE_TEXT_MESSAGE;
}

function literal(v: unknown, path: string, st: State): void {
  const scalar = (x: unknown) =>
    x === null || typeof x === 'boolean' || (typeof x === 'number' && Number.isFinite(x)) || typeof x === 'string';
  const problem = typeof v === 'string' ? textProblem(v) : null;
  if (problem) return fail(st, path, problem);
  if (scalar(v)) return;
  if (!Array.isArray(v)) return fail(st, path, 'must be a string, a finite number, a boolean, null or an array of those');
  if (v.length > LIMITS.maxArrayItems) return fail(st, path, `must have at most ${LIMITS.maxArrayItems} items`);
  v.forEach((x, i) => {
    if (!scalar(x)) return fail(st, `${path}.${i}`, 'must be a string, a finite number, a boolean or null');
    const itemProblem = typeof x === 'string' ? textProblem(x) : null;
    if (itemProblem) fail(st, `${path}.${i}`, itemProblem);
  });
}

function fieldName(v: unknown, path: string, st: State): void {
  if (typeof v === 'string' && v.startsWith('attributes.')) {
    if (!ATTRIBUTE_KEY_RE.test(v.slice('attributes.'.length))) {
      fail(st, path, 'attribute key must be 1–64 letters, digits or underscores (attributes.<key>)');
    }
  } else if (typeof v !== 'string' || !(EVENT_FIELDS as readonly string[]).includes(v)) {
    fail(st, path, `must be one of ${oneOf(EVENT_FIELDS)} or attributes.<key>`);
  }
}

function aggregate(node: unknown, path: string, depth: number, st: State): void {
  if (!isObject(node)) return fail(st, path, 'must be an object with fn, eventTypes and window');
  for (const k of Object.keys(node)) {
    if (!AGGREGATE_KEYS.includes(k)) fail(st, `${path}.${k}`, `is not allowed; an aggregate has ${oneOf(AGGREGATE_KEYS)}`);
  }
  const { fn, field, eventTypes, window, offset, where } = node;
  if (fn === undefined) fail(st, `${path}.fn`, 'is required');
  else if (typeof fn !== 'string' || !(AGGREGATE_FNS as readonly string[]).includes(fn)) {
    fail(st, `${path}.fn`, `must be one of ${oneOf(AGGREGATE_FNS)}`);
  } else if (fn === 'count') {
    // With a field, count counts the events where it holds a value (SQL's count(expr)); flags is never
    // missing, so counting flagged events is a `where` on it.
    if (field === 'flags') fail(st, `${path}.field`, 'must be a single-valued field, not flags: count flagged events with a where on flags');
    else if (field !== undefined) fieldName(field, `${path}.field`, st);
  } else if (field === undefined) {
    // SPEC makes `field` optional: sum, avg and max then read the amount, the one numeric column; a distinct
    // count has no such natural field.
    if (fn === 'distinctCount') fail(st, `${path}.field`, 'is required: distinctCount counts distinct values of a field');
  } else if (fn === 'distinctCount') {
    if (field === 'flags') fail(st, `${path}.field`, 'must be a single-valued field, not flags');
    else fieldName(field, `${path}.field`, st);
  } else if (field !== 'amount' && !(typeof field === 'string' && field.startsWith('attributes.'))) {
    fail(st, `${path}.field`, `must be amount or attributes.<key>: ${fn} needs a numeric field`);
  } else {
    fieldName(field, `${path}.field`, st);
  }

  if (eventTypes === undefined) fail(st, `${path}.eventTypes`, 'is required');
  else if (!Array.isArray(eventTypes) || eventTypes.length === 0) fail(st, `${path}.eventTypes`, 'must be a non-empty array of event types');
  else {
    eventTypes.forEach((t, i) => {
      if (typeof t !== 'string' || !(EVENT_TYPES as readonly string[]).includes(t)) {
        fail(st, `${path}.eventTypes.${i}`, `must be one of ${oneOf(EVENT_TYPES)}`);
      } else if (eventTypes.indexOf(t) !== i) fail(st, `${path}.eventTypes.${i}`, 'is listed twice');
    });
  }

  const windowMs = parseDuration(window);
  if (window === undefined) fail(st, `${path}.window`, 'is required');
  else if (windowMs === null) fail(st, `${path}.window`, DURATION_HINT);
  else if (windowMs === 0) fail(st, `${path}.window`, 'must be longer than zero');
  else if (windowMs > MAX_WINDOW_MS) fail(st, `${path}.window`, 'must be at most P90D');
  if (offset !== undefined) {
    const offsetMs = parseDuration(offset);
    if (offsetMs === null) fail(st, `${path}.offset`, DURATION_HINT);
    else if (windowMs !== null && windowMs <= MAX_WINDOW_MS && windowMs + offsetMs > MAX_WINDOW_MS) {
      fail(st, `${path}.offset`, 'plus window must be at most P90D (the longest look-back)');
    }
  }
  if (where !== undefined) condition(where, `${path}.where`, depth + 1, true, st);
}
