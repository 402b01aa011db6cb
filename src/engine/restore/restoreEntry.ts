/**
 * Writes one archive entry back as an object. The entry's data is found through its local
 * header (read at the central directory's offset; its name and extra field lengths say where
 * the data starts, so entries with or without data descriptors read alike), and its CRC-32 is
 * checked before the object becomes visible: a PutObject is only sent once the bytes match,
 * a multipart upload is only completed once they do (and aborted otherwise).
 */
import { restoreStagingKey } from '../../shared/stateKeys';
import { Readable } from 'node:stream';
import zlib from 'node:zlib';
import crypto from 'node:crypto';
import {
  CopyObjectCommand,
  DeleteObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import mime from 'mime-types';
import { abortUploads } from '../../s3/destination';
import { crc32Base64, MultipartSession, sseParams, type HeldPart } from '../../s3/multipart';
import { everyPartHeld } from '../write/archiveUpload';
import { PartWriter } from '../write/parts';
import { type S3RangeReader, type SizedVersion } from '../../s3/rangeReader';
import { SourceChangedError } from '../../s3/objectReader';
import { MAX_PARTS, MiB } from '../../shared/limits';
import type { RestoreRequest } from '../../shared/restore';
import {
  LOCAL_FILE_HEADER_FIXED_SIZE,
  LOCAL_FILE_HEADER_SIGNATURE,
  METHOD_DEFLATE,
  METHOD_STORE,
} from '../../zip/constants';
import type { RestoreEntry } from './restorePlan';
import { ChunkCheckpoint, PartProgress, type EntryUploadCheckpoint } from './restoreCheckpoint';
import { crc32Of } from '../../zip/crc32';

/** STORE entries this large are copied by the store (UploadPartCopy needs 5 MiB parts). */
export const SERVER_SIDE_COPY_MIN = 5 * MiB;
/** CopyObject's limit (the staged copy is checksummed with one); larger entries are streamed. */
export const SERVER_SIDE_COPY_MAX = 5 * 1024 * MiB;
/** Entries up to this size go up in one PutObject; larger ones as a multipart upload. */
export const SINGLE_PUT_MAX = 8 * MiB;
const STREAM_PART_SIZE = 8 * MiB;
/** Parts of one streamed entry in flight at once (each holds a part-sized buffer). */
const STREAM_PARTS_IN_FLIGHT = 2;
/** Copied parts: fewer requests; 5 GiB is UploadPartCopy's limit. */
const COPY_PART_SIZE = 512 * MiB;

/** Raised when an entry's bytes do not have the CRC-32 or size the central directory gives. */
export class EntryMismatchError extends Error {
  constructor(
    readonly entry: string,
    detail: string,
  ) {
    super(`entry "${entry}": ${detail}; nothing was written for it`);
    this.name = 'EntryMismatchError';
  }
}

/** Raised when the local header is not where the central directory says. */
export class BadLocalHeaderError extends Error {}

export interface EntryTarget {
  request: RestoreRequest;
  archive: SizedVersion & { etag: string };
  /** Written as metadata, so a retry recognises the objects this run already wrote. */
  runId: string;
  /** The run's state prefix in the destination bucket (staged copies live there). */
  statePrefix: string;
}

export interface WrittenEntry {
  copied: boolean;
}

/** Where an entry's data starts: after its local header's fixed part, name and extra field. */
export async function dataStartOf(reader: S3RangeReader, entry: RestoreEntry): Promise<number> {
  const end = entry.offset + LOCAL_FILE_HEADER_FIXED_SIZE;
  if (end > reader.size)
    throw new BadLocalHeaderError(
      `entry "${entry.name}": local header is past the end of the archive`,
    );
  const header = await reader.readRange(entry.offset, end);
  if (header.readUInt32LE(0) !== LOCAL_FILE_HEADER_SIGNATURE) {
    throw new BadLocalHeaderError(
      `entry "${entry.name}": no local file header at offset ${entry.offset}, where the central directory puts it`,
    );
  }
  const start = end + header.readUInt16LE(26) + header.readUInt16LE(28); // APPNOTE 4.3.7
  if (start + entry.compressedSize > reader.size) {
    throw new BadLocalHeaderError(
      `entry "${entry.name}": its data runs past the end of the archive`,
    );
  }
  return start;
}

/** User metadata of a restored object. */
export function restoredMetadata(target: EntryTarget, entry: RestoreEntry): Record<string, string> {
  return {
    'zipflow-mtime': new Date(entry.mtime).toISOString(),
    'zipflow-archive': `s3://${target.archive.bucket}/${target.archive.key}`,
    'zipflow-restore-run': target.runId,
  };
}

function contentTypeOf(name: string): string {
  return mime.lookup(name) || 'application/octet-stream';
}

function checkData(entry: RestoreEntry, crc32: number, size: number): void {
  if (size !== entry.size) {
    throw new EntryMismatchError(
      entry.name,
      `${size} bytes in the archive data, size ${entry.size} in the central directory`,
    );
  }
  if (crc32 !== entry.crc32) {
    const hex = (v: number) => `0x${(v >>> 0).toString(16).padStart(8, '0')}`;
    throw new EntryMismatchError(
      entry.name,
      `CRC-32 ${hex(crc32)} of the archive data, ${hex(entry.crc32)} in the central directory`,
    );
  }
}

/** The entry's bytes as stored, inflated when DEFLATE; a STORE entry's from byte `from` on. */
function entryStream(
  reader: S3RangeReader,
  entry: RestoreEntry,
  start: number,
  from = 0,
): AsyncIterable<Buffer> {
  const raw =
    entry.compressedSize === from
      ? Readable.from([])
      : Readable.from(reader.streamRange(start + from, start + entry.compressedSize));
  if (entry.method !== METHOD_DEFLATE) return raw;
  const inflate = zlib.createInflateRaw();
  raw.on('error', (err) => inflate.destroy(err));
  return raw.pipe(inflate);
}

/** Whether the store copies this entry (STORE, 5 MiB or more, archive and destination in one store). */
export function copiedByStore(entry: RestoreEntry, sameStore: boolean): boolean {
  return (
    sameStore &&
    entry.method === METHOD_STORE &&
    entry.size >= SERVER_SIDE_COPY_MIN &&
    entry.size <= SERVER_SIDE_COPY_MAX
  );
}

/** Whether the entry goes up as a multipart upload (else one PutObject). */
export function usesMultipart(entry: RestoreEntry): boolean {
  return entry.size > SINGLE_PUT_MAX || entry.compressedSize > SINGLE_PUT_MAX;
}

/**
 * Writes one entry as `entry.key`. STORE entries of 5 MiB or more are copied by the store
 * when `copy` is allowed (same store for archive and destination).
 */
export async function writeEntry(
  target: EntryTarget,
  dst: S3Client,
  reader: S3RangeReader,
  entry: RestoreEntry,
  copy: boolean,
  checkpoint: ChunkCheckpoint,
): Promise<WrittenEntry> {
  const start = await dataStartOf(reader, entry);
  if (copiedByStore(entry, copy)) {
    await copyEntry(target, dst, entry, start, checkpoint);
    return { copied: true };
  }
  const read = { target, dst, reader, entry, start };
  if (!usesMultipart(entry)) await putEntry(read);
  else await streamEntry(read, checkpoint);
  return { copied: false };
}

/** An entry whose bytes pass through the worker: read from `start` in the archive. */
interface EntryRead {
  target: EntryTarget;
  dst: S3Client;
  reader: S3RangeReader;
  entry: RestoreEntry;
  start: number;
}

async function putEntry(read: EntryRead): Promise<void> {
  const { target, dst, reader, entry, start } = read;
  const stored =
    entry.compressedSize === 0
      ? Buffer.alloc(0)
      : await reader.readRange(start, start + entry.compressedSize);
  let body: Buffer;
  try {
    body = entry.method === METHOD_DEFLATE ? zlib.inflateRawSync(stored) : stored;
  } catch (err) {
    throw new EntryMismatchError(
      entry.name,
      `its DEFLATE data cannot be inflated (${(err as Error).message})`,
    );
  }
  const crc32 = crc32Of(body);
  checkData(entry, crc32, body.length);
  const { destination } = target.request;
  await dst.send(
    new PutObjectCommand({
      Bucket: destination.bucket,
      Key: entry.key,
      Body: body,
      ContentLength: body.length,
      ChecksumCRC32: crc32Base64(crc32), // the store checks the bytes it received too
      ContentType: contentTypeOf(entry.name),
      Metadata: restoredMetadata(target, entry),
      ...(destination.storageClass ? { StorageClass: destination.storageClass } : {}),
      ...sseParams(destination.serverSideEncryption),
      ...(destination.overwrite ? {} : { IfNoneMatch: '*' }),
    }),
  );
}

function session(
  target: EntryTarget,
  dst: S3Client,
  entry: RestoreEntry,
  checksums: boolean,
): Promise<MultipartSession> {
  const { destination } = target.request;
  return MultipartSession.create(dst, {
    bucket: destination.bucket,
    key: entry.key,
    contentType: contentTypeOf(entry.name),
    storageClass: destination.storageClass,
    serverSideEncryption: destination.serverSideEncryption,
    metadata: restoredMetadata(target, entry),
    checksums,
  });
}

/** Runs `body` with a fresh upload at the entry's key, aborting it unless completed. */
async function withUpload(
  target: EntryTarget,
  dst: S3Client,
  entry: RestoreEntry,
  checksums: boolean,
  body: (upload: MultipartSession) => Promise<{ parts: HeldPart[]; crc32: number }>,
): Promise<void> {
  // An earlier attempt that died left its upload: it holds nothing this one needs.
  await abortUploads(dst, target.request.destination.bucket, entry.key);
  const upload = await session(target, dst, entry, checksums);
  try {
    const { parts, crc32 } = await body(upload);
    await upload.complete(parts, {
      overwrite: target.request.destination.overwrite === true,
      crc32,
    });
  } catch (err) {
    await upload.abort().catch(() => undefined);
    throw err;
  }
}

function partSizeFor(size: number, least: number): number {
  return Math.max(least, Math.ceil(size / MAX_PARTS / MiB) * MiB);
}

/**
 * A large entry streamed (inflated when DEFLATE) into a multipart upload, CRC-32 checked before
 * completion. The checkpoint follows the parts S3 holds; a retry continues the same upload: a
 * STORE entry is read on from the byte after the last part held, a DEFLATE one (whose inflate
 * state cannot be saved) inflated from its start again, and neither sends a part S3 already
 * holds with the same size and CRC-32 again.
 */
async function streamEntry(read: EntryRead, checkpoint: ChunkCheckpoint): Promise<void> {
  const { target, dst, entry } = read;
  const { destination } = target.request;
  const resumed = await resumeUpload(read, checkpoint.earlier(entry.key));
  // Other uploads at the key were begun by attempts that died before their checkpoint said so.
  await abortUploads(dst, destination.bucket, entry.key, resumed?.upload.uploadId);
  const upload = resumed?.upload ?? (await session(target, dst, entry, true));
  const at: EntryUploadCheckpoint = resumed?.at ?? {
    uploadId: upload.uploadId,
    checksumType: checksumTypeOf(upload),
    partSize: partSizeFor(entry.size, STREAM_PART_SIZE),
    partsDone: 0,
    bytesDone: 0,
    crc32: 0,
  };
  checkpoint.update(entry.key, at);
  try {
    const crc32 = await sendParts(read, upload, at, resumed?.held ?? [], (moved) =>
      checkpoint.update(entry.key, moved),
    );
    const held = await everyPartHeld(upload, Math.max(1, Math.ceil(entry.size / at.partSize)));
    await upload.complete(held, { overwrite: destination.overwrite === true, crc32 });
  } catch (err) {
    // Kept for the retry, unless no retry can restore the entry (the run's discard aborts
    // what a failed run leaves).
    if (!(err instanceof EntryMismatchError || err instanceof SourceChangedError)) throw err;
    await upload.abort().catch(() => undefined);
    checkpoint.update(entry.key, undefined);
    throw err;
  }
  checkpoint.update(entry.key, undefined);
}

function checksumTypeOf(upload: MultipartSession): EntryUploadCheckpoint['checksumType'] {
  return upload.checksumType === 'FULL_OBJECT' || upload.checksumType === 'NONE'
    ? upload.checksumType
    : 'COMPOSITE';
}

/**
 * The upload an earlier attempt left for the entry, with the parts S3 holds, when it is still
 * open and holds every part its checkpoint says; else undefined (start over).
 */
async function resumeUpload(
  read: EntryRead,
  earlier: EntryUploadCheckpoint | undefined,
): Promise<{ upload: MultipartSession; at: EntryUploadCheckpoint; held: HeldPart[] } | undefined> {
  if (!earlier) return undefined;
  const { target, dst, entry } = read;
  const upload = MultipartSession.attach(
    dst,
    { bucket: target.request.destination.bucket, key: entry.key },
    earlier.uploadId,
    earlier.checksumType,
  );
  let held: HeldPart[];
  try {
    held = await upload.listParts();
  } catch (err) {
    if ((err as { name?: string }).name === 'NoSuchUpload') return undefined;
    throw err;
  }
  const numbers = new Set(held.map((p) => p.partNumber));
  for (let n = 1; n <= earlier.partsDone; n++) if (!numbers.has(n)) return undefined;
  if (entry.method !== METHOD_STORE) {
    return { upload, held, at: { ...earlier, partsDone: 0, bytesDone: 0, crc32: 0 } };
  }
  return { upload, held: held.filter((p) => p.partNumber > earlier.partsDone), at: { ...earlier } };
}

/**
 * Writes the entry's bytes from `at` on into parts (skipping those S3 holds, `held`) and
 * returns the whole entry's CRC-32 once it and the size match the central directory.
 */
async function sendParts(
  read: EntryRead,
  upload: MultipartSession,
  at: EntryUploadCheckpoint,
  held: HeldPart[],
  moved: (at: EntryUploadCheckpoint) => void,
): Promise<number> {
  const { reader, entry, start } = read;
  const progress = new PartProgress(at, moved);
  const writer = new PartWriter(upload, at.partSize, STREAM_PARTS_IN_FLIGHT, {
    position: at.bytesDone,
    partsDone: at.partsDone,
    held: new Map(held.map((p) => [p.partNumber, p])),
    onPart: (n) => progress.partHeld(n),
  });
  let size = at.bytesDone;
  try {
    for await (const chunk of entryStream(reader, entry, start, at.bytesDone)) {
      size += chunk.length;
      if (size > entry.size) break; // more than the central directory says: checked below
      progress.wrote(chunk);
      await writer.write(chunk);
    }
  } catch (err) {
    if ((err as { code?: string }).code?.startsWith('Z_')) {
      throw new EntryMismatchError(
        entry.name,
        `its DEFLATE data cannot be inflated (${(err as Error).message})`,
      );
    }
    throw err;
  }
  // The size first: bytes past the central directory's size were not written, nor CRC'd.
  checkData(entry, progress.crc32, size);
  await writer.finish();
  return progress.crc32;
}

/** Where a copied entry is staged before its CRC-32 is known: under the run's state prefix. */
export function stagingKeyOf(statePrefix: string, key: string): string {
  return restoreStagingKey(statePrefix, crypto.createHash('sha256').update(key).digest('hex'));
}

/** UploadPartCopy of bytes [from, to) of `source` into parts of at most COPY_PART_SIZE. */
async function copyRange(
  upload: MultipartSession,
  source: { bucket: string; key: string; etag: string },
  from: number,
  to: number,
  progressed: () => void,
): Promise<HeldPart[]> {
  const parts: HeldPart[] = [];
  const partSize = partSizeFor(to - from, COPY_PART_SIZE);
  for (let at = from; at < to; at += partSize) {
    const part = await upload
      .uploadPartCopy(parts.length + 1, { ...source, from: at, to: Math.min(to, at + partSize) })
      .catch((err: unknown) => {
        const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
        if (e.name === 'PreconditionFailed' || e.$metadata?.httpStatusCode === 412)
          throw new SourceChangedError(source.key, 'changed');
        throw err;
      });
    parts.push(part);
    progressed();
  }
  return parts;
}

/**
 * A large STORE entry copied by the store, its bytes never passing through the worker. Stores
 * (MinIO) refuse copied parts into an upload with a checksum algorithm, so the store is asked
 * for the CRC-32 another way: the entry's byte range is copied to a staging object under the
 * run's state prefix, which a CopyObject onto itself with a CRC-32 algorithm makes the store
 * checksum as a whole; only when that equals the central directory's CRC-32 is the staged
 * object copied to its key (an upload completed with If-None-Match, so nothing is replaced).
 */
async function copyEntry(
  target: EntryTarget,
  dst: S3Client,
  entry: RestoreEntry,
  start: number,
  checkpoint: ChunkCheckpoint,
): Promise<void> {
  const { bucket } = target.request.destination;
  const progressed = (): void => checkpoint.progressed();
  const staged = stagingKeyOf(target.statePrefix, entry.key);
  await abortUploads(dst, bucket, staged);
  const staging = await MultipartSession.create(dst, { bucket, key: staged, checksums: false });
  try {
    const parts = await copyRange(staging, target.archive, start, start + entry.size, progressed);
    await staging.complete(parts, { overwrite: true, crc32: 0 });
  } catch (err) {
    await staging.abort().catch(() => undefined);
    throw err;
  }
  try {
    await dst.send(
      new CopyObjectCommand({
        Bucket: bucket,
        Key: staged,
        CopySource: `${bucket}/${staged}`,
        MetadataDirective: 'REPLACE',
        ChecksumAlgorithm: 'CRC32',
      }),
    );
    const head = await dst.send(
      new HeadObjectCommand({ Bucket: bucket, Key: staged, ChecksumMode: 'ENABLED' }),
    );
    if (head.ChecksumCRC32 === undefined) {
      throw new Error(
        `the store gave no CRC-32 for the staged copy of entry "${entry.name}", so it cannot be checked`,
      );
    }
    checkData(
      entry,
      Buffer.from(head.ChecksumCRC32, 'base64').readUInt32BE(0),
      head.ContentLength ?? 0,
    );
    await withUpload(target, dst, entry, false, async (upload) => ({
      parts: await copyRange(
        upload,
        { bucket, key: staged, etag: head.ETag ?? '' },
        0,
        entry.size,
        progressed,
      ),
      crc32: entry.crc32,
    }));
  } finally {
    await dst.send(new DeleteObjectCommand({ Bucket: bucket, Key: staged })).catch(() => undefined);
  }
}
