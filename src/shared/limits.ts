/**
 * S3's multipart and object limits, and the bounds and defaults of the request's numbers: one
 * definition of each, for the workflow bundle, the client and the engine.
 */

export const KiB = 1024;
export const MiB = 1024 * KiB;
export const GiB = 1024 * MiB;
export const TiB = 1024 * GiB;
export const MIN_PART_SIZE = 5 * MiB;
export const MAX_PART_SIZE = 5 * GiB;
/**
 * 8 MiB: with 4 parts in flight and one filling, 40 MiB of part buffers keeps a worker under
 * 256 MiB (docs/benchmarks.md); archives up to 78 GiB keep it, larger ones grow it.
 */
export const DEFAULT_PART_SIZE = 8 * MiB;
/** S3 multipart limits: part numbers 1–10,000, objects up to 5 TiB. */
export const MAX_PARTS = 10_000;
export const MAX_OBJECT_SIZE = 5 * TiB;
export const DEFAULT_UPLOAD_CONCURRENCY = 4;
export const MAX_UPLOAD_CONCURRENCY = 32;
export const DEFAULT_READ_CONCURRENCY = 4;
export const MAX_READ_CONCURRENCY = 64;
/** readRangeSize: bytes per ranged GET of a large source object, when set. */
export const MIN_READ_RANGE_SIZE = MiB;
export const MAX_READ_RANGE_SIZE = 64 * MiB;
export const MAX_PARALLEL = 32;
export const MAX_INLINE_KEYS = 1000;
/**
 * The request travels in every activity input and continue-as-new, so inline keys stay far
 * below Temporal's payload limits (DESIGN invariant 2); more goes in a keyList object.
 */
export const MAX_INLINE_KEY_BYTES = 128 * 1024;
export const MAX_PATTERNS = 100;
/** S3 object keys are at most 1,024 bytes of UTF-8. */
export const MAX_KEY_BYTES = 1024;
