/**
 * The archive request and result: plain JSON, so the Temporal Web UI, the CLI and any SDK
 * can send it. Imported by both the workflow bundle and the client, so it stays free of
 * Node APIs.
 */

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
   * The read budget in ranges of large source objects, 1 to 64; default 4, or the worker's
   * ZIPFLOW_READ_CONCURRENCY. The read side holds up to 4 MiB × this (objects read ahead), in up
   * to twice as many ranged GETs at once.
   */
  readConcurrency?: number;
  /**
   * Bytes per ranged GET of a large source object, 1 MiB to 64 MiB, fixed; default: 4 MiB,
   * halved on a path whose GETs all take 40 ms or more to answer, or the worker's
   * ZIPFLOW_READ_RANGE_SIZE. A store on the same host or network with no per-connection cap
   * reads large objects fastest in ranges as large as the read budget (16 MiB by default); on
   * far paths smaller ranges are faster (docs/benchmarks.md). A range larger than the budget is
   * still read, alone: memory is then this size.
   */
  readRangeSize?: number;
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
   * first, and larger STORE objects whose CRC-32 S3 stores (checked as they stream) — with no
   * data descriptor, so streaming readers (Java ZipInputStream, bsdtar from a pipe) read them;
   * other larger objects, and every object over 1 MiB of parallel or serverSideCopy runs
   * (laid out before data is read), keep a data descriptor. `descriptor`: every file has a data descriptor (yazl's streaming layout).
   * `known`: every file's header carries them; the run fails at planning with
   * LocalHeaderUnknown naming the first object over 1 MiB (a stored CRC-32 is asked for only
   * as the entry is written, after planning). The result counts the entries
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

/** Workflow id for a destination: starting the same archive twice finds the running one. */
export function archiveWorkflowId(destination: { bucket: string; key: string }): string {
  return `zipflow:s3://${destination.bucket}/${destination.key}`;
}
