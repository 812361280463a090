/**
 * How deeply an input value may nest (objects and arrays). GraphQL's JSON scalar accepts any depth, but
 * class-transformer copies inputs recursively and runs out of stack near a thousand levels (a 10 kB body),
 * which would answer INTERNAL_SERVER_ERROR. Far above what any input needs: a rule condition at its own limit
 * of 16 levels nests about 50 deep.
 */
export const MAX_INPUT_NESTING = 100;

/** What `inputShapeError` found wrong with an input, under which top-level key (or index). */
export interface InputShapeError {
  key: string;
  message: string;
}

/**
 * What class-transformer cannot copy in an input, checked before it tries, or null:
 * - nesting deeper than `max` (see MAX_INPUT_NESTING);
 * - an object with a key named `constructor` (in a JSON value: event attributes, a rule condition). The
 *   copier reads `value.constructor` as the object's class, and for `{"constructor": 1}` it throws, which
 *   would answer a client's key with an internal error.
 * Iterative, so the check itself cannot overflow the stack.
 */
export function inputShapeError(value: unknown, max = MAX_INPUT_NESTING): InputShapeError | null {
  if (value === null || typeof value !== 'object') return null;
  for (const [key, child] of Object.entries(value)) {
    if (key === 'constructor') return { key, message: CONSTRUCTOR_KEY_MESSAGE };
    const stack: Array<[unknown, number]> = [[child, 1]];
    while (stack.length) {
      const [node, depth] = stack.pop()!;
      if (node === null || typeof node !== 'object') continue;
      if (depth > max) return { key, message: `is nested too deeply (at most ${max} levels)` };
      if (!Array.isArray(node) && Object.prototype.hasOwnProperty.call(node, 'constructor')) return { key, message: CONSTRUCTOR_KEY_MESSAGE };
      for (const next of Object.values(node)) if (next !== null && typeof next === 'object') stack.push([next, depth + 1]);
    }
  }
  return null;
}

const CONSTRUCTOR_KEY_MESSAGE = 'must not use "constructor" as a key';
