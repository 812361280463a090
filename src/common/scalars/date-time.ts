import { GraphQLError, GraphQLScalarType, Kind, type ValueNode } from 'graphql';
import { BadUserInputError } from '../errors/app-error';
import { ErrorCode } from '../errors/error-codes';

/**
 * The time of day and offset that end an instant: `Thh:mm[:ss[.fffffffff]]` and `Z` or `±hh[[:]mm]`.
 * Without an offset, ISO-8601 means the local time of an unstated zone, which the server would read in its
 * own; so every instant the API takes must carry one. Shared by the `DateTime` scalar and
 * `EventInput.occurredAt` (a String checked against it, `EVENT_PATTERNS.occurredAt`).
 */
export const INSTANT_TIME = /T(?<hour>\d{2}):(?<minute>\d{2})(?::(?<second>\d{2})(?:\.(?<fraction>\d{1,9}))?)?(?<offset>Z|[+-]\d{2}(?::?\d{2})?)$/i;

/** A whole instant: a calendar date (extended form, `YYYY-MM-DD`) followed by INSTANT_TIME. */
const INSTANT = new RegExp(`^(?<year>\\d{4})-(?<month>\\d{2})-(?<day>\\d{2})${INSTANT_TIME.source}`, INSTANT_TIME.flags);
/** Shapes refused with a reason of their own: a local date-time (no offset) and a bare date. */
const LOCAL_DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?$/i;
const BARE_DATE = /^\d{4}-\d{2}-\d{2}$/;
/** Longer than any instant INSTANT accepts (35 characters): not worth a regular expression. */
const MAX_LENGTH = 64;

const EXAMPLE = 'such as 2026-01-31T09:30:00Z or 2026-01-31T10:30:00+01:00';

/**
 * Why a date-time input was refused, worded to follow the field's name (the scalar says "DateTime must …",
 * an event's `occurredAt` gets them as its field error). They never repeat the value (an input may be
 * anything, PII included: SPEC §4).
 */
export const DATE_TIME_REASONS = {
  notString: `must be a string: an ISO-8601 date-time with its offset, ${EXAMPLE}`,
  noOffset: `must carry its offset (Z or ±hh:mm): a local time without one is ambiguous, ${EXAMPLE}`,
  bareDate: `must be a date-time with its offset, not a bare date: ${EXAMPLE}`,
  format: `must be an ISO-8601 date-time with its offset (Z or ±hh:mm), ${EXAMPLE}`,
  range: 'must be a real date and time (month 01-12, a day of that month, hour 00-23, minute and second 00-59, offset up to ±23:59)',
} as const;

/**
 * The instant an ISO-8601 date-time with an offset names, or the reason it is refused. Computed from its
 * parts rather than by `Date.parse`, whose leniency (local time, years 0-99, rolled-over days) is what this
 * scalar exists to refuse. Fractions beyond milliseconds are truncated (a JS Date holds milliseconds).
 */
export function parseInstant(value: unknown): Date | { reason: string } {
  if (typeof value !== 'string') return { reason: DATE_TIME_REASONS.notString };
  if (value.length > MAX_LENGTH) return { reason: DATE_TIME_REASONS.format };
  const parts = INSTANT.exec(value)?.groups;
  if (!parts) {
    if (LOCAL_DATE_TIME.test(value)) return { reason: DATE_TIME_REASONS.noOffset };
    if (BARE_DATE.test(value)) return { reason: DATE_TIME_REASONS.bareDate };
    return { reason: DATE_TIME_REASONS.format };
  }
  const [year, month, day, hour, minute, second] = [parts.year, parts.month, parts.day, parts.hour, parts.minute, parts.second ?? '0'].map(Number);
  const millisecond = parts.fraction ? Number(parts.fraction.padEnd(3, '0').slice(0, 3)) : 0;
  let offsetMinutes = 0;
  if (parts.offset.toUpperCase() !== 'Z') {
    const digits = parts.offset.slice(1).replace(':', '');
    const [offsetHour, offsetMinute] = [Number(digits.slice(0, 2)), Number(digits.slice(2) || '0')];
    if (offsetHour > 23 || offsetMinute > 59) return { reason: DATE_TIME_REASONS.range };
    offsetMinutes = (parts.offset[0] === '-' ? -1 : 1) * (offsetHour * 60 + offsetMinute);
  }
  if (month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || second > 59) return { reason: DATE_TIME_REASONS.range };
  // setUTCFullYear, not Date.UTC: the latter maps years 0-99 to 1900-1999.
  const local = new Date(0);
  local.setUTCFullYear(year, month - 1, day);
  local.setUTCHours(hour, minute, second, millisecond);
  if (local.getUTCFullYear() !== year || local.getUTCMonth() !== month - 1 || local.getUTCDate() !== day) {
    return { reason: DATE_TIME_REASONS.range }; // 2026-02-30 rolled over into March
  }
  return new Date(local.getTime() - offsetMinutes * 60_000);
}

/**
 * The refusal, shaped for both of graphql-js's paths. A variable: graphql-js hands this error to the
 * coercion callback as is, and `variablesError` (src/graphql/variable-errors.ts) words its fieldErrors from a
 * "<Type> cannot represent" message plus the application error inside (our reason). An inline literal:
 * Apollo wraps it as a validation error keeping the error inside, which the error formatter unwraps to
 * BAD_USER_INPUT with our reason as the message; `node` gives it the literal's location.
 */
function refusal(reason: string, node?: ValueNode): GraphQLError {
  const said = `DateTime ${reason}`;
  return new GraphQLError(`DateTime cannot represent this value: ${said}`, {
    nodes: node,
    originalError: new BadUserInputError(said),
    extensions: { code: ErrorCode.BAD_USER_INPUT },
  });
}

function parseInput(value: unknown, node?: ValueNode): Date {
  const parsed = parseInstant(value);
  if (parsed instanceof Date) return parsed;
  throw refusal(parsed.reason, node);
}

/**
 * `DateTime`, in place of Nest's GraphQLISODateTime (which reads any input with `new Date(value)`: an
 * Invalid Date reached SQL, a local time was read in the server's zone). Same name and the same output
 * (`Date#toISOString()`, UTC with milliseconds; null for anything but a Date, as GraphQLISODateTime did);
 * inputs must be ISO-8601 date-times with an offset, anything else is BAD_USER_INPUT. Registered for the
 * `Date` type in `buildSchemaOptions.scalarsMap`, so every `Date`-typed field and argument uses it.
 */
export const DateTimeScalar = new GraphQLScalarType<Date, string | null>({
  name: 'DateTime',
  description: 'An instant as an ISO-8601 date-time string. Outputs are UTC, such as 2019-12-03T09:54:33.000Z; inputs must carry their offset (Z or ±hh:mm), such as 2019-12-03T09:54:33Z or 2019-12-03T10:54:33+01:00.',
  serialize(value) {
    return value instanceof Date ? value.toISOString() : null;
  },
  parseValue(value) {
    return parseInput(value);
  },
  parseLiteral(ast: ValueNode) {
    if (ast.kind !== Kind.STRING) throw refusal(DATE_TIME_REASONS.notString, ast);
    return parseInput(ast.value, ast);
  },
});
