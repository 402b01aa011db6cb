/**
 * The archive request and result: plain JSON, so the Temporal Web UI, the CLI and any SDK
 * can send it. Imported by both the workflow bundle and the client, so it stays free of
 * Node APIs.
 */

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
import { placeholderList, unknownPlaceholders } from './keyTemplate';
import type { VerificationReport } from './verification';

export type CompressionMethod = 'auto' | 'store' | 'deflate';

/** S3's StorageClass values (as in @aws-sdk/client-s3, listed here to keep the bundle SDK-free). */
export const STORAGE_CLASSES = [
  'STANDARD',
  'REDUCED_REDUNDANCY',
  'STANDARD_IA',
  'ONEZONE_IA',
  'INTELLIGENT_TIERING',
  'GLACIER',
  'DEEP_ARCHIVE',
  'OUTPOSTS',
  'GLACIER_IR',
  'SNOW',
  'EXPRESS_ONEZONE',
  'FSX_OPENZFS',
  'FSX_ONTAP',
  'AWS_BACKUP_WARM',
  'AWS_BACKUP_LOW_COST_WARM',
] as const;
export type StorageClass = (typeof STORAGE_CLASSES)[number];

/** x-amz-server-side-encryption of the archive; `kmsKeyId` is the KMS key id or ARN. */
export type ServerSideEncryption = { type: 'AES256' } | { type: 'aws:kms'; kmsKeyId?: string };

export interface ArchiveRequest {
  source: {
    bucket: string;
    /**
     * Keys under this prefix are archived; entry names are relative to it. With `keys` or
     * `keyList` it only shapes names: it is stripped from keys that start with it, and keys
     * that do not keep their full key as the name (it never filters them out).
     */
    prefix?: string;
    /** Named profile the worker uses for the source store (credentials stay with the worker). */
    profile?: string;
    /** Exactly these keys, in this order, instead of listing the prefix (at most 1,000). */
    keys?: string[];
    /**
     * An object holding one key per line (UTF-8, blank lines ignored), for more keys than
     * `keys` takes; `bucket` defaults to source.bucket and is read with the source profile.
     */
    keyList?: { bucket?: string; key: string };
    /** Globs (picomatch, dotfiles match) against the key relative to the prefix; any may match. */
    include?: string[];
    /** Globs as for include; a key matching any of them is left out. */
    exclude?: string[];
  };
  destination: {
    bucket: string;
    /**
     * The archive's key. It may hold placeholders for the run's nominal time in UTC —
     * {yyyy} {MM} {dd} {HH} {mm} {ss} — resolved by the workflow (src/shared/keyTemplate.ts):
     * the schedule's nominal time for scheduled runs, else the workflow's start time.
     */
    key: string;
    profile?: string;
    /** Replace an existing object at the key (default false: refuse). */
    overwrite?: boolean;
    contentType?: string;
    storageClass?: StorageClass;
    serverSideEncryption?: ServerSideEncryption;
  };
  compression?: { method: CompressionMethod; level?: number };
  /** Entry names: `relative` to source.prefix (default) or `flatten`ed to the last segment. */
  naming?: {
    mode?: 'relative' | 'flatten';
    /** Folder inside the archive for every entry, e.g. "backup-2026/" ("/" added if missing). */
    prefix?: string;
  };
  /** Bytes per multipart part, 5 MiB to 5 GiB; default 8 MiB, grown to fit 10,000 parts. */
  partSize?: number;
  /** Parts uploaded at once, 1 to 32; default 4. Memory is about partSize × this. */
  uploadConcurrency?: number;
  /**
   * Ranged GETs of large source objects at once, 1 to 64; default 2, or the worker's
   * ZIPFLOW_READ_CONCURRENCY. The read side holds up to 8 MiB × this (objects read ahead).
   */
  readConcurrency?: number;
  /**
   * Parallel assembly (1–32): the parts are split into this many ranges, built at once by
   * any workers on the task queue. Needs STORE entries (compression.method "store"), whose
   * offsets the listing fixes, and onSourceChange "fail". Default: one streaming activity.
   */
  parallel?: number;
  /**
   * Server-side copy: entries of 5 MiB or more whose CRC-32 the store already holds (objects
   * uploaded with CRC-32 checksums) are placed by UploadPartCopy, so their bytes never pass
   * through the worker; the rest is streamed. Needs STORE entries (compression.method
   * "store"), onSourceChange "fail" and one store for source and destination (same profile).
   * The result then has no sha256 (the worker never sees those bytes): its crc32 covers the
   * whole archive. Default false.
   */
  serverSideCopy?: boolean;
  /**
   * Entry order. `listing`: the source's order (ListObjectsV2, the key list, or source.keys).
   * `packed`: within each listing page (up to 1,000 objects), entries under 5 MiB are moved
   * so that at least 5 MiB of them sits before each larger entry, which server-side copy then
   * places directly instead of staging it (the store would copy it twice). Either way the
   * order is the plan's, so the same request gives the same bytes. Default: `packed` with
   * serverSideCopy, `listing` otherwise.
   */
  entryOrder?: EntryOrder;
  /**
   * What the local file headers carry. `auto` (default): the CRC-32 and sizes wherever they
   * are known before the header is written — the streamed objects of up to 1 MiB, read whole
   * first — with no data descriptor, so streaming readers (Java ZipInputStream, bsdtar from a
   * pipe) read them; larger objects, and every entry of parallel or serverSideCopy runs, keep a
   * data descriptor. `descriptor`: every file has a data descriptor (yazl's streaming layout).
   * `known`: every file's header carries them; the run fails at planning with
   * LocalHeaderUnknown naming the first object over 1 MiB. The result counts the entries
   * with a descriptor (dataDescriptorEntries) and the manifest flags each.
   */
  localHeaders?: LocalHeaders;
  /** An archive of nothing is an error (default false): usually a wrong prefix or filter. */
  allowEmpty?: boolean;
  /**
   * A source object that changed or vanished after it was listed: `fail` the run (default),
   * or `skip` it and record it in the manifest.
   */
  onSourceChange?: 'fail' | 'skip';
  /**
   * Planning knobs, for very large listings: keys per ListObjectsV2 page (1–1,000, default
   * 1,000) and pages per workflow run before it continues as new (default 1,000).
   */
  planning?: { pageSize?: number; pagesPerRun?: number };
  /**
   * Archive only objects modified since the previous successful run of the same schedule
   * (or, unscheduled, of the same source and destination template): LastModified in
   * [watermark, nominal time − settleSeconds, floored to the second). The watermark is kept
   * in the destination bucket under .zipflow/watermarks/ and moves only when a run writes
   * its archive. `true` means `{ settleSeconds: 60 }`.
   */
  incremental?: boolean | { settleSeconds?: number };
  /**
   * Read the archive back once it is complete and check it (default false): structure, every
   * entry's CRC-32 and sizes, the manifest and the SHA-256. A mismatch fails the run with
   * VerificationFailed; the archive is left in place.
   */
  verify?: boolean;
  /**
   * Move: once the archive is complete and verified (the run verifies it, whatever `verify`
   * says), `delete` the archived source objects (DeleteObjects, 1,000 keys a request) or `tag`
   * them `zipflow-archived`; only objects whose ETag is still the one archived. Default `none`.
   * What was removed is recorded in `<key>.moved.jsonl`.
   */
  afterArchive?: AfterArchive;
  /** With afterArchive: list what would be deleted or tagged in `<key>.moved.jsonl`, touch nothing. */
  dryRun?: boolean;
}

