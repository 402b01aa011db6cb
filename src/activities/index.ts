import { createS3Client, UnknownProfileError } from '../s3/client';
import { s3Failure } from './failures';
import { abortUploads } from '../s3/destination';
import { deletePrefix } from '../s3/objects';
import type { ArchiveRequest } from '../shared/request';

export { planPage, type PlanPageInput, type PlanPageOutput } from './plan';
export { streamArchive, type StreamInput, type StreamCheckpoint } from './stream';
export type { StreamResult } from './finalize';
export { verifyArchive, type VerifyInput } from './verify';

export interface DiscardInput {
  request: ArchiveRequest;
  statePrefix: string;
}

/** Removes what a run leaves while it works: its multipart uploads and its state objects. */
export async function discardRun(input: DiscardInput): Promise<void> {
  const { destination } = input.request;
  try {
    const dst = await createS3Client({ profile: destination.profile });
    await abortUploads(dst, destination.bucket, destination.key);
    await deletePrefix(dst, destination.bucket, input.statePrefix);
  } catch (err) {
    // No profile or no bucket: nothing can have been written there, so nothing is left.
    if (err instanceof UnknownProfileError) return;
    if ((err as { name?: unknown }).name === 'NoSuchBucket') return;
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
