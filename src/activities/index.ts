import { createS3Client, UnknownProfileError } from '../s3/client';
import { attemptRetries } from './retries';
import { s3Failure } from './failures';
import { abortUploads } from '../s3/destination';
import { abortStagingUploads } from './copy';
import { deletePrefix } from '../s3/objects';
import type { ArchiveRequest } from '../shared/request';

export { planPage, type PlanPageInput, type PlanPageOutput } from './plan';
export { streamArchive, type StreamInput, type StreamCheckpoint } from './stream';
export type { StreamResult } from './finalize';
export {
  prepareAssembly,
  assembleRange,
  finishAssembly,
  type AssemblyInput,
  type AssemblyPlan,
  type RangeResult,
} from './assemble';
export { prepareCopy, copyArchive, type CopySummary, type CopyArchiveInput } from './copy';
export { verifyArchive, type VerifyInput } from './verify';
export { moveSources, type MoveInput } from './move';

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
export {
  readWatermark,
  writeWatermark,
  type ReadWatermarkInput,
  type ReadWatermarkOutput,
  type Watermark,
  type WriteWatermarkInput,
} from './watermark';
export {
  planRestore,
  restoreChunk,
  discardRestore,
  type PlanRestoreInput,
  type PlanRestoreOutput,
  type RestoreChunkInput,
  type RestoreChunkOutput,
  type DiscardRestoreInput,
} from './restore';
