/**
 * The format of CONTENT_FLAG_WORDS_FILE and the built-in lists: flag name → words and phrases that set it
 * on communication content. Validated here, at boot, with the rest of the configuration; the matching
 * itself lives with the monitoring pipeline (`ContentFlagger`).
 */

/** Flag name → the words and phrases that set it. Order of names is the order flags are reported in. */
export type FlagWordLists = Record<string, string[]>;

export const FLAG_NAME_RE = /^[A-Z][A-Z0-9_]{0,39}$/;
export const FLAG_WORDS_LIMITS = { maxFlags: 50, maxWordsPerFlag: 1000, maxWordLength: 100 } as const;

export const DEFAULT_FLAG_WORDS: Readonly<FlagWordLists> = Object.freeze({
  THREAT: ['kill', 'hurt', 'bomb', 'shoot', 'threat', 'threaten', 'i will find you', 'destroy you'],
  FRAUD: [
    'fraud',
    'scam',
    'phishing',
    'stolen card',
    'money mule',
    'launder',
    'laundering',
    'fake invoice',
    'unauthorised payment',
    'unauthorized payment',
    'unauthorised transfer',
    'unauthorized transfer',
  ],
});

/**
 * Checks an untrusted value (parsed JSON) as word lists. Returns a one-line reason when it is not valid,
 * otherwise the lists with every word trimmed (NFC-normalised) and duplicates (ignoring case) dropped.
 */
export function validateFlagWords(value: unknown): string | FlagWordLists {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return 'must be a JSON object mapping flag names to lists of words, e.g. {"THREAT": ["kill"]}';
  }
  const entries = Object.entries(value as Record<string, unknown>);
  if (entries.length === 0) return 'must name at least one flag';
  if (entries.length > FLAG_WORDS_LIMITS.maxFlags) return `names ${entries.length} flags, at most ${FLAG_WORDS_LIMITS.maxFlags} are allowed`;
  const lists: FlagWordLists = {};
  for (const [flag, words] of entries) {
    if (!FLAG_NAME_RE.test(flag)) return `flag name ${JSON.stringify(flag.slice(0, 60))} must match ${FLAG_NAME_RE.source}`;
    if (!Array.isArray(words) || words.length === 0) return `${flag} must be a non-empty list of words`;
    if (words.length > FLAG_WORDS_LIMITS.maxWordsPerFlag) return `${flag} has ${words.length} words, at most ${FLAG_WORDS_LIMITS.maxWordsPerFlag} are allowed`;
    const seen = new Set<string>();
    const kept: string[] = [];
    for (const [i, word] of words.entries()) {
      const trimmed = typeof word === 'string' ? word.normalize('NFC').trim() : '';
      if (!trimmed || trimmed.length > FLAG_WORDS_LIMITS.maxWordLength) {
        return `${flag}[${i}] must be a non-empty string of at most ${FLAG_WORDS_LIMITS.maxWordLength} characters`;
      }
      const folded = trimmed.replace(/\s+/g, ' ').toLowerCase();
      if (seen.has(folded)) continue;
      seen.add(folded);
      kept.push(trimmed);
    }
    lists[flag] = kept;
  }
  return lists;
}
