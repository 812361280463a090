/**
 * Communication content is flagged at ingest, then encrypted: rules see the flags, never the text.
 *
 * The word lists map a flag name to the words and phrases that set it. They are configurable
 * (`CONTENT_FLAG_WORDS_FILE`, read and validated once at boot); `DEFAULT_FLAG_WORDS` applies when no file
 * is given. Matching is case-insensitive and whole-word — a word must not be preceded or followed by a
 * letter, digit, combining mark or underscore in any script — and whitespace inside a phrase matches any
 * run of whitespace, line breaks included. There is no stemming: `scam` does not match `scammer`; list
 * each form that should count.
 */

import { DEFAULT_FLAG_WORDS, type FlagWordLists } from '../../../config/content-flag-words';

/** Characters that continue a word: letters, combining marks and digits of any script, and underscore. */
const WORD_CHAR = '[\\p{L}\\p{M}\\p{N}_]';
/** Regex syntax characters (and `/`), the only ones a unicode-mode pattern lets us escape. */
const SYNTAX_CHARS = /[\\^$.*+?()[\]{}|/]/g;

function phrasePattern(word: string): string {
  return word
    .normalize('NFC')
    .trim()
    .split(/\s+/)
    .map((part) => part.replace(SYNTAX_CHARS, '\\$&'))
    .join('\\s+');
}

/** One case-insensitive, whole-word regex per flag, in the lists' order. */
export function compileFlagPatterns(lists: Readonly<FlagWordLists>): Array<[flag: string, pattern: RegExp]> {
  return Object.entries(lists).map(([flag, words]) => {
    // Longest first, so a phrase is tried before a word it starts with (cheaper; the result is the same).
    const alternatives = [...new Set(words.map(phrasePattern))].sort((a, b) => b.length - a.length);
    return [flag, new RegExp(`(?<!${WORD_CHAR})(?:${alternatives.join('|')})(?!${WORD_CHAR})`, 'iu')];
  });
}

/** Flags content against one set of word lists, compiled once. */
export class ContentFlagger {
  private readonly patterns: Array<[string, RegExp]>;

  constructor(lists: Readonly<FlagWordLists> = DEFAULT_FLAG_WORDS) {
    this.patterns = compileFlagPatterns(lists);
  }

  /** The names of the flags whose words occur in the content, in the lists' order. */
  flag(content: string | null | undefined): string[] {
    if (!content) return [];
    const text = content.normalize('NFC');
    return this.patterns.filter(([, pattern]) => pattern.test(text)).map(([flag]) => flag);
  }
}
