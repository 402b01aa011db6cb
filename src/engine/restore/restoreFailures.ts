/**
 * S3 errors of a restore that no retry can fix, as non-retryable failures naming the restore
 * request's field (archive.*, destination.*). Transient errors are left to be retried.
 */
import { bucketOfError, UnknownProfileError } from '../../s3/client';
import type { RestoreRequest } from '../../shared/restore';
import { DENIED, RunFailure } from '../run/failures';

export function restoreFailure(err: unknown, request: RestoreRequest): unknown {
  if (err instanceof RunFailure) return err;
  const sides = [
    { side: 'archive', ...request.archive },
    { side: 'destination', ...request.destination },
  ];
  if (err instanceof UnknownProfileError) {
    const side = sides.find((s) => s.profile === err.profile)?.side ?? 'archive';
    return RunFailure.nonRetryable(
      `${side}.profile: profile "${err.profile}" does not exist on the worker: fix the name, add it to the worker's AWS config, or leave it out`,
      'InvalidRequest',
      { field: `${side}.profile` },
    );
  }
  const name = (err as { name?: unknown } | null)?.name;
  if (typeof name !== 'string') return err;
  const bucket = bucketOfError(err);
  const side = sides.find((s) => s.bucket === bucket)?.side;
  if (!side) return err;
  if (name === 'NoSuchBucket') {
    return RunFailure.nonRetryable(
      `${side}.bucket: bucket "${bucket}" does not exist at the worker's S3 endpoint: fix the name or create the bucket`,
      side === 'archive' ? 'ArchiveNotFound' : 'DestinationNotFound',
      { field: `${side}.bucket` },
    );
  }
  if (DENIED.has(name)) {
    return RunFailure.nonRetryable(
      `${side}.profile: the worker's credentials were refused for bucket "${bucket}" (${name}): name a profile that may ${side === 'archive' ? 'read' : 'write'} it in ${side}.profile, or grant access`,
      'AccessDenied',
      { field: `${side}.profile` },
    );
  }
  return err;
}
