import type { S3Client } from '@aws-sdk/client-s3';

const retryCounts = new WeakMap<S3Client, { retries: number }>();

/**
 * Counts the retries a client makes: after the retry middleware, every output and every error
 * carries `$metadata.attempts`; each attempt beyond the first is a retry.
 */
export function countRetries(client: S3Client): void {
  const count = { retries: 0 };
  retryCounts.set(client, count);
  const add = (metadata: { attempts?: number } | undefined): void => {
    count.retries += Math.max(0, (metadata?.attempts ?? 1) - 1);
  };
  client.middlewareStack.add(
    (next) => async (args) => {
      try {
        const out = await next(args);
        add((out.output as { $metadata?: { attempts?: number } }).$metadata);
        return out;
      } catch (err) {
        add((err as { $metadata?: { attempts?: number } }).$metadata);
        throw err;
      }
    },
    { step: 'initialize', name: 'zipflowRetryCount' },
  );
}

/** Retries this client has made so far: the SDK's, plus any noted with noteRetry. */
export function s3Retries(client: S3Client): number {
  return retryCounts.get(client)?.retries ?? 0;
}

/** Notes a retry the SDK cannot make itself, such as reading a broken response body again. */
export function noteRetry(client: S3Client): void {
  const count = retryCounts.get(client);
  if (count) count.retries += 1;
}