export const AFTER_ARCHIVE = ['none', 'delete', 'tag'] as const;
export type AfterArchive = (typeof AFTER_ARCHIVE)[number];

/** What the move step did (or, in a dry run, would do) to the archived source objects. */
export interface MoveReport {
  action: 'delete' | 'tag';
  dryRun: boolean;
  /** Objects deleted or tagged (in a dry run: that would be). */
  removed: number;
  /** Objects left in place because their ETag changed after they were archived. */
  changed: number;
  /** Objects that were already gone. */
  missing: number;
  /** Up to 10 of the changed keys; all are in the report object. */
  changedKeys: string[];
  /** `<key>.moved.jsonl`: one line per archived object with what was done to it. */
  reportKey: string;
}

export const LOCAL_HEADERS = ['auto', 'descriptor', 'known'] as const;
export type LocalHeaders = (typeof LOCAL_HEADERS)[number];

export const ENTRY_ORDERS = ['listing', 'packed'] as const;
export type EntryOrder = (typeof ENTRY_ORDERS)[number];

/** The request's entry order, defaults applied: packing pays only when the store copies. */
export function entryOrderOf(request: ArchiveRequest): EntryOrder {
  return request.entryOrder ?? (request.serverSideCopy ? 'packed' : 'listing');
}

/** Seconds an object must be older than the nominal time to be taken by an incremental run. */
export const DEFAULT_SETTLE_SECONDS = 60;
export const MAX_SETTLE_SECONDS = 86_400;

/** settleSeconds of a request's incremental mode, or undefined when the run is not incremental. */
export function settleSecondsOf(request: ArchiveRequest): number | undefined {
  const { incremental } = request;
  if (incremental === undefined || incremental === false) return undefined;
  if (incremental === true) return DEFAULT_SETTLE_SECONDS;
  return incremental.settleSeconds ?? DEFAULT_SETTLE_SECONDS;
}

