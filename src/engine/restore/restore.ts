/**
 * The restore activities: planRestore (restorePlan.ts), restoreChunk (one plan chunk of
 * entries written as objects) and discardRestore (the run's state and open uploads).
 */
import { currentAttempt } from '../run/attempt';
import { RunFailure } from '../run/failures';
import { HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { withS3Clients } from '../../s3/client';
import { abortUploads } from '../../s3/destination';
import { deletePrefix } from '../../s3/objects';
import { S3RangeReader, type SizedVersion } from '../../s3/rangeReader';
import { SourceChangedError } from '../../s3/objectReader';
import { DEFAULT_RESTORE_CONCURRENCY, type RestoreRequest } from '../../shared/restore';
import { Jobs, mapLimited } from '../write/jobs';
import { attemptRetries } from '../run/retries';
import {
  BadLocalHeaderError,
  copiedByStore,
  EntryMismatchError,
  stagingKeyOf,
  usesMultipart,
  writeEntry,
} from './restoreEntry';
import { readRestoreChunk, type RestoreEntry } from './restorePlan';
import { ChunkCheckpoint } from './restoreCheckpoint';
import { restoreFailure } from './restoreFailures';

export { planRestore, type PlanRestoreInput, type PlanRestoreOutput } from './restorePlan';

export interface RestoreChunkInput {
  request: RestoreRequest;
  statePrefix: string;
  chunk: number;
  archive: SizedVersion & { etag: string };
  /** The run's first execution id: the metadata that marks objects this run wrote. */
  runId: string;
}

export interface RestoreChunkOutput {
  entries: number;
  bytes: number;
  copiedEntries: number;
  copiedBytes: number;
  retries: number;
}

const HEAD_CONCURRENCY = 16;

/** The run that wrote the object at `key` (its metadata), null when it is not ours, undefined when absent. */
async function writerOf(
  client: S3Client,
  bucket: string,
  key: string,
): Promise<string | null | undefined> {
  try {
    const head = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    return head.Metadata?.['zipflow-restore-run'] ?? null;
  } catch (err) {
    const name = (err as { name?: string }).name;
    if (name === 'NotFound' || name === 'NoSuchKey') return undefined;
    throw err;
  }
}

function destinationExists(request: RestoreRequest, key: string): RunFailure {
  return RunFailure.nonRetryable(
    `destination.overwrite: s3://${request.destination.bucket}/${key} already exists: set destination.overwrite to replace it, choose another destination.prefix, or leave the entry out of select`,
    'DestinationExists',
    { field: 'destination.overwrite', key },
  );
}

/**
 * The chunk's entries that still need writing. Every key is looked at before any entry of the
 * chunk is written, so an existing object stops the chunk before it writes anything; objects
 * this run wrote in an earlier attempt are done already.
 */
async function pendingEntries(
  dst: S3Client,
  input: RestoreChunkInput,
  entries: RestoreEntry[],
): Promise<{ pending: RestoreEntry[]; done: RestoreEntry[] }> {
  const { destination } = input.request;
  const writers = await mapLimited(entries, HEAD_CONCURRENCY, (e) =>
    writerOf(dst, destination.bucket, e.key),
  );
  const pending: RestoreEntry[] = [];
  const done: RestoreEntry[] = [];
  entries.forEach((e, i) => {
    const writer = writers[i];
    if (writer === input.runId) done.push(e);
    else if (writer !== undefined && !destination.overwrite)
      throw destinationExists(input.request, e.key);
    else pending.push(e);
  });
  return { pending, done };
}

/** Writes one plan chunk's entries as objects, a few at once. */
export async function restoreChunk(input: RestoreChunkInput): Promise<RestoreChunkOutput> {
  const { request } = input;
  const ctx = currentAttempt();
  const sameStore = request.archive.profile === request.destination.profile;
  const profiles = [{ profile: request.archive.profile }, { profile: request.destination.profile }];
  return withS3Clients(profiles, async ([src, dst]) => {
    const checkpoint = new ChunkCheckpoint(ctx.checkpoint);
    try {
      const entries = await readRestoreChunk(
        dst,
        request.destination.bucket,
        input.statePrefix,
        input.chunk,
      );
      const { pending, done } = await pendingEntries(dst, input, entries);
      const out: RestoreChunkOutput = {
        entries: 0,
        bytes: 0,
        copiedEntries: 0,
        copiedBytes: 0,
        retries: 0,
      };
      const count = (e: RestoreEntry, copied: boolean): void => {
        out.entries += 1;
        out.bytes += e.size;
        if (copied) {
          out.copiedEntries += 1;
          out.copiedBytes += e.size;
        }
      };
      // Entries an earlier attempt wrote count as it wrote them: copied or not.
      for (const e of done) count(e, copiedByStore(e, sameStore));
      const reader = new S3RangeReader(src, input.archive);
      // The first failure stops the chunk: no entry is started after it.
      const jobs = new Jobs(request.concurrency ?? DEFAULT_RESTORE_CONCURRENCY);
      for (const entry of pending) {
        ctx.signal.throwIfAborted();
        await jobs.run(async () => {
          const written = await writeEntry(input, dst, reader, entry, sameStore, checkpoint).catch(
            (err: unknown) => {
              throw entryFailure(err, input, entry);
            },
          );
          count(entry, written.copied);
          checkpoint.entriesDone(out.entries);
        });
      }
      await jobs.settle();
      out.retries = attemptRetries([src, dst]);
      return out;
    } catch (err) {
      throw restoreFailure(err, request);
    } finally {
      checkpoint.stop();
    }
  });
}

function entryFailure(err: unknown, input: RestoreChunkInput, entry: RestoreEntry): unknown {
  const { archive } = input;
  if (err instanceof EntryMismatchError) {
    return RunFailure.nonRetryable(
      `s3://${archive.bucket}/${archive.key}: ${err.message}`,
      'ChecksumMismatch',
      { entry: entry.name },
    );
  }
  if (err instanceof BadLocalHeaderError) {
    return RunFailure.nonRetryable(
      `s3://${archive.bucket}/${archive.key}: ${err.message}`,
      'InvalidArchive',
      {
        field: 'archive.key',
        entry: entry.name,
      },
    );
  }
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
  if (err instanceof SourceChangedError) {
    return RunFailure.nonRetryable(
      `archive.key: s3://${archive.bucket}/${archive.key} changed while it was being restored (its ETag is no longer ${archive.etag}): start the restore again`,
      'SourceChanged',
      { field: 'archive.key' },
    );
  }
  if (e.name === 'PreconditionFailed' || e.$metadata?.httpStatusCode === 412) {
    // If-None-Match refused (a changed archive under UploadPartCopy is a SourceChangedError):
    // an object appeared at the key after it was looked at.
    return destinationExists(input.request, entry.key);
  }
  return err;
}

export interface DiscardRestoreInput {
  request: RestoreRequest;
  statePrefix: string;
  /** Plan chunks written: their large entries may have open multipart uploads. */
  chunks: number;
}

/**
 * Removes the run's state objects and aborts the multipart uploads its entries may have left
 * open (by exact key: MinIO lists uploads by exact key, not by prefix).
 */
export async function discardRestore(input: DiscardRestoreInput): Promise<void> {
  const { destination } = input.request;
  return withS3Clients([{ profile: destination.profile }], async ([dst]) => {
    try {
      for (let chunk = 0; chunk < input.chunks; chunk++) {
        const entries = await readRestoreChunk(
          dst,
          destination.bucket,
          input.statePrefix,
          chunk,
        ).catch((err: unknown) => {
          if ((err as { name?: string }).name === 'NoSuchKey') return [];
          throw err;
        });
        for (const e of entries.filter(usesMultipart)) {
          await abortUploads(dst, destination.bucket, e.key);
          await abortUploads(dst, destination.bucket, stagingKeyOf(input.statePrefix, e.key));
        }
      }
      await deletePrefix(dst, destination.bucket, input.statePrefix);
    } catch (err) {
      if ((err as { name?: string }).name === 'NoSuchBucket') return;
      throw restoreFailure(err, input.request);
    }
  });
}
