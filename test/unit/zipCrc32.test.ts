import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as zlib from 'node:zlib';
import { crc32Of } from '../../src/zip/crc32';
import { prng } from '../readers/support';

describe('crc32Of (the encoder and part writers’ CRC-32)', () => {
  it('equals zlib.crc32 on random data of 0 bytes to 1 MiB, whole and continued chunk by chunk', () => {
    const rng = prng(7);
    for (let round = 0; round < 200; round++) {
      const data = Buffer.alloc(rng.int(0, round < 190 ? 5000 : 1024 * 1024));
      for (let i = 0; i < data.length; i++) data[i] = Math.floor(rng.next() * 256);
      assert.equal(crc32Of(data), zlib.crc32(data), `round ${round}, whole`);
      let crc = 0;
      for (let at = 0; at < data.length;) {
        const end = Math.min(data.length, at + rng.int(1, 70_000));
        crc = crc32Of(data.subarray(at, end), crc);
        at = end;
      }
      assert.equal(crc, zlib.crc32(data), `round ${round}, in chunks`);
    }
  });

  it('gives an unsigned 32-bit value, as ZIP records and S3 checksums take it', () => {
    // The CRC-32 of "123456789" is the check value 0xCBF43926, above 2^31.
    assert.equal(crc32Of(Buffer.from('123456789')), 0xcbf43926);
    assert.equal(crc32Of(new Uint8Array(0), 0xcbf43926), 0xcbf43926);
  });
});
