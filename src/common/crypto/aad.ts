/**
 * Unambiguous encoding of a list of strings: each part is its UTF-8 length (4 bytes, big-endian) followed
 * by its bytes. Plain concatenation would let ("ab", "c") and ("a", "bc") collide, which for AAD would let
 * a ciphertext pass as another row's and for an HMAC would let one field's digest stand for another's.
 */
export function lengthPrefixed(parts: readonly string[]): Buffer {
  const chunks: Buffer[] = [];
  for (const part of parts) {
    const bytes = Buffer.from(part, 'utf8');
    const length = Buffer.alloc(4);
    length.writeUInt32BE(bytes.length);
    chunks.push(length, bytes);
  }
  return Buffer.concat(chunks);
}
