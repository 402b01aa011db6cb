import { skippedPrefix } from '../../shared/stateKeys';
import crypto from 'node:crypto';
import { HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { readObject } from '../../s3/objectReader';
import { getState, listKeys } from '../../s3/objects';
import type { ArchiveResult, ServerSideEncryption } from '../../shared/request';
import { tagArchive, writeManifest } from './manifest';
import { crc32Of } from '../../zip/crc32';

export type StreamResult = Omit<ArchiveResult, 'bucket' | 'key' | 'durationMs'>;
/** What recording a completed archive gives; the streaming activity adds its retries. */
export type RecordedArchive = Omit<StreamResult, 'retries'>;

/** Object metadata naming the run that wrote the archive, so a retry can recognise it. */
export const RUN_METADATA = 'zipflow-run';

export interface CompletedArchive {
  size: number;
  parts: number;
  etag?: string;
  versionId?: string;
  /**
   * Known when this attempt saw every byte; otherwise read back. null: not recorded (server-side
   * copy, whose copied bytes the worker never reads; crc32 must be known then).
   */
  sha256?: string | null;
  /** Known from the parts or the store's FULL_OBJECT checksum; otherwise read back. */
  crc32?: number;
  crc32ValidatedBy: ArchiveResult['crc32ValidatedBy'];
  copiedBytes?: number;
  /** Entry count when known; otherwise counted from the manifest. */
  entries?: number;
  uploadedBytes: number;
  resumes: number;
}

/**
 * Records a completed archive: checksums (read back when this attempt did not see every
 * byte), the manifest next to it (entry lines from the spilled chunks, then skipped objects),
 * and the checksum tags.
 */
export async function recordArchive(
  dst: S3Client,
  location: {
    bucket: string;
    key: string;
    statePrefix: string;
    serverSideEncryption?: ServerSideEncryption;
  },
  done: CompletedArchive,
  entryLines: AsyncIterable<Buffer>,
): Promise<RecordedArchive> {
  let { sha256, crc32 } = done;
  if (sha256 === undefined || (sha256 !== null && crc32 === undefined)) {
    // Node's hash state cannot be saved across attempts, so a resumed run reads the archive back.
    const read = await digestObject(dst, location.bucket, location.key);
    sha256 = read.sha256;
    crc32 ??= read.crc32;
  }
  if (crc32 === undefined)
    throw new Error('recordArchive: a CRC-32 is needed when no SHA-256 is read');
  const crc32Hex = crc32.toString(16).padStart(8, '0');
  await tagArchive(dst, location.bucket, location.key, {
    ...(sha256 !== null ? { sha256 } : {}),
    crc32: crc32Hex,
  });
  const counts = { entries: 0, skipped: 0, dataDescriptorEntries: 0 };
  const manifestKey = await writeManifest(
    dst,
    location.bucket,
    location.key,
    manifestLines(dst, location, entryLines, counts),
    location.serverSideEncryption,
  );
  return {
    size: done.size,
    entries: done.entries ?? counts.entries,
    parts: done.parts,
    etag: done.etag,
    versionId: done.versionId,
    ...(sha256 !== null ? { sha256 } : {}),
    crc32: crc32Hex,
    crc32ValidatedBy: done.crc32ValidatedBy,
    ...(done.copiedBytes !== undefined ? { copiedBytes: done.copiedBytes } : {}),
    manifestKey,
    uploadedBytes: done.uploadedBytes,
    skipped: counts.skipped,
    dataDescriptorEntries: counts.dataDescriptorEntries,
    resumes: done.resumes,
  };
}

async function* manifestLines(
  dst: S3Client,
  location: { bucket: string; statePrefix: string },
  entryLines: AsyncIterable<Buffer>,
  counts: { entries: number; skipped: number; dataDescriptorEntries: number },
): AsyncGenerator<Buffer> {
  for await (const chunk of entryLines) {
    for (const byte of chunk) if (byte === 0x0a) counts.entries += 1;
    // Chunks hold whole lines; JSON.stringify escapes a quote inside a name or key.
    for (
      let at = chunk.indexOf(DESCRIPTOR_FLAG);
      at >= 0;
      at = chunk.indexOf(DESCRIPTOR_FLAG, at + 1)
    )
      counts.dataDescriptorEntries += 1;
    yield chunk;
  }
  for await (const key of listKeys(dst, location.bucket, skippedPrefix(location.statePrefix))) {
    counts.skipped += 1;
    yield Buffer.concat([await getState(dst, location.bucket, key), Buffer.from('\n')]);
  }
}

/** How a manifest line (manifestLine) flags an entry with a data descriptor. */
const DESCRIPTOR_FLAG = Buffer.from('"dataDescriptor":true');

async function digestObject(
  client: S3Client,
  bucket: string,
  key: string,
): Promise<{ sha256: string; crc32: number }> {
  const hash = crypto.createHash('sha256');
  let crc32 = 0;
  for await (const chunk of await readObject(client, { bucket, key })) {
    hash.update(chunk);
    crc32 = crc32Of(chunk, crc32);
  }
  return { sha256: hash.digest('hex'), crc32 };
}

/**
 * Complete-or-recover, the part every writer shares: when an earlier attempt completed the
 * upload and died before reporting it, records that archive (with what the writer knows
 * better, `amend`) and returns the record; otherwise undefined, and the writer goes on.
 */
export async function recoverCompleted(
  dst: S3Client,
  location: { bucket: string; key: string; statePrefix: string },
  partSize: number,
  previous: { resentBytes: number; resumes: number },
  writer: {
    /** The manifest's entry lines, from wherever this writer spilled them. */
    entryLines: () => AsyncIterable<Buffer>;
    amend?: (completed: CompletedArchive) => CompletedArchive | Promise<CompletedArchive>;
  },
): Promise<RecordedArchive | undefined> {
  const completed = await completedByThisRun(dst, location, partSize, previous);
  if (!completed) return undefined;
  const done = writer.amend ? await writer.amend(completed) : completed;
  return recordArchive(dst, location, done, writer.entryLines());
}

/**
 * The archive this run completed, if an earlier attempt completed the upload and died before
 * reporting it: the destination exists and carries this run's metadata.
 */
async function completedByThisRun(
  dst: S3Client,
  location: { bucket: string; key: string; statePrefix: string },
  partSize: number,
  previous: { resentBytes: number; resumes: number },
): Promise<CompletedArchive | undefined> {
  let head;
  try {
    head = await dst.send(
      new HeadObjectCommand({
        Bucket: location.bucket,
        Key: location.key,
        ChecksumMode: 'ENABLED',
      }),
    );
  } catch (err) {
    if ((err as { name?: string }).name === 'NotFound') return undefined;
    throw err;
  }
  if (head.Metadata?.[RUN_METADATA] !== location.statePrefix) return undefined;
  const size = head.ContentLength ?? 0;
  const full = head.ChecksumType === 'FULL_OBJECT' && head.ChecksumCRC32;
  return {
    size,
    parts: Math.max(1, Math.ceil(size / partSize)),
    etag: head.ETag,
    versionId: head.VersionId,
    crc32: full ? Buffer.from(head.ChecksumCRC32!, 'base64').readUInt32BE(0) : undefined,
    crc32ValidatedBy: full ? 'FULL_OBJECT' : 'PARTS',
    uploadedBytes: size + previous.resentBytes,
    resumes: previous.resumes + 1,
  };
}
