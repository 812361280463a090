/**
 * How deeply an input value may nest (objects and arrays). GraphQL's JSON scalar accepts any depth, but
 * class-transformer copies inputs recursively and runs out of stack near a thousand levels (a 10 kB body),
 * which would answer INTERNAL_SERVER_ERROR. Far above what any input needs: a rule condition at its own limit
 * of 16 levels nests about 50 deep.
 */
export const MAX_INPUT_NESTING = 100;

/**
 * The top-level key (or index) under which `value` nests deeper than `max`, or null. Iterative, so the check
 * itself cannot overflow the stack.
 */
export function tooDeeplyNested(value: unknown, max = MAX_INPUT_NESTING): string | null {
  if (value === null || typeof value !== 'object') return null;
  for (const [key, child] of Object.entries(value)) {
    const stack: Array<[unknown, number]> = [[child, 1]];
    while (stack.length) {
      const [node, depth] = stack.pop()!;
      if (node === null || typeof node !== 'object') continue;
      if (depth > max) return key;
      for (const next of Object.values(node)) if (next !== null && typeof next === 'object') stack.push([next, depth + 1]);
    }
  }
  return null;
}
