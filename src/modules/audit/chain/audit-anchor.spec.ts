import { randomBytes } from 'node:crypto';
import { GENESIS_HASH } from '../audit-chain';
import { anchorHash, checkAnchorSequence, type ChainAnchor } from './audit-anchor';

const key = randomBytes(32);

/** Anchors covering 1..10, 11..25, 26..26, sealed with `key`. */
function sealedAnchors(): ChainAnchor[] {
  const ranges: Array<[number, number]> = [[1, 10], [11, 25], [26, 26]];
  let previous = GENESIS_HASH;
  return ranges.map(([first, last], i) => {
    const fields = {
      id: String(i + 1), segment: `2026-0${i + 1}`, firstId: String(first), lastId: String(last),
      firstOccurredAt: '2026-01-01T00:00:00.000Z', lastOccurredAt: '2026-01-31T23:59:59.999Z',
      lastHash: randomBytes(32).toString('hex'), entryCount: String(last - first + 1),
      sealedAt: '2026-02-01T00:00:00.000Z', sealedBy: 'OPS-1',
    };
    previous = anchorHash(key, previous, fields);
    return { ...fields, hash: previous };
  });
}

describe('chain anchors', () => {
  it('accepts anchors sealed end to end with the key', () => {
    expect(checkAnchorSequence(key, sealedAnchors())).toBeNull();
    expect(checkAnchorSequence(key, [])).toBeNull();
  });

  it('finds an edited column, a wrong key, a removed or a reordered anchor', () => {
    const edited = sealedAnchors();
    edited[1] = { ...edited[1], lastHash: 'f'.repeat(64) };
    expect(checkAnchorSequence(key, edited)).toMatchObject({ anchor: { id: '2' }, problem: 'HASH' });

    expect(checkAnchorSequence(randomBytes(32), sealedAnchors())).toMatchObject({ anchor: { id: '1' }, problem: 'HASH' });

    const removed = sealedAnchors();
    removed.splice(1, 1);
    expect(checkAnchorSequence(key, removed)).toMatchObject({ anchor: { id: '3' }, problem: 'SEQUENCE' });

    // Renumbered to hide the removal: the next anchor no longer starts where the previous one ended.
    const renumbered = sealedAnchors();
    renumbered.splice(1, 1);
    renumbered[1] = { ...renumbered[1], id: '2' };
    expect(checkAnchorSequence(key, renumbered)).toMatchObject({ anchor: { id: '2' }, problem: 'SEQUENCE' });
  });

  it('chains each anchor to the one before: a valid anchor moved after another does not verify', () => {
    const [a, b] = sealedAnchors();
    const other = sealedAnchors(); // same ranges, other last hashes: anchor 2 of another history
    expect(checkAnchorSequence(key, [a, { ...other[1] }])).toMatchObject({ anchor: { id: '2' }, problem: 'HASH' });
    expect(checkAnchorSequence(key, [a, b])).toBeNull();
  });
});
