import { flagContent } from './event-flags';

describe('content flags', () => {
  it('flags threats and fraud words, case-insensitively', () => {
    expect(flagContent('I will KILL you')).toEqual(['THREAT']);
    expect(flagContent('this looks like a scam, possibly money mule activity')).toEqual(['FRAUD']);
    expect(flagContent('Thanks for the quick refund')).toEqual([]);
    expect(flagContent(null)).toEqual([]);
  });
  it('matches whole words only', () => {
    expect(flagContent('skills and scampi')).toEqual([]);
  });
});
