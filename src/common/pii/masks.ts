/**
 * Masks for partly visible PII (SPEC §4). A mask never reveals more than its rule, and a value of four
 * characters or fewer is masked entirely.
 */
/** A fixed-width mask: a short value shows nothing, not even its length. */
const hideAll = (_value: string) => '****';

/** "Jane van Dyke" → "J* v* D*" */
export function maskFullName(value: string): string {
  if ([...value].length <= 4) return hideAll(value);
  return value
    .trim()
    .split(/\s+/)
    .map((word) => `${[...word][0]}*`)
    .join(' ');
}

/** "jane.doe@bank.example" → "j***@bank.example" */
export function maskEmail(value: string): string {
  const at = value.lastIndexOf('@');
  if (at <= 0 || value.length <= 4) return hideAll(value);
  return `${[...value][0]}***${value.slice(at)}`;
}

/** Everything but the last four characters becomes `*`: "+8613900001234" → "**********1234". */
export function maskTail4(value: string): string {
  const chars = [...value];
  if (chars.length <= 4) return hideAll(value);
  return '*'.repeat(chars.length - 4) + chars.slice(-4).join('');
}

export const maskPhone = maskTail4;
export const maskNationalId = maskTail4;
