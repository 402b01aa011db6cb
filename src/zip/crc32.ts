import { crc32 as crc32Fast } from '@node-rs/crc32';

/**
 * The CRC-32 of ZIP (and of S3's CRC32 checksum) over `data`, continuing from `crc` (0: from
 * the start). Every archived byte goes through it once, so it is the native crc32fast of
 * @node-rs/crc32 (carry-less multiply: 42 ms per GiB of 64 KiB chunks here) rather than
 * zlib.crc32 (205 ms), which took 0.45 s of the worker's CPU per GB streamed
 * (docs/benchmarks.md). The tests keep zlib.crc32 as their oracle.
 */
export function crc32Of(data: Uint8Array, crc = 0): number {
  return crc32Fast(data, crc);
}
