/**
 * How large an archive can get, from what planning found, and the part size that keeps it within
 * S3's 10,000 parts.
 */

import { DEFAULT_PART_SIZE, MAX_OBJECT_SIZE, MAX_PARTS, MIN_PART_SIZE, MiB } from './limits';
import { type CompressionMethod } from './request';
import { RequestError } from './validate';

import {
  CENTRAL_DIRECTORY_RECORD_FIXED_SIZE,
  END_OF_CENTRAL_DIRECTORY_RECORD_SIZE,
  EXTENDED_TIMESTAMP_EXTRA_FIELD_SIZE,
  LOCAL_FILE_HEADER_FIXED_SIZE,
  ZIP64_DATA_DESCRIPTOR_SIZE,
  ZIP64_END_OF_CENTRAL_DIRECTORY_LOCATOR_SIZE,
  ZIP64_END_OF_CENTRAL_DIRECTORY_RECORD_SIZE,
  ZIP64_EXTENDED_INFORMATION_EXTRA_FIELD_SIZE,
} from '../zip/constants'; // plain numbers: safe for the workflow bundle

/** What planning found, enough to bound the archive's size before a byte is written. */
export interface PlannedArchive {
  /** Sum of the source objects' sizes. */
  bytes: number;
  entries: number;
  /** Sum of the entry names' UTF-8 lengths. */
  nameBytes: number;
  /** As in the request (default "auto"); anything but "store" may grow under DEFLATE. */
  compression?: CompressionMethod;
}

// Per entry at most: local file header (APPNOTE 4.3.7), ZIP64 data descriptor (4.3.9.2),
// central-directory record (4.3.12) with "UT" (4.6.1) and ZIP64 (4.5.3) extra fields.
const ENTRY_RECORDS_BOUND =
  LOCAL_FILE_HEADER_FIXED_SIZE +
  ZIP64_DATA_DESCRIPTOR_SIZE +
  CENTRAL_DIRECTORY_RECORD_FIXED_SIZE +
  EXTENDED_TIMESTAMP_EXTRA_FIELD_SIZE +
  ZIP64_EXTENDED_INFORMATION_EXTRA_FIELD_SIZE;
// ZIP64 end of central directory record and locator, end of central directory record.
const END_RECORDS_SIZE =
  ZIP64_END_OF_CENTRAL_DIRECTORY_RECORD_SIZE +
  ZIP64_END_OF_CENTRAL_DIRECTORY_LOCATOR_SIZE +
  END_OF_CENTRAL_DIRECTORY_RECORD_SIZE;

/**
 * zlib's deflateBound for the default window and memLevel (raw deflate): n + n/4096 +
 * n/16384 + n/2^25 + 7 per stream; 16 per entry leaves margin.
 */
function deflateGrowthBound(bytes: number, entries: number): number {
  return (
    Math.ceil(bytes / 4096) + Math.ceil(bytes / 16384) + Math.ceil(bytes / 2 ** 25) + 16 * entries
  );
}

/** Upper bound of the archive's size in bytes: data, records (the name twice), end records. */
export function archiveSizeBound(plan: PlannedArchive): number {
  const growth = plan.compression === 'store' ? 0 : deflateGrowthBound(plan.bytes, plan.entries);
  return (
    plan.bytes + growth + plan.entries * ENTRY_RECORDS_BOUND + 2 * plan.nameBytes + END_RECORDS_SIZE
  );
}

/**
 * The part size for an archive: the requested one if it fits S3's 10,000 parts, else
 * (when none was requested) the default grown in whole MiB until it fits.
 */
export function partSizeFor(plan: PlannedArchive, requested?: number): number {
  const size = archiveSizeBound(plan);
  if (size > MAX_OBJECT_SIZE) {
    throw new RequestError(
      'source',
      `the archive would be up to ${size} bytes, over S3's 5 TiB (${MAX_OBJECT_SIZE} bytes) object limit: archive fewer objects (narrow source.prefix, source.include or source.exclude) or split them over several archives`,
    );
  }
  const smallest = Math.max(MIN_PART_SIZE, Math.ceil(size / MAX_PARTS / MiB) * MiB);
  if (requested === undefined) return Math.max(DEFAULT_PART_SIZE, smallest);
  const parts = Math.ceil(size / requested);
  if (parts > MAX_PARTS) {
    throw new RequestError(
      'partSize',
      `${requested} bytes would need ${parts} parts for an archive of up to ${size} bytes, more than S3's ${MAX_PARTS}: use at least ${smallest} (${smallest / MiB} MiB), or leave partSize out to have it chosen`,
    );
  }
  return requested;
}
