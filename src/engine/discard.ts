import { createS3Client, UnknownProfileError } from '../s3/client';
import { attemptRetries } from './run/retries';
import { s3Failure } from './run/failures';
import { abortUploads } from '../s3/destination';
import { abortStagingUploads } from './writers/copy';
import { deletePrefix } from '../s3/objects';
import type { ArchiveRequest } from '../shared/request';

export interface DiscardInput {
  request: ArchiveRequest;
  statePrefix: string;
}

/**
 * Removes what a run leaves while it works: its multipart uploads and its state objects.
 * Returns the retries it took (S3 retries and attempts beyond the first).
 */
export async function discardRun(input: DiscardInput): Promise<{ retries: number }> {
  const { destination } = input.request;
  try {
    const dst = await createS3Client({ profile: destination.profile });
    await abortUploads(dst, destination.bucket, destination.key);
    await abortStagingUploads(dst, destination.bucket, input.statePrefix);
    await deletePrefix(dst, destination.bucket, input.statePrefix);
    return { retries: attemptRetries([dst]) };
  } catch (err) {
    // No profile or no bucket: nothing can have been written there, so nothing is left.
    if (err instanceof UnknownProfileError) return { retries: 0 };
    if ((err as { name?: unknown }).name === 'NoSuchBucket') return { retries: 0 };
    throw s3Failure(err, input.request);
  }
}
