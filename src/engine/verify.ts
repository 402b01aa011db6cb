import { currentAttempt } from './run/attempt';
import { RunFailure } from './run/failures';
import crypto from 'node:crypto';
import readline from 'node:readline';
import { Readable } from 'node:stream';
import {
  GetObjectCommand,
  GetObjectTaggingCommand,
  HeadObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import yauzl from 'yauzl';
import { withS3Clients } from '../s3/client';
import { S3RangeReader, type SizedVersion } from '../s3/rangeReader';
import { METHOD_DEFLATE, METHOD_STORE, ZIP64_EXTRA_TAG } from '../zip/constants';
import { dataDescriptorLength, readDataDescriptor } from '../zip/records';
import { DEFAULT_MAX_PROBLEMS, type VerificationReport } from '../shared/verification';
import { manifestKey } from '../shared/stateKeys';
import { crc32Of } from '../zip/crc32';

/** Raised when there is no archive to verify (as opposed to an archive that does not match). */
export class ArchiveNotFoundError extends Error {
  constructor(bucket: string, key: string) {
    super(`s3://${bucket}/${key}: no such object`);
    this.name = 'ArchiveNotFoundError';
  }
}

export interface VerifyOptions {
  /** A SHA-256 the caller knows (e.g. from the run's result), checked besides the tag. */
  expectedSha256?: string;
  /** Problems listed in the report (default 100); the rest are counted. */
  maxProblems?: number;
  /** Called as bytes are hashed and entries checked (for heartbeats and progress). */
  onProgress?: (progress: { bytesHashed: number; entriesChecked: number }) => void;
  signal?: AbortSignal;
}

/** One manifest line for an entry, as the streaming activity writes it. */
export interface ManifestEntry {
  name: string;
  size: number;
  compressedSize: number;
  crc32: string;
  offset: number;
  /** The source object and the ETag it had when archived (zipflow's manifest lines). */
  key?: string;
  etag?: string;
}

class Problems {
  readonly list: string[] = [];
  count = 0;
  constructor(private readonly max: number) {}
  add(problem: string): void {
    this.count += 1;
    if (this.list.length < this.max) this.list.push(problem);
  }
}

function hex32(value: number): string {
  return `0x${value.toString(16).padStart(8, '0')}`;
}

/**
 * Reads an archive back from S3 and checks it against itself and against what zipflow
 * recorded: yauzl reads the end records and central directory through ranged GETs; every
 * entry's data is read and its CRC-32 and sizes compared with the central directory, the
 * data descriptor and the manifest line (name, sizes, CRC-32, offset); the object is hashed
 * once and its SHA-256 (and CRC-32) compared with the zipflow-sha256 (zipflow-crc32) tag.
 * Memory stays bounded: a few cached blocks and the streams in flight, never the archive.
 * Throws ArchiveNotFoundError when the object does not exist.
 */
export async function verifyArchiveObject(
  client: S3Client,
  location: { bucket: string; key: string },
  options: VerifyOptions = {},
): Promise<VerificationReport> {
  const { bucket, key } = location;
  const problems = new Problems(options.maxProblems ?? DEFAULT_MAX_PROBLEMS);
  const object = await headArchive(client, bucket, key);
  const tags = await objectTags(client, bucket, key);
  const progress = { bytesHashed: 0, entriesChecked: 0 };
  const report = () => options.onProgress?.({ ...progress });

  const [digest] = await Promise.all([
    hashObject(new S3RangeReader(client, object), object.size, (n) => {
      options.signal?.throwIfAborted();
      progress.bytesHashed += n;
      report();
    }),
    checkEntries(client, object, problems, () => {
      options.signal?.throwIfAborted();
      progress.entriesChecked += 1;
      report();
    }),
  ]);

  const expected = tags.get('zipflow-sha256') ?? options.expectedSha256;
  // A server-side copy archive records no SHA-256 (its copied bytes never passed through a
  // worker): its zipflow-crc32 tag, checked below, covers the whole object instead.
  if (expected === undefined && !tags.has('zipflow-crc32')) {
    problems.add(
      'archive: no zipflow-sha256 or zipflow-crc32 tag, so its checksum cannot be checked',
    );
  } else if (expected !== undefined && digest.sha256 !== expected) {
    problems.add(`archive: SHA-256 ${digest.sha256} of its bytes, ${expected} recorded`);
  }
  if (options.expectedSha256 !== undefined && options.expectedSha256 !== expected) {
    problems.add(
      `archive: SHA-256 ${digest.sha256} of its bytes, ${options.expectedSha256} expected by the caller`,
    );
  }
  const crc32Tag = tags.get('zipflow-crc32');
  const crc32 = digest.crc32.toString(16).padStart(8, '0');
  if (crc32Tag !== undefined && crc32Tag !== crc32) {
    problems.add(`archive: CRC-32 0x${crc32} of its bytes, 0x${crc32Tag} in the zipflow-crc32 tag`);
  }
  return {
    bucket,
    key,
    ok: problems.count === 0,
    entries: progress.entriesChecked,
    bytes: object.size,
    sha256: { expected, actual: digest.sha256 },
    problems: problems.list,
    problemCount: problems.count,
  };
}

async function headArchive(client: S3Client, bucket: string, key: string): Promise<SizedVersion> {
  try {
    const head = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    return { bucket, key, size: head.ContentLength ?? 0, etag: head.ETag };
  } catch (err) {
    if ((err as { name?: string }).name === 'NotFound') throw new ArchiveNotFoundError(bucket, key);
    throw err;
  }
}

async function objectTags(
  client: S3Client,
  bucket: string,
  key: string,
): Promise<Map<string, string>> {
  const out = await client.send(new GetObjectTaggingCommand({ Bucket: bucket, Key: key }));
  return new Map((out.TagSet ?? []).map((t) => [t.Key ?? '', t.Value ?? '']));
}

async function hashObject(
  reader: S3RangeReader,
  size: number,
  onBytes: (n: number) => void,
): Promise<{ sha256: string; crc32: number }> {
  const hash = crypto.createHash('sha256');
  let crc32 = 0;
  if (size > 0) {
    for await (const chunk of reader.streamRange(0, size)) {
      hash.update(chunk);
      crc32 = crc32Of(chunk, crc32);
      onBytes(chunk.length);
    }
  }
  return { sha256: hash.digest('hex'), crc32 };
}

/** The manifest's entry lines in order (skipped-object lines left out); undefined if absent. */
export async function openManifest(
  client: S3Client,
  bucket: string,
  archiveKey: string,
): Promise<AsyncIterator<ManifestEntry> | undefined> {
  let body: Readable;
  try {
    const out = await client.send(
      new GetObjectCommand({ Bucket: bucket, Key: manifestKey(archiveKey) }),
    );
    body = out.Body as Readable;
  } catch (err) {
    if ((err as { name?: string }).name === 'NoSuchKey') return undefined;
    throw err;
  }
  async function* entries(): AsyncGenerator<ManifestEntry> {
    let n = 0;
    for await (const line of readline.createInterface({ input: body, crlfDelay: Infinity })) {
      n += 1;
      if (line.trim() === '') continue;
      let parsed: Partial<ManifestEntry> & { skipped?: unknown };
      try {
        parsed = JSON.parse(line) as typeof parsed;
      } catch {
        throw new Error(`manifest line ${n} is not JSON`);
      }
      if (parsed.skipped !== undefined || parsed.name === undefined) continue;
      yield parsed as ManifestEntry;
    }
  }
  return entries();
}

/** yauzl over an S3 object: entries one at a time, read by the caller, names as stored. */
export function openZip(reader: S3RangeReader): Promise<yauzl.ZipFile> {
  return yauzl.fromRandomAccessReaderPromise(reader, reader.size, {
    lazyEntries: true,
    autoClose: false,
    validateEntrySizes: true,
    strictFileNames: false,
  });
}

export function nextEntry(zip: yauzl.ZipFile): Promise<yauzl.Entry | undefined> {
  return new Promise((resolve, reject) => {
    const done = () => {
      zip.off('entry', onEntry);
      zip.off('end', onEnd);
      zip.off('error', onError);
    };
    const onEntry = (entry: yauzl.Entry) => (done(), resolve(entry));
    const onEnd = () => (done(), resolve(undefined));
    const onError = (err: Error) => (done(), reject(err));
    zip.on('entry', onEntry);
    zip.on('end', onEnd);
    zip.on('error', onError);
    zip.readEntry();
  });
}

async function checkEntries(
  client: S3Client,
  object: SizedVersion,
  problems: Problems,
  onEntry: () => void,
): Promise<void> {
  const manifest = await openManifest(client, object.bucket, object.key);
  if (!manifest) {
    problems.add(`manifest: s3://${object.bucket}/${manifestKey(object.key)} does not exist`);
  }
  const reader = new S3RangeReader(client, object);
  let zip: yauzl.ZipFile;
  try {
    zip = await openZip(reader);
  } catch (err) {
    problems.add(`archive: not a readable ZIP (${(err as Error).message})`);
    return;
  }
  let index = 0;
  try {
    for (;;) {
      let entry: yauzl.Entry | undefined;
      try {
        entry = await nextEntry(zip);
      } catch (err) {
        problems.add(
          `central directory: record ${index + 1} cannot be read (${(err as Error).message})`,
        );
        return;
      }
      if (!entry) break;
      index += 1;
      const line = manifest ? await manifest.next() : undefined;
      if (line?.done) {
        problems.add(
          `entry "${entry.fileName}": not in the manifest (it lists ${index - 1} entries)`,
        );
      } else if (line) {
        compareWithManifest(entry, line.value, index, problems);
      }
      await checkEntryData(zip, reader, entry, problems);
      onEntry();
    }
    if (manifest) {
      let extra = 0;
      while (!(await manifest.next()).done) extra += 1;
      if (extra > 0) {
        problems.add(
          `manifest: lists ${index + extra} entries, the central directory ${index} (${extra} not in the archive)`,
        );
      }
    }
  } finally {
    zip.close();
  }
}

function compareWithManifest(
  entry: yauzl.Entry,
  line: ManifestEntry,
  index: number,
  problems: Problems,
): void {
  const name = `entry "${entry.fileName}"`;
  if (line.name !== entry.fileName) {
    problems.add(`${name}: manifest line ${index} names "${line.name}" instead`);
  }
  const fields: [string, string | number, string | number][] = [
    ['size', entry.uncompressedSize, line.size],
    ['compressed size', entry.compressedSize, line.compressedSize],
    ['CRC-32', hex32(entry.crc32), `0x${line.crc32}`],
    ['offset', entry.relativeOffsetOfLocalHeader, line.offset],
  ];
  for (const [field, inArchive, inManifest] of fields) {
    if (inArchive !== inManifest) {
      problems.add(
        `${name}: ${field} ${inArchive} in central directory, ${inManifest} in manifest`,
      );
    }
  }
}

/**
 * Reads an entry's data through yauzl (inflating DEFLATE) and compares its CRC-32 and sizes
 * with the central directory, then the data descriptor after it with both.
 */
async function checkEntryData(
  zip: yauzl.ZipFile,
  reader: S3RangeReader,
  entry: yauzl.Entry,
  problems: Problems,
): Promise<void> {
  const name = `entry "${entry.fileName}"`;
  if (entry.compressionMethod !== METHOD_STORE && entry.compressionMethod !== METHOD_DEFLATE) {
    problems.add(`${name}: compression method ${entry.compressionMethod}, not STORE or DEFLATE`);
    return;
  }
  let fileDataStart: number;
  try {
    ({ fileDataStart } = await zip.readLocalFileHeaderPromise(entry, { minimal: true }));
  } catch (err) {
    problems.add(`${name}: local file header cannot be read (${(err as Error).message})`);
    return;
  }
  let crc32 = 0;
  let bytes = 0;
  try {
    // yauzl 3.4's openReadStreamLowLevelPromise calls openReadStream; use the callback form.
    const data = await new Promise<Readable>((resolve, reject) =>
      zip.openReadStreamLowLevel(
        fileDataStart,
        entry.compressedSize,
        0,
        entry.compressedSize,
        entry.compressionMethod === METHOD_DEFLATE,
        entry.uncompressedSize,
        (err, stream) => (err ? reject(err) : resolve(stream)),
      ),
    );
    for await (const chunk of data as AsyncIterable<Buffer>) {
      crc32 = crc32Of(chunk, crc32);
      bytes += chunk.length;
    }
  } catch (err) {
    problems.add(`${name}: data cannot be read (${(err as Error).message})`);
    return;
  }
  if (crc32 !== entry.crc32) {
    problems.add(
      `${name}: CRC-32 ${hex32(crc32)} in archive data, ${hex32(entry.crc32)} in central directory`,
    );
  }
  if (bytes !== entry.uncompressedSize) {
    problems.add(
      `${name}: ${bytes} bytes in archive data, size ${entry.uncompressedSize} in central directory`,
    );
  }
  if ((entry.generalPurposeBitFlag & 0x08) === 0) return; // APPNOTE 4.4.4 bit 3: no descriptor
  const zip64 = entry.extraFields.some((f) => f.id === ZIP64_EXTRA_TAG);
  const at = fileDataStart + entry.compressedSize;
  const length = Math.min(dataDescriptorLength(zip64), reader.size - at);
  const descriptor = readDataDescriptor(await reader.readRange(at, at + length), zip64);
  if (!descriptor) {
    problems.add(`${name}: no data descriptor at offset ${at}, where its data ends`);
    return;
  }
  const fields: [string, string | number, string | number][] = [
    ['CRC-32', hex32(descriptor.crc32), hex32(entry.crc32)],
    ['compressed size', descriptor.compressedSize, entry.compressedSize],
    ['size', descriptor.uncompressedSize, entry.uncompressedSize],
  ];
  for (const [field, inDescriptor, inDirectory] of fields) {
    if (inDescriptor !== inDirectory) {
      problems.add(
        `${name}: ${field} ${inDescriptor} in data descriptor, ${inDirectory} in central directory`,
      );
    }
  }
}

export interface VerifyInput {
  bucket: string;
  key: string;
  profile?: string;
  /** The SHA-256 the run recorded, checked besides the object's tag. */
  expectedSha256?: string;
}

/**
 * Progress comes per entry checked and per chunk hashed; a heartbeat for each costs more than
 * checking a small entry. Liveness needs far fewer (the heartbeat timeout is tens of seconds).
 */
const PROGRESS_HEARTBEAT_MS = 1_000;

/** Calls `fn` on the first call and then at most once per `ms`, dropping the calls between. */
function atMostEvery<T>(ms: number, fn: (value: T) => void): (value: T) => void {
  let last = -Infinity;
  return (value) => {
    const now = Date.now();
    if (now - last < ms) return;
    last = now;
    fn(value);
  };
}

/** Problems the activity lists: the report travels in workflow history (DESIGN invariant 2). */
export const ACTIVITY_MAX_PROBLEMS = 20;

/**
 * Verifies a completed archive, heartbeating progress. A missing archive is a non-retryable
 * ArchiveNotFound failure; a mismatch is not a failure here: the report says so.
 */
export async function verifyArchive(input: VerifyInput): Promise<VerificationReport> {
  const ctx = currentAttempt();
  return withS3Clients([{ profile: input.profile }], async ([client]) => {
    try {
      return await verifyArchiveObject(
        client,
        { bucket: input.bucket, key: input.key },
        {
          expectedSha256: input.expectedSha256,
          maxProblems: ACTIVITY_MAX_PROBLEMS,
          onProgress: atMostEvery(PROGRESS_HEARTBEAT_MS, (progress) => ctx.heartbeat(progress)),
          signal: ctx.signal,
        },
      );
    } catch (err) {
      if (err instanceof ArchiveNotFoundError) {
        throw RunFailure.nonRetryable(err.message, 'ArchiveNotFound');
      }
      throw err;
    }
  });
}