/**
 * What an incremental run returns when nothing was modified since the watermark (and
 * allowEmpty is not set): the run succeeds, writes no archive and leaves the watermark.
 */
export interface NoNewObjectsResult {
  /** Distinguishes this from ArchiveResult (whose `skipped` counts changed source objects). */
  noNewObjects: true;
  bucket: string;
  /** The key the archive would have had. */
  key: string;
  /** The objects looked for: LastModified from `since` (absent: from the beginning) until `until`. */
  since?: string;
  until: string;
  durationMs: number;
}

/** An archive run's result: the archive written, or (incremental runs) nothing new. */
export type ArchiveRunResult = ArchiveResult | NoNewObjectsResult;

export function isNoNewObjects(result: ArchiveRunResult): result is NoNewObjectsResult {
  return 'noNewObjects' in result && result.noNewObjects;
}

/** Server-side copy: entries of 5 MiB or more streamed instead of copied, by why. */
export interface NotCopied {
  noCrc32: number;
  noPartCrc32s: number;
  placement: number;
}

export interface ArchiveResult {
  bucket: string;
  key: string;
  size: number;
  entries: number;
  parts: number;
  etag?: string;
  versionId?: string;
  /** SHA-256 of the archive; absent for server-side copy, whose copied bytes the worker never sees. */
  sha256?: string;
  /** CRC-32 of the whole archive, combined from the per-part CRCs the store verified. */
  crc32: string;
  /**
   * FULL_OBJECT: the store validated this CRC-32 over the whole object at completion (AWS S3,
   * recent MinIO); PARTS: the store validated each part's CRC-32 (stores without it);
   * PARTS_AND_SOURCES (server-side copy): the store validated each streamed part's CRC-32, and
   * copied data has the CRC-32 the store holds for its source object.
   */
  crc32ValidatedBy: 'FULL_OBJECT' | 'PARTS' | 'PARTS_AND_SOURCES';
  /** Server-side copy: source bytes the store copied into the archive, never read by the worker. */
  copiedBytes?: number;
  /** Server-side copy: entries whose data the store copied. */
  copiedEntries?: number;
  /**
   * Server-side copy: entries of 5 MiB or more that were streamed instead, by why. noCrc32: the
   * store holds no CRC-32 for the object (another checksum, or none); noPartCrc32s: uploaded in
   * parts, and the store lists no CRC-32 per part (SeaweedFS), so the object's is unknown;
   * placement: S3's part rules (5 MiB at least, 10,000 at most) left no copied part for it.
   */
  notCopied?: NotCopied;
  /** Object next to the archive with one JSON line per entry (name, key, ETag, sizes, CRC-32, offset). */
  manifestKey: string;
  /**
   * Bytes sent to S3: the archive's size plus the parts sent again after a crash (parts an
   * earlier attempt had begun that S3 did not hold). Minus `size` it is the rework.
   */
  uploadedBytes: number;
  /** Source objects left out because they changed or vanished (onSourceChange: skip). */
  skipped: number;
  /**
   * Entries whose CRC-32 and sizes follow their data in a data descriptor (bit 3) instead of
   * their local header; the manifest line of each says `"dataDescriptor": true`.
   */
  dataDescriptorEntries: number;
  /** How often the streaming activity continued from a checkpoint. */
  resumes: number;
  /**
   * Retries that got the run past a transient fault: S3 requests the worker's SDK sent again
   * (500 InternalError, 503 SlowDown, reset or stalled connections), response bodies read on
   * after they broke, and attempts of the planning and streaming activities beyond the first.
   * 0 when nothing failed. Counted up to each attempt's last heartbeat, so a crashed attempt's
   * last few may be missing.
   */
  retries: number;
  durationMs: number;
  /** What reading the archive back found, when the request asked to verify it. */
  verification?: VerificationReport;
  /** What afterArchive did to the source objects, when the request asked for it. */
  move?: MoveReport;
}

export const MiB = 1024 * 1024;
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
export const DEFAULT_READ_CONCURRENCY = 2;
export const MAX_READ_CONCURRENCY = 64;
export const MAX_PARALLEL = 32;
export const MAX_INLINE_KEYS = 1000;
/**
 * The request travels in every activity input and continue-as-new, so inline keys stay far
 * below Temporal's payload limits (DESIGN invariant 2); more goes in a keyList object.
 */
export const MAX_INLINE_KEY_BYTES = 128 * 1024;
export const MAX_PATTERNS = 100;
const MAX_KEY_BYTES = 1024; // S3 object keys are at most 1,024 bytes of UTF-8

