/**
 * The archive request and result: plain JSON, so the Temporal Web UI, the CLI and any SDK
 * can send it. Imported by both the workflow bundle and the client, so it stays free of
 * Node APIs.
 */

export type CompressionMethod = 'auto' | 'store' | 'deflate';

export interface ArchiveRequest {
  source: {
    bucket: string;
    /** Keys under this prefix are archived; entry names are relative to it. */
    prefix?: string;
    /** Named profile the worker uses for the source store (credentials stay with the worker). */
    profile?: string;
  };
  destination: {
    bucket: string;
    key: string;
    profile?: string;
    /** Replace an existing object at the key (default false: refuse). */
    overwrite?: boolean;
    contentType?: string;
    storageClass?: string;
  };
  compression?: { method: CompressionMethod; level?: number };
  /** Bytes per multipart part, 5 MiB to 5 GiB; default 16 MiB. */
  partSize?: number;
  /**
   * A source object that changed or vanished after it was listed: `fail` the run (default),
   * or `skip` it and record it in the manifest.
   */
  onSourceChange?: 'fail' | 'skip';
}

export interface ArchiveResult {
  bucket: string;
  key: string;
  size: number;
  entries: number;
  parts: number;
  etag?: string;
  versionId?: string;
  sha256: string;
  /** CRC-32 of the whole archive, combined from the per-part CRCs the store verified. */
  crc32: string;
  /** Object next to the archive with one JSON line per entry (name, key, ETag, sizes, CRC-32, offset). */
  manifestKey: string;
  /** Every byte sent to S3, re-sends after a crash included; minus `size` it is the rework. */
  uploadedBytes: number;
  /** Source objects left out because they changed or vanished (onSourceChange: skip). */
  skipped: number;
  /** How often the streaming activity continued from a checkpoint. */
  resumes: number;
  durationMs: number;
}

export const MiB = 1024 * 1024;
export const GiB = 1024 * MiB;
export const MIN_PART_SIZE = 5 * MiB;
export const MAX_PART_SIZE = 5 * GiB;
export const DEFAULT_PART_SIZE = 16 * MiB;

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

function checkBucket(field: string, value: unknown): void {
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

function checkOptionalString(field: string, value: unknown): void {
  if (value !== undefined && typeof value !== 'string') {
    throw new RequestError(field, 'must be a string when given');
  }
}

function checkObject(field: string, value: unknown): asserts value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new RequestError(field, 'is required and must be an object');
  }
}

/** Checks a request without I/O; throws RequestError naming the first bad field. */
export function validateRequest(request: unknown): ArchiveRequest {
  checkObject('request', request);
  checkObject('source', request.source);
  checkBucket('source.bucket', request.source.bucket);
  checkOptionalString('source.prefix', request.source.prefix);
  checkOptionalString('source.profile', request.source.profile);
  checkObject('destination', request.destination);
  const destination = request.destination;
  checkBucket('destination.bucket', destination.bucket);
  if (typeof destination.key !== 'string' || destination.key === '') {
    throw new RequestError(
      'destination.key',
      'is required: give the object key of the archive, e.g. "archives/2026.zip"',
    );
  }
  if (new TextEncoder().encode(destination.key).length > 1024) {
    throw new RequestError('destination.key', 'is longer than S3 allows (1,024 bytes of UTF-8)');
  }
  if (destination.overwrite !== undefined && typeof destination.overwrite !== 'boolean') {
    throw new RequestError('destination.overwrite', 'must be true or false');
  }
  for (const f of ['profile', 'contentType', 'storageClass'] as const) {
    checkOptionalString(`destination.${f}`, destination[f]);
  }
  if (request.compression !== undefined) {
    checkObject('compression', request.compression);
    const { method, level } = request.compression;
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
  if (request.partSize !== undefined) {
    const p = request.partSize;
    if (typeof p !== 'number' || !Number.isInteger(p) || p < MIN_PART_SIZE || p > MAX_PART_SIZE) {
      throw new RequestError(
        'partSize',
        `must be a whole number of bytes from ${MIN_PART_SIZE} (5 MiB) to ${MAX_PART_SIZE} (5 GiB)`,
      );
    }
  }
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

/** Workflow id for a destination: starting the same archive twice finds the running one. */
export function archiveWorkflowId(destination: { bucket: string; key: string }): string {
  return `zipflow:s3://${destination.bucket}/${destination.key}`;
}
