/**
 * The restore request and result: entries of an archive in S3 written back as objects. Plain
 * JSON like the archive request, validated by the same code in the client and the workflow
 * (so it stays free of Node APIs).
 */
import { ZIPFLOW_PREFIX } from './stateKeys';
import {
  checkBoolean,
  checkBucket,
  checkBucketLocation,
  checkKnownFields,
  checkNonEmptyString,
  checkObject,
  checkOptionalObject,
  checkOptionalString,
  checkServerSideEncryption,
  checkStorageClass,
  checkWholeNumber,
  RequestError,
  utf8Length,
} from './validate';
import { MAX_INLINE_KEYS, MAX_PATTERNS } from './limits';
import { type ServerSideEncryption, type StorageClass } from './request';

export interface RestoreRequest {
  /** The ZIP archive to restore from; any ZIP a reader accepts, not only zipflow's. */
  archive: { bucket: string; key: string; profile?: string };
  /**
   * Which entries: exactly these `names`, or those matching `include` (any) and no `exclude`
   * (globs on the entry name, picomatch, dotfiles match). Leave it out for every entry.
   */
  select?: { names?: string[]; include?: string[]; exclude?: string[] };
  destination: {
    bucket: string;
    /** Each entry becomes the object `<prefix><entry name>` ("" or absent: the name alone). */
    prefix?: string;
    profile?: string;
    /** Replace objects that already exist at those keys (default false: refuse). */
    overwrite?: boolean;
    storageClass?: StorageClass;
    serverSideEncryption?: ServerSideEncryption;
  };
  /** Entries written at once, 1 to 32 (default 4). */
  concurrency?: number;
}

export interface RestoreResult {
  archive: string;
  bucket: string;
  prefix: string;
  /** Objects written (entries restored). */
  entries: number;
  /** Their bytes (uncompressed sizes). */
  bytes: number;
  /** STORE entries of 5 MiB or more the store copied from the archive (UploadPartCopy). */
  copiedEntries: number;
  copiedBytes: number;
  /** Directory entries in the selection, which make no object. */
  directories: number;
  /** Whether the archive had a zipflow manifest, checked against its central directory. */
  manifestChecked: boolean;
  /** Activity attempts beyond the first and S3 requests sent again. */
  retries: number;
  durationMs: number;
}

export const DEFAULT_RESTORE_CONCURRENCY = 4;
export const MAX_RESTORE_CONCURRENCY = 32;
const MAX_KEY_BYTES = 1024;

function checkStrings(field: string, value: unknown, max: number, what: string): void {
  if (value === undefined) return;
  if (!Array.isArray(value)) throw new RequestError(field, `must be an array of ${what}`);
  if (value.length === 0) {
    throw new RequestError(field, `is empty: give at least one, or leave ${field} out`);
  }
  if (value.length > max) {
    throw new RequestError(field, `has ${value.length} items: give at most ${max}`);
  }
  value.forEach((item: unknown, i) =>
    checkNonEmptyString(`${field}[${i}]`, item, `give ${what.replace(/s$/, '')}`),
  );
}

function checkSelect(value: unknown): void {
  checkOptionalObject('select', value);
  if (value === undefined) return;
  checkKnownFields('select', value, ['names', 'include', 'exclude']);
  checkStrings('select.names', value.names, MAX_INLINE_KEYS, 'entry names, e.g. "logs/a.txt"');
  checkStrings('select.include', value.include, MAX_PATTERNS, 'globs, e.g. "logs/**/*.gz"');
  checkStrings('select.exclude', value.exclude, MAX_PATTERNS, 'globs, e.g. "tmp/**"');
  if (value.names !== undefined && (value.include !== undefined || value.exclude !== undefined)) {
    throw new RequestError(
      'select.names',
      'cannot be combined with select.include or select.exclude: give exact names, or globs',
    );
  }
}

/** Checks a restore request without I/O; throws RequestError naming the first bad field. */
export function validateRestoreRequest(request: unknown): RestoreRequest {
  checkObject('request', request);
  checkKnownFields('', request, ['archive', 'select', 'destination', 'concurrency']);
  checkObject('archive', request.archive);
  checkKnownFields('archive', request.archive, ['bucket', 'key', 'profile']);
  checkBucket('archive.bucket', request.archive.bucket);
  checkNonEmptyString(
    'archive.key',
    request.archive.key,
    'give the key of the ZIP archive, e.g. "archives/2026.zip"',
  );
  checkOptionalString('archive.profile', request.archive.profile);
  checkSelect(request.select);
  const destination = request.destination;
  checkBucketLocation('destination', destination, [
    'profile',
    'overwrite',
    'storageClass',
    'serverSideEncryption',
  ]);
  if (typeof destination.prefix === 'string') {
    if (destination.prefix.startsWith('/')) {
      throw new RequestError(
        'destination.prefix',
        'must not start with "/": S3 keys have no leading slash, write e.g. "restored/"',
      );
    }
    if (utf8Length(destination.prefix) > MAX_KEY_BYTES) {
      throw new RequestError('destination.prefix', 'is longer than an S3 key (1,024 bytes)');
    }
    if (destination.prefix.startsWith(ZIPFLOW_PREFIX)) {
      throw new RequestError(
        'destination.prefix',
        'must not be under .zipflow/, where zipflow keeps its state: choose another prefix',
      );
    }
  }
  checkOptionalString('destination.profile', destination.profile);
  checkBoolean('destination.overwrite', destination.overwrite);
  checkStorageClass(destination.storageClass);
  checkServerSideEncryption(destination.serverSideEncryption);
  checkWholeNumber('concurrency', request.concurrency, 1, MAX_RESTORE_CONCURRENCY);
  return request as unknown as RestoreRequest;
}

/**
 * Workflow id for a restore: named by where it writes, so starting the same restore twice
 * joins the running one, and two restores never write one prefix at once.
 */
export function restoreWorkflowId(destination: { bucket: string; prefix?: string }): string {
  return `zipflow-restore:s3://${destination.bucket}/${destination.prefix ?? ''}`;
}
