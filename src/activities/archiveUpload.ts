import { ApplicationFailure } from '@temporalio/common';
import { HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { MultipartSession, type HeldPart } from '../s3/multipart';
import { abortUploads, objectExists } from '../s3/destination';
import type { ArchiveRequest } from '../shared/request';
import { throwIfCancelRequested } from './cancel';
import { recordArchive, RUN_METADATA, type RecordedArchive } from './finalize';
import { combinedCrc32 } from './parts';

// The archive's multipart upload, begun and completed the same way by the streaming path and
// by parallel assembly.

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
  const held = (await session.listParts()).filter((p) => p.partNumber <= partCount);
  if (
    held.length !== partCount ||
    held.some((p, i) => p.partNumber !== i + 1 || !p.checksumCRC32)
  ) {
    throw new Error(
      `S3 holds ${held.length} of the ${partCount} parts of upload ${session.uploadId}; retrying`,
    );
  }
  const crc32 = combinedCrc32(
    held.map((p) => ({
      size: p.size,
      crc32: Buffer.from(p.checksumCRC32!, 'base64').readUInt32BE(0),
    })),
  );
  const done = await completeUpload(session, destination, held, crc32, a.details, a.statePrefix);
  return recordArchive(
    a.dst,
    { ...destination, statePrefix: a.statePrefix },
    {
      size: a.size,
      parts: partCount,
      etag: done.etag,
      versionId: done.versionId,
      sha256: a.sha256,
      crc32,
      crc32ValidatedBy: done.validatedCrc32 ? 'FULL_OBJECT' : 'PARTS',
      entries: a.entries,
      uploadedBytes: a.size + a.resentBytes,
      resumes: a.resumes,
    },
    a.manifest,
  );
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
  crc32: number,
  details: () => unknown,
  statePrefix: string,
): ReturnType<MultipartSession['complete']> {
  await throwIfCancelRequested(details()); // completing cannot be undone: honour a cancel first
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
      throw ApplicationFailure.nonRetryable(
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
    throw ApplicationFailure.nonRetryable(
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
