/**
 * S3 and configuration errors that no retry can fix — a bucket that does not exist,
 * credentials the store refuses, a profile the worker does not have — turned into
 * RunFailures (non-retryable) that name the request field to change. Anything else
 * is left as it is, so transient errors (timeouts, 5xx, throttling) are still retried.
 */
import { SourceChangedError } from '../../s3/objectReader';
import { ZipInputError } from '../../zip';
import { bucketOfError, UnknownProfileError } from '../../s3/client';
import type { ArchiveRequest } from '../../shared/request';
import { RequestError } from '../../shared/validate';

/**
 * A failure no retry can fix. `type` names it for the workflow and the client (the activity
 * adapter turns it into a non-retryable ApplicationFailure of that type); `details` say which
 * request field or object it is about.
 */
export class RunFailure extends Error {
  readonly details: unknown[];

  constructor(
    message: string,
    readonly type: string,
    ...details: unknown[]
  ) {
    super(message);
    this.name = type;
    this.details = details;
  }

  static nonRetryable(message: string, type: string, ...details: unknown[]): RunFailure {
    return new RunFailure(message, type, ...details);
  }
}

/**
 * `check()`, with a RequestError it throws (a field only a worker can check, such as a glob
 * pattern) turned into the run's InvalidRequest failure, naming the field as the workflow's own
 * validation does.
 */
export function checkedRequest<T>(check: () => T): T {
  try {
    return check();
  } catch (err) {
    if (err instanceof RequestError)
      throw RunFailure.nonRetryable(err.message, 'InvalidRequest', { field: err.field });
    throw err;
  }
}

/** Error names S3 and S3-compatible stores give credentials they refuse. */
export const DENIED = new Set([
  'AccessDenied',
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'InvalidToken',
  'ExpiredToken',
  'AllAccessDisabled',
]);

type Side = 'source' | 'destination';

interface BucketField {
  field: string;
  side: Side;
  bucket: string;
}

function bucketFields(request: ArchiveRequest): BucketField[] {
  const { source, destination } = request;
  return [
    { field: 'source.bucket', side: 'source' as const, bucket: source.bucket },
    ...(source.keyList?.bucket
      ? [{ field: 'source.keyList.bucket', side: 'source' as const, bucket: source.keyList.bucket }]
      : []),
    { field: 'destination.bucket', side: 'destination' as const, bucket: destination.bucket },
  ];
}

function profileOf(request: ArchiveRequest, side: Side): string {
  const profile = request[side].profile;
  return profile === undefined
    ? `the worker's default credentials (no ${side}.profile given)`
    : `the worker's credentials for profile "${profile}"`;
}

/**
 * The named, non-retryable failure for `err` when retrying cannot help, else `err` itself.
 * Messages carry bucket and profile names only, never credentials.
 */
export function s3Failure(err: unknown, request: ArchiveRequest): unknown {
  if (err instanceof RunFailure) return err;
  if (err instanceof UnknownProfileError) {
    const fields = (['source', 'destination'] as const)
      .filter((side) => request[side].profile === err.profile)
      .map((side) => `${side}.profile`);
    const field = fields[0] ?? 'profile';
    return RunFailure.nonRetryable(
      `${fields.join(' and ') || field}: profile "${err.profile}" does not exist on the worker (not in its AWS config or credentials file): fix the name, add the profile to the worker's ~/.aws/config, or leave it out to use the worker's default credentials`,
      'InvalidRequest',
      { field },
    );
  }
  const name = (err as { name?: unknown } | null)?.name;
  if (typeof name !== 'string') return err;
  if (name === 'NoSuchUpload') {
    // The upload's id is in every checkpoint: each retry would meet the same 404. (A
    // completion whose response was lost is told apart before this, in completeUpload.)
    const { bucket, key } = request.destination;
    return RunFailure.nonRetryable(
      `the multipart upload of s3://${bucket}/${key} was aborted while the archive was written, not by this run (a lifecycle rule that aborts incomplete uploads, another tool): re-run the archive, and give such a rule more days than a run takes`,
      'UploadAborted',
      { bucket, key },
    );
  }
  const bucket = bucketOfError(err);
  const matching = bucketFields(request).filter((f) => f.bucket === bucket);
  if (matching.length === 0) return err;
  const first = matching[0];
  if (name === 'NoSuchBucket') {
    const fields = matching.map((f) => f.field).join(' and ');
    return RunFailure.nonRetryable(
      `${fields}: bucket "${bucket}" does not exist (NoSuchBucket) at the worker's S3 endpoint: fix the bucket name, create the bucket, or check ${first.side}.profile points at the right store`,
      first.side === 'source' ? 'SourceNotFound' : 'DestinationNotFound',
      { field: first.field, bucket },
    );
  }
  if (DENIED.has(name)) {
    const field = `${first.side}.profile`;
    const need = first.side === 'source' ? 'read' : 'write';
    return RunFailure.nonRetryable(
      `${field}: ${profileOf(request, first.side)} were refused for bucket "${bucket}" (${name}): give ${field} a profile that may ${need} ${first.field}, or grant those credentials access to the bucket`,
      'AccessDenied',
      { field, bucket, code: name },
    );
  }
  return err;
}

/** Runs `body`, rethrowing what fails as s3Failure describes it. */
export async function withS3Failures<T>(
  request: ArchiveRequest,
  body: () => Promise<T>,
): Promise<T> {
  try {
    return await body();
  } catch (err) {
    throw s3Failure(err, request);
  }
}

/**
 * An entry that cannot be archived, as the named failure: a name or size the ZIP cannot carry
 * (InvalidEntry), or a source changed since it was listed (SourceChanged; `whatToDo` is the
 * writer's advice). Anything else is `err` itself.
 */
export function entryFailure(err: unknown, whatToDo: string): unknown {
  if (err instanceof ZipInputError) return RunFailure.nonRetryable(err.message, 'InvalidEntry');
  if (err instanceof SourceChangedError) {
    return RunFailure.nonRetryable(`${err.message}: ${whatToDo}`, 'SourceChanged', {
      key: err.key,
      reason: err.reason,
    });
  }
  return err;
}
