import { isEnum, isISO8601, isNotEmpty, isObject, isString, isUUID, matches, maxLength } from 'class-validator';
import { hasAtMostDecimals } from '../../../common/validation/decimal.decorators';
import { isStorableText } from '../../../common/validation/text.decorators';
import { EVENT_AMOUNT_DECIMALS, EVENT_CONTENT_MAX, EVENT_PATTERNS, EVENT_TEXT_MAX, EventInput, flatAttributes } from '../models/event.model';
import { EventType } from '../models/monitoring.enums';

type TextField = keyof typeof EVENT_TEXT_MAX;
const TEXT_FIELDS = Object.keys(EVENT_TEXT_MAX) as TextField[];
const absent = (v: unknown) => v === null || v === undefined;

/**
 * The fast lane of ingest validation. Taking a batch of 1 000 events through class-transformer and
 * class-validator cost about a sixth of the app's CPU for the call; here the very checks of EventInput's decorators run as the
 * plain functions class-validator exports, without its per-object metadata walk. Returns the input as
 * `plainToInstance(EventInput, raw)` would make it (text fields trimmed) when every check passes, or null:
 * then the caller runs class-validator, which alone words the errors. event-input-check.spec.ts holds the
 * two to the same verdicts and the same result, and fails when EventInput gains a field this lane ignores.
 */
export function wellFormedEvent(raw: unknown): EventInput | null {
  if (!isObject(raw) || inheritsAnyKey(raw)) return null;
  const input = Object.assign(new EventInput(), raw);
  const fields = input as unknown as Record<string, unknown>;
  for (const name of TEXT_FIELDS) {
    const v = fields[name];
    if (typeof v === 'string') {
      const trimmed = v.trim(); // as @Text's @Transform, before its checks
      if (!isNotEmpty(trimmed) || !maxLength(trimmed, EVENT_TEXT_MAX[name]) || !isStorableText(trimmed)) return null;
      fields[name] = trimmed;
    } else if (name === 'idempotencyKey' || !absent(v)) return null; // required, or present but not a string
  }
  if (!absent(input.customerId) && !isUUID(input.customerId, 'all')) return null;
  if (!isEnum(input.type, EventType)) return null;
  if (!isISO8601(input.occurredAt, { strict: true }) || !matches(input.occurredAt, EVENT_PATTERNS.occurredAt)) return null;
  if (!absent(input.amount) && !(isString(input.amount) && hasAtMostDecimals(input.amount, EVENT_AMOUNT_DECIMALS))) return null;
  for (const name of ['currency', 'country', 'ipAddress'] as const) {
    if (!absent(input[name]) && !matches(input[name], EVENT_PATTERNS[name])) return null;
  }
  if (!absent(input.content) && !(isString(input.content) && maxLength(input.content, EVENT_CONTENT_MAX))) return null;
  if (!absent(input.attributes)) {
    if (!(isObject(input.attributes) && flatAttributes(input.attributes)) || inheritsAnyKey(input.attributes)) return null;
    // plainToInstance gives a fresh plain object, its arrays copied; so does this lane.
    const copy: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(input.attributes)) copy[key] = Array.isArray(value) ? [...value] : value;
    input.attributes = copy;
  }
  return input;
}

/**
 * Does the object have a key a plain `{}` inherits (`__proto__`, `constructor`, `toString`…)? class-transformer
 * drops such keys when it copies, and assigning `__proto__` would change a prototype: the lane leaves these
 * objects to plainToInstance.
 */
function inheritsAnyKey(value: object): boolean {
  for (const key of Object.keys(value)) if (key in EMPTY) return true;
  return false;
}
const EMPTY: object = Object.freeze({});

/** The EventInput properties this lane checks (the spec compares them with the decorated ones). */
export const CHECKED_EVENT_FIELDS: readonly string[] = [
  ...TEXT_FIELDS, 'customerId', 'type', 'occurredAt', 'amount', 'currency', 'country', 'ipAddress', 'content', 'attributes',
];
