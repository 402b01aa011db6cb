import { currentAttempt } from '../run/attempt';
import { RunFailure } from '../run/failures';
import { HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { MultipartSession, type HeldPart } from '../../s3/multipart';
import { abortUploads, objectExists } from '../../s3/destination';
import type { ArchiveRequest } from '../../shared/request';
import { recordArchive, RUN_METADATA, type RecordedArchive } from './finalize';
import { combinedCrc32 } from './parts';

// The archive's multipart upload, begun and completed the same way by the streaming path and
// by parallel assembly.

/** An attempt's hold on the upload an earlier step created, and the parts S3 holds of it. */
export async function attachArchiveUpload(
  dst: S3Client,
  destination: ArchiveRequest['destination'],
  uploadId: string,
  checksumType: 'FULL_OBJECT' | 'COMPOSITE' | 'NONE',
): Promise<{ session: MultipartSession; held: HeldPart[] }> {
  const target = { bucket: destination.bucket, key: destination.key };
  const session = MultipartSession.attach(dst, target, uploadId, checksumType);
  return { session, held: await session.listParts() };
}

/**
 * Completes the multipart upload once S3 holds every part (checked with ListParts), with the
 * CRC-32 of the whole object combined from the parts' CRCs, and records the archive.
 */
export async function completeArchive(a: {
  session: MultipartSession;
  dst: S3Client;
  destination: ArchiveRequest['destination'];
  statePrefix: string;
  size: number;
  partSize: number;
  entries: number;
  sha256: string | undefined;
  resentBytes: number;
  resumes: number;
  /** Heartbeat details sent while checking for a cancel. */
  details: () => unknown;
  manifest: AsyncIterable<Buffer>;
}): Promise<RecordedArchive> {
  const { session, destination } = a;
  const partCount = Math.max(1, Math.ceil(a.size / a.partSize));
  const held = await everyPartHeld(session, partCount);
  // Stores that list parts without their CRC-32 (SeaweedFS) combine the whole object's CRC-32
  // themselves at completion, from the CRC-32 each part was checked against when sent.
  const crc32 = held.every((p) => p.checksumCRC32)
    ? combinedCrc32(
        held.map((p) => ({
          size: p.size,
          crc32: Buffer.from(p.checksumCRC32!, 'base64').readUInt32BE(0),
        })),
      )
    : undefined;
  const done = await completeUpload(session, destination, held, crc32, a.details, a.statePrefix);
  const storeCrc32 = done.validatedCrc32 ?? done.storeCrc32;
  return recordArchive(
    a.dst,
    { ...destination, statePrefix: a.statePrefix },
    {
      size: a.size,
      parts: partCount,
      etag: done.etag,
      versionId: done.versionId,
      sha256: a.sha256,
      // Otherwise read back from the completed object.
      crc32: crc32 ?? (storeCrc32 ? Buffer.from(storeCrc32, 'base64').readUInt32BE(0) : undefined),
      // A store's own FULL_OBJECT CRC-32 counts like one it validated: a retry that finds the
      // object completed sees only that (completedByThisRun), and must record the same.
      crc32ValidatedBy: storeCrc32 ? 'FULL_OBJECT' : 'PARTS',
      entries: a.entries,
      uploadedBytes: a.size + a.resentBytes,
      resumes: a.resumes,
    },
    a.manifest,
  );
}

/** ListParts again after these waits when it does not show every part yet. */
const LIST_PARTS_WAITS_MS = [500, 2_000];

/**
 * Parts 1..partCount as S3 holds them. Every one was sent and acknowledged before this, so a
 * part the store does not list (after a few looks) is lost: another attempt, which continues
 * from the same checkpoint and does not send it again, cannot fix that, so the run ends with
 * PartsMissing instead of retrying.
 */
export async function everyPartHeld(
  session: MultipartSession,
  partCount: number,
): Promise<HeldPart[]> {
  for (let look = 0; ; look++) {
    const held = (await session.listParts()).filter((p) => p.partNumber <= partCount);
    const numbers = new Set(held.map((p) => p.partNumber));
    const missing = Array.from({ length: partCount }, (_, i) => i + 1).filter(
      (n) => !numbers.has(n),
    );
    if (missing.length === 0) return held;
    if (look < LIST_PARTS_WAITS_MS.length) {
      await new Promise((r) => setTimeout(r, LIST_PARTS_WAITS_MS[look]));
      continue;
    }
    const shown = missing.slice(0, 10).join(', ') + (missing.length > 10 ? ', …' : '');
    throw RunFailure.nonRetryable(
      `S3 does not list part(s) ${shown} of the ${partCount} parts of upload ${session.uploadId} ` +
        `(s3://${session.target.bucket}/${session.target.key}), though each was acknowledged: ` +
        'run it again',
      'PartsMissing',
      { uploadId: session.uploadId, missing },
    );
  }
}

/**
 * CompleteMultipartUpload, unless a cancel was requested; refused (DestinationExists) when the
 * key appeared meanwhile and the request does not overwrite. A completion whose response was
 * lost and that the SDK sent again finds the key taken (412) or the upload gone: when the
 * object there is this run's, the first one succeeded.
 */
export async function completeUpload(
  session: MultipartSession,
  destination: ArchiveRequest['destination'],
  held: HeldPart[],
  crc32: number | undefined,
  details: () => unknown,
  statePrefix: string,
): ReturnType<MultipartSession['complete']> {
  await currentAttempt().throwIfCancelRequested(details()); // completing cannot be undone: honour a cancel first
  try {
    return await session.complete(held, { overwrite: destination.overwrite ?? false, crc32 });
  } catch (err) {
    const name = (err as { name?: string }).name;
    if (name !== 'PreconditionFailed' && name !== 'NoSuchUpload') throw err;
    const head = await session.client
      .send(
        new HeadObjectCommand({
          Bucket: destination.bucket,
          Key: destination.key,
          ChecksumMode: 'ENABLED',
        }),
      )
      .catch(() => undefined);
    if (head?.Metadata?.[RUN_METADATA] === statePrefix) {
      const full = head.ChecksumType === 'FULL_OBJECT' ? head.ChecksumCRC32 : undefined;
      return { etag: head.ETag, versionId: head.VersionId, validatedCrc32: full };
    }
    if (name === 'PreconditionFailed') {
      throw RunFailure.nonRetryable(
        `s3://${destination.bucket}/${destination.key} appeared while the archive was written: set destination.overwrite to true to replace it`,
        'DestinationExists',
      );
    }
    throw err;
  }
}

/**
 * Creates the archive's multipart upload, after checking that the destination may be written.
 * An attempt that died before reporting its upload may have left one: only this run writes
 * this key (the workflow id is the destination), so it is ours to abort.
 */
export async function createArchiveUpload(
  dst: S3Client,
  destination: ArchiveRequest['destination'],
  statePrefix: string,
  options: { checksums?: boolean } = {},
): Promise<MultipartSession> {
  if (!destination.overwrite && (await objectExists(dst, destination.bucket, destination.key))) {
    throw RunFailure.nonRetryable(
      `s3://${destination.bucket}/${destination.key} already exists: set destination.overwrite to true to replace it`,
      'DestinationExists',
    );
  }
  await abortUploads(dst, destination.bucket, destination.key);
  return MultipartSession.create(dst, {
    bucket: destination.bucket,
    key: destination.key,
    contentType: destination.contentType,
    storageClass: destination.storageClass,
    serverSideEncryption: destination.serverSideEncryption,
    metadata: { [RUN_METADATA]: statePrefix },
    checksums: options.checksums,
  });
}