/** Raised for a request that cannot work; names the field and how to fix it. */
export class RequestError extends Error {
  constructor(
    readonly field: string,
    problem: string,
  ) {
    super(`${field}: ${problem}`);
    this.name = 'RequestError';
  }
}

// S3 bucket naming rules (general purpose buckets).
const BUCKET_NAME = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

export function checkBucket(field: string, value: unknown): void {
  if (typeof value !== 'string' || value === '') {
    throw new RequestError(field, 'is required: give the bucket name, e.g. "my-bucket"');
  }
  if (!BUCKET_NAME.test(value) || value.includes('..') || /^\d+\.\d+\.\d+\.\d+$/.test(value)) {
    throw new RequestError(
      field,
      `"${value}" is not a valid S3 bucket name: use 3-63 lowercase letters, digits, dots and hyphens, starting and ending with a letter or digit`,
    );
  }
}

export function checkOptionalString(field: string, value: unknown): void {
  if (value !== undefined && typeof value !== 'string') {
    throw new RequestError(field, 'must be a string when given');
  }
}

export function checkObject(
  field: string,
  value: unknown,
): asserts value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new RequestError(field, 'is required and must be an object');
  }
}

export function checkOptionalObject(
  field: string,
  value: unknown,
): asserts value is Record<string, unknown> | undefined {
  if (
    value !== undefined &&
    (typeof value !== 'object' || value === null || Array.isArray(value))
  ) {
    throw new RequestError(field, 'must be an object when given');
  }
}

export function utf8Length(value: string): number {
  return new TextEncoder().encode(value).length;
}

/** Field names (lower case, letters only) that would carry credentials: refused with a pointer to profiles. */
const CREDENTIAL_FIELDS = new Set([
  'accesskeyid',
  'awsaccesskeyid',
  'accesskey',
  'secretaccesskey',
  'awssecretaccesskey',
  'secretkey',
  'secret',
  'sessiontoken',
  'awssessiontoken',
  'token',
  'credentials',
  'password',
]);

/**
 * Unknown fields are refused rather than ignored: a misspelt "exclude" or "overwrite" that
 * is silently dropped archives the wrong data or replaces an object nobody meant to.
 */
export function checkKnownFields(
  path: string,
  value: Record<string, unknown>,
  known: string[],
): void {
  for (const [name, v] of Object.entries(value)) {
    if (v === undefined || known.includes(name)) continue;
    if (CREDENTIAL_FIELDS.has(name.toLowerCase().replace(/[^a-z]/g, ''))) {
      throw new RequestError(
        path === '' ? name : `${path}.${name}`,
        'credentials never go in a request (it is kept in plain text in Temporal history): remove it, give the worker the credentials (AWS config/credentials file, environment or role) and name the profile in source.profile / destination.profile',
      );
    }
    const lower = name.toLowerCase();
    const near = known.find(
      (k) => lower.startsWith(k.toLowerCase()) || k.toLowerCase().startsWith(lower),
    );
    throw new RequestError(
      path === '' ? name : `${path}.${name}`,
      near
        ? `is not a request field: did you mean "${near}"?`
        : `is not a request field: remove it (fields here: ${known.join(', ')})`,
    );
  }
}

export function checkNonEmptyString(
  field: string,
  value: unknown,
  fix: string,
): asserts value is string {
  if (typeof value !== 'string' || value === '') {
    throw new RequestError(field, `must be a non-empty string: ${fix}`);
  }
}

export function checkBoolean(field: string, value: unknown): void {
  if (value !== undefined && typeof value !== 'boolean') {
    throw new RequestError(field, 'must be true or false');
  }
}

function checkObjectKey(field: string, value: unknown): asserts value is string {
  checkNonEmptyString(field, value, 'give an S3 object key, e.g. "photos/2026/a.jpg"');
  if (utf8Length(value) > MAX_KEY_BYTES) {
    throw new RequestError(field, 'is longer than S3 allows (1,024 bytes of UTF-8)');
  }
}

