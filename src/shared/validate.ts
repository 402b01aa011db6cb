/**
 * Checking an archive request without I/O: each problem is a RequestError that names the field
 * and how to fix it. Workflow-safe (no Node APIs): the workflow checks a request started from
 * the Web UI, the client checks it before starting.
 */

import { ZIPFLOW_PREFIX } from './stateKeys';
import {
  DEFAULT_READ_CONCURRENCY,
  DEFAULT_UPLOAD_CONCURRENCY,
  MAX_INLINE_KEYS,
  MAX_INLINE_KEY_BYTES,
  MAX_KEY_BYTES,
  MAX_PARALLEL,
  MAX_PART_SIZE,
  MAX_PATTERNS,
  MAX_READ_CONCURRENCY,
  MAX_READ_RANGE_SIZE,
  MIN_READ_RANGE_SIZE,
  MAX_UPLOAD_CONCURRENCY,
  MIN_PART_SIZE,
} from './limits';
import {
  AFTER_ARCHIVE,
  type ArchiveRequest,
  ENTRY_ORDERS,
  LOCAL_HEADERS,
  MAX_SETTLE_SECONDS,
  STORAGE_CLASSES,
} from './request';

import { placeholderList, unknownPlaceholders } from './keyTemplate';

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

/**
 * A bucket location (a source, a restore's destination): an object of known fields with a
 * bucket and an optional prefix. `fields`: the other fields it may have.
 */
export function checkBucketLocation(
  field: string,
  value: unknown,
  fields: string[],
): asserts value is Record<string, unknown> {
  checkObject(field, value);
  checkKnownFields(field, value, ['bucket', 'prefix', ...fields]);
  checkBucket(`${field}.bucket`, value.bucket);
  checkOptionalString(`${field}.prefix`, value.prefix);
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
  checkBucketLocation('source', value, ['profile', 'keys', 'keyList', 'include', 'exclude']);
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
  checkByteSize('partSize', value, [MIN_PART_SIZE, '5 MiB'], [MAX_PART_SIZE, '5 GiB'], '');
}

/** A whole number of bytes in [min, max], each given with its size in words. */
function checkByteSize(
  field: string,
  value: unknown,
  [min, minWords]: [number, string],
  [max, maxWords]: [number, string],
  note: string,
): void {
  if (value === undefined) return;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new RequestError(
      field,
      `must be a whole number of bytes from ${min} (${minWords}) to ${max} (${maxWords})${note}`,
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
    `(default ${DEFAULT_READ_CONCURRENCY}); each one lets the worker hold 4 MiB more of source data`,
  );
}

function checkReadRangeSize(value: unknown): void {
  checkByteSize(
    'readRangeSize',
    value,
    [MIN_READ_RANGE_SIZE, '1 MiB'],
    [MAX_READ_RANGE_SIZE, '64 MiB'],
    `, not ${JSON.stringify(value)}; leave it out for the default (4 MiB, 2 MiB on a far path)`,
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
  'readRangeSize',
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
          (typeof k === 'string' && k.startsWith(ZIPFLOW_PREFIX)),
      )
    : key.startsWith(prefix) ||
      ZIPFLOW_PREFIX.startsWith(prefix) ||
      prefix.startsWith(ZIPFLOW_PREFIX);
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
  checkReadRangeSize(request.readRangeSize);
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
