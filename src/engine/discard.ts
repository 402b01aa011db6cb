import { createS3Client, UnknownProfileError } from '../s3/client';
import { attemptRetries } from './run/retries';
import { s3Failure } from './run/failures';
import { abortUploads } from '../s3/destination';
import { abortStagingUploads } from './writers/copy';
import { deletePrefix } from '../s3/objects';
import { moveProbeKey } from '../shared/stateKeys';
import type { ArchiveRequest } from '../shared/request';

export interface DiscardInput {
  request: ArchiveRequest;
  statePrefix: string;
}

/**
 * Removes what a run leaves while it works: its multipart uploads, its state objects and the
 * move probe it may have written in the source bucket.
 * Returns the retries it took (S3 retries and attempts beyond the first).
 */
export async function discardRun(input: DiscardInput): Promise<{ retries: number }> {
  const { destination } = input.request;
  try {
    const dst = await createS3Client({ profile: destination.profile });
    await abortUploads(dst, destination.bucket, destination.key);
    await abortStagingUploads(dst, destination.bucket, input.statePrefix);
    await deletePrefix(dst, destination.bucket, input.statePrefix);
    // The move probe lives in the source bucket: a worker that died between writing and
    // removing it would leave it there.
    if (input.request.afterArchive !== 'delete') return { retries: attemptRetries([dst]) };
    const src = await createS3Client({ profile: input.request.source.profile });
    await deletePrefix(src, input.request.source.bucket, moveProbeKey(input.statePrefix));
    return { retries: attemptRetries([dst, src]) };
  } catch (err) {
    // No profile or no bucket: nothing can have been written there, so nothing is left.
    if (err instanceof UnknownProfileError) return { retries: 0 };
    if ((err as { name?: unknown }).name === 'NoSuchBucket') return { retries: 0 };
    throw s3Failure(err, input.request);
  }
}
