import { currentAttempt } from './attempt';
import type { S3Client } from '@aws-sdk/client-s3';
import { s3Retries } from '../../s3/client';

/**
 * The retries of the running activity attempt, for ArchiveResult.retries: what its S3 clients
 * retried, plus the attempts Temporal made before this one.
 */
export function attemptRetries(clients: S3Client[]): number {
  const earlierAttempts = currentAttempt().number - 1;
  return clients.reduce((n, c) => n + s3Retries(c), 0) + earlierAttempts;
}
