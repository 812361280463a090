/**
 * Communication content is flagged at ingest, then encrypted: rules see the flags, never the text.
 * The word lists are deliberately small and configurable in one place.
 */
export const CONTENT_FLAG_PATTERNS: Record<string, RegExp> = {
  THREAT: /\b(kill|hurt|bomb|shoot|threat(en)?|i will find you|destroy you)\b/i,
  FRAUD: /\b(fraud|scam|phishing|stolen card|money mule|launder(ing)?|fake invoice|unauthori[sz]ed (payment|transfer))\b/i,
};

export function flagContent(content: string | null | undefined): string[] {
  if (!content) return [];
  return Object.entries(CONTENT_FLAG_PATTERNS)
    .filter(([, pattern]) => pattern.test(content))
    .map(([flag]) => flag);
}