function checkKeys(value: unknown, allowEmpty: boolean): void {
  if (value === undefined) return;
  if (!Array.isArray(value)) {
    throw new RequestError('source.keys', 'must be an array of object keys, e.g. ["a.txt"]');
  }
  if (value.length === 0 && !allowEmpty) {
    throw new RequestError(
      'source.keys',
      'is empty: list at least one key, leave source.keys out to archive source.prefix, or set allowEmpty to true',
    );
  }
  if (value.length > MAX_INLINE_KEYS) {
    throw new RequestError(
      'source.keys',
      `has ${value.length} keys, more than the ${MAX_INLINE_KEYS} a request carries: put one key per line in an object and give it as source.keyList`,
    );
  }
  const seen = new Map<string, number>();
  let bytes = 0;
  value.forEach((key: unknown, i) => {
    checkObjectKey(`source.keys[${i}]`, key);
    const first = seen.get(key);
    if (first !== undefined) {
      throw new RequestError(
        `source.keys[${i}]`,
        `"${key}" is also source.keys[${first}]: list each key once`,
      );
    }
    seen.set(key, i);
    bytes += utf8Length(key);
  });
  if (bytes > MAX_INLINE_KEY_BYTES) {
    throw new RequestError(
      'source.keys',
      `holds ${bytes} bytes of keys, more than the ${MAX_INLINE_KEY_BYTES} a request carries: put one key per line in an object and give it as source.keyList`,
    );
  }
}

function checkKeyList(value: unknown): void {
  checkOptionalObject('source.keyList', value);
  if (value === undefined) return;
  checkKnownFields('source.keyList', value, ['bucket', 'key']);
  if (value.bucket !== undefined) checkBucket('source.keyList.bucket', value.bucket);
  checkObjectKey('source.keyList.key', value.key);
}

/**
 * Types and shapes of glob patterns; whether picomatch parses them is checked by the
 * worker and client (checkSelection), since picomatch is not part of the workflow bundle.
 */
function checkPatterns(field: string, value: unknown): void {
  if (value === undefined) return;
  if (!Array.isArray(value)) {
    throw new RequestError(field, 'must be an array of glob patterns, e.g. ["**/*.jpg"]');
  }
  if (field === 'source.include' && value.length === 0) {
    throw new RequestError(
      field,
      'is empty, so it would take nothing: leave it out to take every object, or give a pattern such as "**/*.jpg"',
    );
  }
  if (value.length > MAX_PATTERNS) {
    throw new RequestError(field, `has ${value.length} patterns: give at most ${MAX_PATTERNS}`);
  }
  value.forEach((pattern: unknown, i) => checkPattern(`${field}[${i}]`, pattern));
}

function checkPattern(field: string, pattern: unknown): void {
  checkNonEmptyString(field, pattern, 'give a glob such as "**/*.jpg"');
  if (pattern.length > MAX_KEY_BYTES) {
    throw new RequestError(field, `is ${pattern.length} characters: give at most ${MAX_KEY_BYTES}`);
  }
  if (pattern.startsWith('/')) {
    throw new RequestError(
      field,
      `"${pattern}" starts with "/", but patterns match keys relative to source.prefix, which never do: remove the leading "/"`,
    );
  }
  if (pattern.startsWith('!')) {
    const other = field.startsWith('source.include') ? 'source.exclude' : 'source.include';
    throw new RequestError(
      field,
      `"${pattern}" is negated: put "${pattern.slice(1)}" in ${other} instead (or write "\\!" for a literal "!")`,
    );
  }
}

function checkSource(value: unknown, allowEmpty: boolean): void {
  checkObject('source', value);
  checkKnownFields('source', value, [
    'bucket',
    'prefix',
    'profile',
    'keys',
    'keyList',
    'include',
    'exclude',
  ]);
  checkBucket('source.bucket', value.bucket);
  checkOptionalString('source.prefix', value.prefix);
  checkOptionalString('source.profile', value.profile);
  if (value.keys !== undefined && value.keyList !== undefined) {
    throw new RequestError(
      'source.keyList',
      'cannot be given together with source.keys: give the keys inline (up to 1,000) or in a key list object, not both',
    );
  }
  checkKeys(value.keys, allowEmpty);
  checkKeyList(value.keyList);
  checkPatterns('source.include', value.include);
  checkPatterns('source.exclude', value.exclude);
}

export function checkStorageClass(value: unknown): void {
  if (value === undefined || (STORAGE_CLASSES as readonly unknown[]).includes(value)) return;
  const upper = typeof value === 'string' ? value.toUpperCase() : undefined;
  const near = STORAGE_CLASSES.find((c) => c === upper);
  throw new RequestError(
    'destination.storageClass',
    near
      ? `must be written "${near}"`
      : `must be one of S3's storage classes (${STORAGE_CLASSES.join(', ')}), not ${JSON.stringify(value)}`,
  );
}

