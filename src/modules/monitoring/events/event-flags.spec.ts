import { DEFAULT_FLAG_WORDS, validateFlagWords, type FlagWordLists } from '../../../config/content-flag-words';
import { compileFlagPatterns, ContentFlagger } from './event-flags';

/** Flags content against the built-in lists, as the pipeline does when no word-list file is configured. */
const defaultFlagger = new ContentFlagger(DEFAULT_FLAG_WORDS);
const flagContent = (content: string | null | undefined): string[] => defaultFlagger.flag(content);

describe('content flags', () => {
  describe('built-in lists', () => {
    it('flags threats and fraud words, case-insensitively', () => {
      expect(flagContent('I will KILL you')).toEqual(['THREAT']);
      expect(flagContent('this looks like a scam, possibly money mule activity')).toEqual(['FRAUD']);
      expect(flagContent('Thanks for the quick refund')).toEqual([]);
      expect(flagContent(null)).toEqual([]);
      expect(flagContent(undefined)).toEqual([]);
      expect(flagContent('')).toEqual([]);
    });

    it('keeps the vocabulary of the former patterns, every alternative spelled out', () => {
      const flagger = new ContentFlagger();
      for (const text of ['they threaten me', 'a threat', 'hurt', 'a bomb', 'shoot', 'I will find you', 'I will destroy you']) {
        expect(flagger.flag(text)).toEqual(['THREAT']);
      }
      for (const text of ['phishing mail', 'a stolen card', 'launder', 'money laundering', 'a fake invoice', 'an unauthorised payment', 'an unauthorized payment', 'unauthorised transfer', 'Unauthorized Transfer', 'fraud']) {
        expect(flagger.flag(text)).toEqual(['FRAUD']);
      }
      expect(flagger.flag('I will find you and this is fraud')).toEqual(['THREAT', 'FRAUD']);
      expect(flagger.flag('This is fraud; I will find you')).toEqual(['THREAT', 'FRAUD']);
    });

    it('matches whole words only, with no stemming', () => {
      expect(flagContent('skills and scampi')).toEqual([]);
      expect(flagContent('the killer app')).toEqual([]);
      // `scam` does not cover `scammer` or `scammed`: a list names each form that should count.
      expect(flagContent('a scammer scammed me')).toEqual([]);
      expect(flagContent('threatened')).toEqual([]);
      expect(flagContent('kill_switch and kill2')).toEqual([]);
      // Punctuation, quotes and line starts/ends are boundaries.
      expect(flagContent('"scam"')).toEqual(['FRAUD']);
      expect(flagContent('scam.')).toEqual(['FRAUD']);
      expect(flagContent('(kill)')).toEqual(['THREAT']);
    });

    it('treats non-ASCII letters as part of a word (the old \\b did not)', () => {
      expect(flagContent('killé')).toEqual([]);
      expect(flagContent('ükill')).toEqual([]);
      expect(flagContent('scam’s victims')).toEqual(['FRAUD']);
    });

    it('lets whitespace inside a phrase match any run of whitespace', () => {
      expect(flagContent('a stolen   card')).toEqual(['FRAUD']);
      expect(flagContent('a stolen\ncard')).toEqual(['FRAUD']);
      expect(flagContent('I\twill \r\n find  you')).toEqual(['THREAT']);
      expect(flagContent('stolencard')).toEqual([]);
      expect(flagContent('stolen-card')).toEqual([]);
    });

    it('are a frozen constant that validates', () => {
      expect(Object.isFrozen(DEFAULT_FLAG_WORDS)).toBe(true);
      expect(validateFlagWords(DEFAULT_FLAG_WORDS)).toEqual(DEFAULT_FLAG_WORDS);
    });
  });

  describe('configured lists', () => {
    it('replace the defaults and report flags in the lists’ order', () => {
      const flagger = new ContentFlagger({ MY_FLAG: ['chargeback'], FRAUD: ['betrug'] });
      expect(flagger.flag('this is a scam')).toEqual([]);
      expect(flagger.flag('Betrug! and a chargeback')).toEqual(['MY_FLAG', 'FRAUD']);
    });

    it('match case-insensitively in any script', () => {
      const flagger = new ContentFlagger({ FRAUD: ['betrug', 'überweisung erschlichen', 'мошенничество'] });
      expect(flagger.flag('Das ist BETRUG')).toEqual(['FRAUD']);
      expect(flagger.flag('ÜBERWEISUNG   ERSCHLICHEN')).toEqual(['FRAUD']);
      expect(flagger.flag('Это МОШЕННИЧЕСТВО.')).toEqual(['FRAUD']);
      // A longer word containing the listed one is another word.
      expect(flagger.flag('Betrugsversuch')).toEqual([]);
      expect(flagger.flag('Anlagebetrug')).toEqual([]);
    });

    it('treat composed and decomposed accents alike, and a trailing combining mark as part of the word', () => {
      const flagger = new ContentFlagger({ FRAUD: ['café'], OTHER: ['cafe'] });
      expect(flagger.flag('cafe\u0301')).toEqual(['FRAUD']);
      expect(flagger.flag('caf\u00e9')).toEqual(['FRAUD']);
      expect(flagger.flag('a cafe')).toEqual(['OTHER']);
    });

    it('escape regex metacharacters in words', () => {
      const flagger = new ContentFlagger({ META: ['a.b', '(x)', 'c++', 'a|b', '[z]', 'x*y', '$1', 'w/o', '\\d', 'a-b', '{2}', '^q?'] });
      expect(flagger.flag('axb')).toEqual([]);
      expect(flagger.flag('a')).toEqual([]);
      expect(flagger.flag('b')).toEqual([]);
      expect(flagger.flag('7')).toEqual([]);
      expect(flagger.flag('xxxy')).toEqual([]);
      for (const text of ['a.b', 'got (x) there', 'c++', 'a|b', '[z]', 'x*y', 'pay $1 now', 'w/o', '\\d', 'a-b', '{2}', '^q?']) {
        expect(flagger.flag(text)).toEqual(['META']);
      }
    });

    it('compile one case-insensitive unicode regex per flag', () => {
      const patterns = compileFlagPatterns({ A: ['x'], B: ['y z'] });
      expect(patterns.map(([flag]) => flag)).toEqual(['A', 'B']);
      for (const [, re] of patterns) expect(re.flags).toBe('iu');
      expect(patterns[1][1].test('Y \n Z')).toBe(true);
    });

    it('stay stateless between calls (no global regex state)', () => {
      const flagger = new ContentFlagger({ X: ['scam'] });
      expect([flagger.flag('scam'), flagger.flag('scam'), flagger.flag('scam')]).toEqual([['X'], ['X'], ['X']]);
    });
  });

  describe('validateFlagWords', () => {
    const ok = (v: unknown) => {
      const r = validateFlagWords(v);
      if (typeof r === 'string') throw new Error(r);
      return r;
    };

    it('accepts lists and trims, normalises and de-duplicates words', () => {
      expect(ok({ THREAT: ['  kill ', 'KILL', 'stolen  card', 'stolen card'], MY_FLAG_2: ['x'] })).toEqual({ THREAT: ['kill', 'stolen  card'], MY_FLAG_2: ['x'] });
      expect(ok({ FRAUD: ['cafe\u0301'] })).toEqual({ FRAUD: ['caf\u00e9'] });
    });

    it.each<[string, unknown, RegExp]>([
      ['an array', [['kill']], /must be a JSON object/],
      ['null', null, /must be a JSON object/],
      ['a string', 'kill', /must be a JSON object/],
      ['an empty object', {}, /at least one flag/],
      ['a lower-case flag name', { threat: ['kill'] }, /flag name "threat" must match/],
      ['a flag name starting with a digit', { '1X': ['kill'] }, /flag name "1X" must match/],
      ['a flag name of 41 characters', { ['A'.repeat(41)]: ['kill'] }, /must match/],
      ['an empty list', { THREAT: [] }, /THREAT must be a non-empty list of words/],
      ['a non-list', { THREAT: 'kill' }, /THREAT must be a non-empty list of words/],
      ['a blank word', { THREAT: ['kill', '   '] }, /THREAT\[1\] must be a non-empty string of at most 100 characters/],
      ['a non-string word', { THREAT: [42] }, /THREAT\[0\] must be a non-empty string/],
      ['a word of 101 characters', { THREAT: ['x'.repeat(101)] }, /THREAT\[0\] must be a non-empty string of at most 100/],
      ['too many words', { THREAT: Array.from({ length: 1001 }, (_, i) => `w${i}`) }, /THREAT has 1001 words, at most 1000/],
      ['too many flags', Object.fromEntries(Array.from({ length: 51 }, (_, i) => [`F${i}`, ['x']])), /51 flags, at most 50/],
    ])('refuses %s with a one-line reason', (_label, value, reason) => {
      const r = validateFlagWords(value);
      expect(typeof r).toBe('string');
      expect(r).toMatch(reason);
      expect(r).not.toContain('\n');
    });

    it('accepts the limits themselves', () => {
      const lists: FlagWordLists = { ['A'.repeat(40)]: Array.from({ length: 1000 }, (_, i) => `w${i}`), B: ['x'.repeat(100)] };
      expect(Object.keys(ok(lists))).toEqual(['A'.repeat(40), 'B']);
      const flagger = new ContentFlagger(ok(lists));
      expect(flagger.flag('w999 and w1000')).toEqual(['A'.repeat(40)]);
      expect(flagger.flag('x'.repeat(100))).toEqual(['B']);
      expect(flagger.flag('x'.repeat(101))).toEqual([]);
    });
  });
});
