import { readFileSync } from 'fs';
import { join } from 'path';
import * as argon2 from 'argon2';

export const PASSWORD_MIN_LENGTH = 12;
export const PASSWORD_MAX_LENGTH = 128;

/** Length in Unicode code points (not UTF-16 units): one emoji counts as one. */
export function passwordLength(s: string): number {
  let n = 0;
  for (const _ of s) n++;
  return n;
}

let commonPasswords: Set<string> | undefined;

/** The shipped list (lower-case, one per line), read lazily once. */
function loadCommonPasswords(): Set<string> {
  if (!commonPasswords) {
    const text = readFileSync(join(__dirname, 'common-passwords.txt'), 'utf8');
    const set = new Set<string>();
    for (const line of text.split(/\r?\n/)) {
      const entry = line.trim().toLowerCase();
      if (entry) set.add(entry);
    }
    commonPasswords = set;
  }
  return commonPasswords;
}

/** Case-insensitive membership in the shipped common-password list. */
export function isCommonPassword(candidate: string): boolean {
  return loadCommonPasswords().has(candidate.toLowerCase());
}

/**
 * SPEC password rules: 12–128 code points, not on the common list, not the current password.
 * No composition, strength-score or similarity rules.
 * @returns null when acceptable, otherwise a message to show after "Password ".
 */
export async function checkNewPassword(
  candidate: string,
  opts: { currentHash?: string } = {},
): Promise<string | null> {
  if (typeof candidate !== 'string') return `must be at least ${PASSWORD_MIN_LENGTH} characters`;
  const length = passwordLength(candidate);
  if (length < PASSWORD_MIN_LENGTH) return `must be at least ${PASSWORD_MIN_LENGTH} characters`;
  if (length > PASSWORD_MAX_LENGTH) return `must be at most ${PASSWORD_MAX_LENGTH} characters`;
  if (isCommonPassword(candidate)) return 'is too common';
  if (opts.currentHash) {
    let same = false;
    try {
      same = await argon2.verify(opts.currentHash, candidate);
    } catch {
      same = false; // malformed stored hash: cannot be equal
    }
    if (same) return 'must differ from the current password';
  }
  return null;
}