export function checkServerSideEncryption(value: unknown): void {
  const field = 'destination.serverSideEncryption';
  checkOptionalObject(field, value);
  if (value === undefined) return;
  checkKnownFields(field, value, ['type', 'kmsKeyId']);
  if (value.type !== 'AES256' && value.type !== 'aws:kms') {
    throw new RequestError(
      `${field}.type`,
      `must be "AES256" (S3-managed keys) or "aws:kms" (AWS KMS keys), not ${JSON.stringify(value.type)}`,
    );
  }
  if (value.kmsKeyId === undefined) return;
  if (value.type !== 'aws:kms') {
    throw new RequestError(
      `${field}.kmsKeyId`,
      'only applies to type "aws:kms": remove it, or set type to "aws:kms"',
    );
  }
  checkNonEmptyString(
    `${field}.kmsKeyId`,
    value.kmsKeyId,
    "give a KMS key id, alias or ARN, or leave it out for the bucket's default KMS key",
  );
}

function checkDestination(value: unknown): void {
  checkObject('destination', value);
  checkKnownFields('destination', value, [
    'bucket',
    'key',
    'profile',
    'overwrite',
    'contentType',
    'storageClass',
    'serverSideEncryption',
  ]);
  checkBucket('destination.bucket', value.bucket);
  if (typeof value.key !== 'string' || value.key === '') {
    throw new RequestError(
      'destination.key',
      'is required: give the object key of the archive, e.g. "archives/2026.zip"',
    );
  }
  if (utf8Length(value.key) > MAX_KEY_BYTES) {
    throw new RequestError('destination.key', 'is longer than S3 allows (1,024 bytes of UTF-8)');
  }
  const unknown = unknownPlaceholders(value.key);
  if (unknown.length > 0) {
    throw new RequestError(
      'destination.key',
      `{${unknown[0]}} is not a placeholder: use ${placeholderList()} (UTC fields of the run's nominal time)`,
    );
  }
  checkBoolean('destination.overwrite', value.overwrite);
  checkOptionalString('destination.profile', value.profile);
  checkOptionalString('destination.contentType', value.contentType);
  checkStorageClass(value.storageClass);
  checkServerSideEncryption(value.serverSideEncryption);
}

function checkCompression(value: unknown): void {
  checkOptionalObject('compression', value);
  if (value === undefined) return;
  checkKnownFields('compression', value, ['method', 'level']);
  const { method, level } = value;
  if (method !== 'auto' && method !== 'store' && method !== 'deflate') {
    throw new RequestError(
      'compression.method',
      `must be "auto", "store" or "deflate", not ${JSON.stringify(method)}`,
    );
  }
  if (
    level !== undefined &&
    (!Number.isInteger(level) || (level as number) < 1 || (level as number) > 9)
  ) {
    throw new RequestError(
      'compression.level',
      'must be a whole number from 1 (fastest) to 9 (smallest)',
    );
  }
}

/** A folder inside the archive: relative, "/"-separated, nothing that climbs out on extraction. */
function checkArchiveFolder(field: string, value: unknown): void {
  checkNonEmptyString(field, value, 'give a folder such as "backup-2026/", or leave it out');
  if (value.startsWith('/')) {
    throw new RequestError(
      field,
      'must not start with "/": give a relative folder such as "backup-2026/"',
    );
  }
  if (value.includes('\\')) {
    throw new RequestError(field, 'must not contain "\\": ZIP names separate folders with "/"');
  }
  const segments = value.replace(/\/$/, '').split('/');
  if (segments.includes('..')) {
    throw new RequestError(
      field,
      'must not contain ".." segments: they would extract outside the target folder',
    );
  }
  if (segments.some((s) => s === '' || s === '.')) {
    throw new RequestError(
      field,
      'must not contain empty or "." segments ("a//b", "./a"): write the folder plainly, e.g. "backup-2026/logs/"',
    );
  }
  if (utf8Length(value) > MAX_KEY_BYTES) {
    throw new RequestError(field, `must be at most ${MAX_KEY_BYTES} bytes of UTF-8`);
  }
}

function checkNaming(value: unknown): void {
  checkOptionalObject('naming', value);
  if (value === undefined) return;
  checkKnownFields('naming', value, ['mode', 'prefix']);
  if (value.mode !== undefined && value.mode !== 'relative' && value.mode !== 'flatten') {
    throw new RequestError(
      'naming.mode',
      `must be "relative" (names relative to source.prefix) or "flatten" (last segment only), not ${JSON.stringify(value.mode)}`,
    );
  }
  if (value.prefix !== undefined) checkArchiveFolder('naming.prefix', value.prefix);
}

function checkPartSize(value: unknown): void {
  if (value === undefined) return;
  if (
    typeof value !== 'number' ||
    !Number.isInteger(value) ||
    value < MIN_PART_SIZE ||
    value > MAX_PART_SIZE
  ) {
    throw new RequestError(
      'partSize',
      `must be a whole number of bytes from ${MIN_PART_SIZE} (5 MiB) to ${MAX_PART_SIZE} (5 GiB)`,
    );
  }
}

