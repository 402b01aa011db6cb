import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as zlib from 'node:zlib';
import { crc32Combine } from '../../src/zip';
import { prng } from '../readers/support';

describe('crc32Combine', () => {
  it('equals the direct CRC-32 of the concatenation for random data split at random points', () => {
    const rng = prng(42);
    for (let round = 0; round < 300; round++) {
      const data = Buffer.alloc(rng.int(0, 5000));
      for (let i = 0; i < data.length; i++) data[i] = Math.floor(rng.next() * 256);
      const cut = rng.int(0, data.length);
      const a = data.subarray(0, cut);
      const b = data.subarray(cut);
      assert.equal(
        crc32Combine(zlib.crc32(a), zlib.crc32(b), b.length),
        zlib.crc32(data),
        `round ${round}`,
      );
    }
  });

  it('combines many parts in sequence (as per-part CRCs of an archive would be)', () => {
    const rng = prng(9);
    const parts: Buffer[] = [];
    for (let i = 0; i < 50; i++) parts.push(Buffer.alloc(rng.int(0, 3000), rng.int(0, 255)));
    let crc = 0;
    for (const p of parts) crc = crc32Combine(crc, zlib.crc32(p), p.length);
    assert.equal(crc, zlib.crc32(Buffer.concat(parts)));
  });

  it('handles a second part longer than 4 GiB (zero bytes, checked against incremental CRC of a reused buffer)', () => {
    const block = Buffer.alloc(64 * 1024 * 1024); // zeros, reused
    const len2 = 4 * 1024 * 1024 * 1024 + 3 * 64 * 1024 * 1024; // 4 GiB + 192 MiB
    let crcB = 0;
    for (let done = 0; done < len2; done += block.length) crcB = zlib.crc32(block, crcB);
    const a = Buffer.from('prefix before a huge run of zeros');
    const direct = zlib.crc32(block, zlib.crc32(block, zlib.crc32(block, zlib.crc32(a)))); // sanity of the incremental form
    assert.equal(
      direct,
      crc32Combine(
        zlib.crc32(a),
        zlib.crc32(Buffer.concat([block, block, block])),
        3 * block.length,
      ),
    );
    let full = zlib.crc32(a);
    for (let done = 0; done < len2; done += block.length) full = zlib.crc32(block, full);
    assert.equal(crc32Combine(zlib.crc32(a), crcB, len2), full);
    assert.equal(crc32Combine(zlib.crc32(a), crcB, BigInt(len2)), full);
  });

  it('treats an empty second part as the identity and rejects negative or fractional lengths', () => {
    assert.equal(crc32Combine(0x12345678, 0, 0), 0x12345678);
    assert.throws(() => crc32Combine(1, 2, -1), RangeError);
    assert.throws(() => crc32Combine(1, 2, 1.5), RangeError);
  });
});
