import { s3Retries, UnknownProfileError, withS3Clients } from '../s3/client';
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
    const retries = await withS3Clients([{ profile: destination.profile }], async ([dst]) => {
      await abortUploads(dst, destination.bucket, destination.key);
      await abortStagingUploads(dst, destination.bucket, input.statePrefix);
      await deletePrefix(dst, destination.bucket, input.statePrefix);
      return attemptRetries([dst]);
    });
    // The move probe lives in the source bucket: a worker that died between writing and
    // removing it would leave it there.
    if (input.request.afterArchive !== 'delete') return { retries };
    const { source } = input.request;
    return await withS3Clients([{ profile: source.profile }], async ([src]) => {
      await deletePrefix(src, source.bucket, moveProbeKey(input.statePrefix));
      return { retries: retries + s3Retries(src) };
    });
  } catch (err) {
    // No profile or no bucket: nothing can have been written there, so nothing is left.
    if (err instanceof UnknownProfileError) return { retries: 0 };
    if ((err as { name?: unknown }).name === 'NoSuchBucket') return { retries: 0 };
    throw s3Failure(err, input.request);
  }
}