function checkUploadConcurrency(value: unknown): void {
  checkConcurrency(
    'uploadConcurrency',
    value,
    MAX_UPLOAD_CONCURRENCY,
    `(default ${DEFAULT_UPLOAD_CONCURRENCY})`,
  );
}

function checkReadConcurrency(value: unknown): void {
  checkConcurrency(
    'readConcurrency',
    value,
    MAX_READ_CONCURRENCY,
    `(default ${DEFAULT_READ_CONCURRENCY}); each one lets the worker hold 8 MiB more of source data`,
  );
}

function checkConcurrency(field: string, value: unknown, max: number, note: string): void {
  if (value === undefined) return;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > max) {
    throw new RequestError(field, `must be a whole number from 1 to ${max} ${note}`);
  }
}

const REQUEST_FIELDS = [
  'source',
  'destination',
  'compression',
  'naming',
  'partSize',
  'uploadConcurrency',
  'readConcurrency',
  'parallel',
  'serverSideCopy',
  'entryOrder',
  'localHeaders',
  'allowEmpty',
  'onSourceChange',
  'planning',
  'incremental',
  'verify',
  'afterArchive',
  'dryRun',
];

export function checkWholeNumber(field: string, value: unknown, min: number, max: number): void {
  if (value === undefined) return;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new RequestError(field, `must be a whole number from ${min} to ${max}`);
  }
}

/**
 * Parallel assembly lays the archive out from the listing before a byte is read: only STORE
 * entries have sizes known in advance, and a skipped object would move every later entry.
 */
function checkParallel(request: Record<string, unknown>): void {
  const value = request.parallel;
  if (value === undefined) return;
  checkWholeNumber('parallel', value, 1, MAX_PARALLEL);
  const method = (request.compression as { method?: unknown } | undefined)?.method ?? 'auto';
  if (method !== 'store') {
    throw new RequestError(
      'parallel',
      `needs every entry stored: set compression.method to "store" (it is ${JSON.stringify(method)}, whose compressed sizes are not known before the data is read), or leave parallel out`,
    );
  }
  if (request.onSourceChange === 'skip') {
    throw new RequestError(
      'parallel',
      'cannot be combined with onSourceChange "skip" (a left-out object would move every later entry): use "fail", or leave parallel out',
    );
  }
}

/** Server-side copy places source bytes by offset, with the destination's credentials. */
function checkServerSideCopy(request: Record<string, unknown>): void {
  const value = request.serverSideCopy;
  if (value === undefined || value === false) return;
  if (value !== true) throw new RequestError('serverSideCopy', 'must be true or false');
  const method = (request.compression as { method?: unknown } | undefined)?.method ?? 'auto';
  if (method !== 'store') {
    throw new RequestError(
      'serverSideCopy',
      `needs every entry stored: set compression.method to "store" (it is ${JSON.stringify(method)}; the store copies bytes as they are), or leave serverSideCopy out`,
    );
  }
  if (request.onSourceChange === 'skip') {
    throw new RequestError(
      'serverSideCopy',
      'cannot be combined with onSourceChange "skip" (a left-out object would move every later entry): use "fail", or leave serverSideCopy out',
    );
  }
  if (request.parallel !== undefined) {
    throw new RequestError(
      'serverSideCopy',
      'cannot be combined with parallel: leave one of them out',
    );
  }
  const profileOf = (side: unknown): unknown =>
    (side as { profile?: unknown } | undefined)?.profile;
  if (profileOf(request.source) !== profileOf(request.destination)) {
    throw new RequestError(
      'serverSideCopy',
      "needs source and destination in one store, reached with one profile (the store copies with the destination's credentials): give source.profile and destination.profile the same value, or leave serverSideCopy out",
    );
  }
}

function checkEntryOrder(value: unknown): void {
  if (value === undefined || (ENTRY_ORDERS as readonly unknown[]).includes(value)) return;
  throw new RequestError(
    'entryOrder',
    `must be "listing" (the source's order) or "packed" (sizes arranged for server-side copy), not ${JSON.stringify(value)}`,
  );
}

/** Parallel and server-side copy runs lay out headers before their data is read. */
function checkLocalHeaders(request: Record<string, unknown>): void {
  const value = request.localHeaders;
  if (value === undefined) return;
  if (!(LOCAL_HEADERS as readonly unknown[]).includes(value)) {
    throw new RequestError(
      'localHeaders',
      `must be "auto" (CRC-32 and sizes in local headers where known), "descriptor" (data descriptors) or "known" (in every header), not ${JSON.stringify(value)}`,
    );
  }
  if (value === 'known' && (request.parallel !== undefined || request.serverSideCopy === true)) {
    throw new RequestError(
      'localHeaders',
      'cannot be "known" with parallel or serverSideCopy (their headers are written before the data is read): use "auto", or leave parallel and serverSideCopy out',
    );
  }
}

function checkPlanning(value: unknown): void {
  if (value === undefined) return;
  checkObject('planning', value);
  checkKnownFields('planning', value, ['pageSize', 'pagesPerRun']);
  checkWholeNumber('planning.pageSize', value.pageSize, 1, 1000);
  checkWholeNumber('planning.pagesPerRun', value.pagesPerRun, 1, 10_000);
}

function checkIncremental(value: unknown): void {
  if (value === undefined || typeof value === 'boolean') return;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new RequestError(
      'incremental',
      'must be true, false or an object such as { "settleSeconds": 60 }',
    );
  }
  const fields = value as Record<string, unknown>;
  checkKnownFields('incremental', fields, ['settleSeconds']);
  checkWholeNumber('incremental.settleSeconds', fields.settleSeconds, 0, MAX_SETTLE_SECONDS);
}

/**
 * afterArchive removes what the source selection names: refused when that could include the
 * archive, its manifest or the run's state (the same bucket, under the source prefix, or one
 * of the explicit keys). Globs are not taken into account: move the archive out of the prefix.
 */
function checkAfterArchive(request: Record<string, unknown>): void {
  const value = request.afterArchive;
  checkBoolean('dryRun', request.dryRun);
  if (value !== undefined && !(AFTER_ARCHIVE as readonly unknown[]).includes(value)) {
    throw new RequestError(
      'afterArchive',
      `must be "none" (keep the sources), "delete" or "tag", not ${JSON.stringify(value)}`,
    );
  }
  if (value === undefined || value === 'none') {
    if (request.dryRun !== undefined) {
      throw new RequestError(
        'dryRun',
        'only applies with afterArchive "delete" or "tag": set afterArchive, or leave dryRun out',
      );
    }
    return;
  }
  const source = request.source as { bucket?: unknown; prefix?: unknown; keys?: unknown };
  const destination = request.destination as { bucket?: unknown; key?: unknown };
  if (source?.bucket !== destination?.bucket || typeof destination?.key !== 'string') return;
  const key = destination.key;
  const prefix = typeof source.prefix === 'string' ? source.prefix : '';
  const inside = Array.isArray(source.keys)
    ? source.keys.some(
        (k) =>
          k === key ||
          k === `${key}.manifest.jsonl` ||
          k === `${key}.moved.jsonl` ||
          (typeof k === 'string' && k.startsWith('.zipflow/')),
      )
    : key.startsWith(prefix) || '.zipflow/'.startsWith(prefix) || prefix.startsWith('.zipflow/');
  if (inside) {
    throw new RequestError(
      'destination.key',
      `s3://${destination.bucket as string}/${key} (or its manifest, or the run's state under .zipflow/) is inside the source selection s3://${source.bucket as string}/${prefix}, so afterArchive "${value as string}" would remove the archive's own objects: write the archive to another bucket or outside source.prefix (and give source.prefix a value), or leave afterArchive out`,
    );
  }
}

/** Checks a request without I/O; throws RequestError naming the first bad field. */
export function validateRequest(request: unknown): ArchiveRequest {
  checkObject('request', request);
  checkKnownFields('', request, REQUEST_FIELDS);
  checkBoolean('allowEmpty', request.allowEmpty);
  checkBoolean('verify', request.verify);
  checkAfterArchive(request);
  checkSource(request.source, request.allowEmpty === true);
  checkDestination(request.destination);
  checkCompression(request.compression);
  checkNaming(request.naming);
  checkPartSize(request.partSize);
  checkUploadConcurrency(request.uploadConcurrency);
  checkReadConcurrency(request.readConcurrency);
  checkPlanning(request.planning);
  checkIncremental(request.incremental);
  checkParallel(request);
  checkServerSideCopy(request);
  checkEntryOrder(request.entryOrder);
  checkLocalHeaders(request);
  if (
    request.onSourceChange !== undefined &&
    request.onSourceChange !== 'fail' &&
    request.onSourceChange !== 'skip'
  ) {
    throw new RequestError(
      'onSourceChange',
      `must be "fail" or "skip", not ${JSON.stringify(request.onSourceChange)}`,
    );
  }
  return request as unknown as ArchiveRequest;
}

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

/** Workflow id for a destination: starting the same archive twice finds the running one. */
export function archiveWorkflowId(destination: { bucket: string; key: string }): string {
  return `zipflow:s3://${destination.bucket}/${destination.key}`;
}
