import { S3Client } from '@aws-sdk/client-s3';
import { loadSharedConfigFiles } from '@smithy/shared-ini-file-loader';
import { ENV, s3DirectRequests } from '../runtime/config';
import { enableDirectRequests } from './directRequests';
import { countRetries } from './retryCounts';

export { noteRetry, s3Retries } from './retryCounts';

export interface S3Target {
  /** Named profile from ~/.aws/config (its endpoint_url and credentials apply). */
  profile?: string;
}

/**
 * Retries and timeouts of every S3 request. The SDK's standard retry mode backs off
 * exponentially with full jitter (base 100 ms, 500 ms for throttling errors such as 503
 * SlowDown, at most 20 s a wait); 8 attempts ride out a SlowDown storm of half a minute or a
 * store restart of a few seconds, where the SDK's default of 3 gives up within a second or so.
 * A connection must open within 5 s, and a socket silent for 8 s (no byte sent or received,
 * while waiting for a response or reading a body) fails the attempt with a TimeoutError, which
 * is retried: a stalled request ends within about 11 s (the SDK arms timeouts of 6 s or more 3 s
 * after the request starts), inside the stream activity's 20 s heartbeat timeout. Inactivity,
 * not total time, since a 5 GiB part may take minutes while its bytes keep flowing.
 */
export const S3_RETRY = {
  maxAttempts: 8,
  retryMode: 'standard',
  connectionTimeoutMs: 5_000,
  socketTimeoutMs: 8_000,
} as const;

/**
 * The one S3 client factory. Region, endpoint and credentials come from the AWS SDK's own
 * resolution (environment, profiles, instance roles). Custom endpoints (MinIO and other
 * S3-compatible stores) get path-style addressing, since they rarely serve virtual hosts.
 * Checksums are computed only where an operation requires them: zipflow sends its own
 * per-part checksums, and some stores mishandle the SDK's default aws-chunked trailers.
 */
export async function createS3Client(target: S3Target = {}): Promise<S3Client> {
  const profile = target.profile;
  const settings = await profileSettings(profile);
  // A named profile the files do not hold would only fail later, as "Could not load
  // credentials from any providers", on every retry: say so now, by name.
  if (profile !== undefined && settings === undefined) throw new UnknownProfileError(profile);
  // The SDK reads AWS_ENDPOINT_URL(_S3) itself but not a profile's endpoint_url.
  const endpoint = envEndpoint() ? undefined : settings?.endpoint_url;
  const client = new S3Client({
    ...(profile ? { profile } : {}),
    ...(endpoint ? { endpoint } : {}),
    region:
      process.env[ENV.region] || process.env.AWS_DEFAULT_REGION || settings?.region || 'us-east-1',
    forcePathStyle: usesPathStyle(settings ?? {}),
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    maxAttempts: S3_RETRY.maxAttempts,
    retryMode: S3_RETRY.retryMode,
    // Options of the SDK's NodeHttpHandler.
    requestHandler: {
      connectionTimeout: S3_RETRY.connectionTimeoutMs,
      socketTimeout: S3_RETRY.socketTimeoutMs,
    },
  });
  client.middlewareStack.add(
    (next) => async (args) => {
      try {
        return await next(args);
      } catch (err) {
        const bucket = (args.input as { Bucket?: unknown }).Bucket;
        if (typeof err === 'object' && err !== null && typeof bucket === 'string') {
          Object.defineProperty(err, BUCKET_OF_ERROR, { value: bucket, enumerable: false });
        }
        throw err;
      }
    },
    { step: 'initialize', name: 'zipflowBucketOfError' },
  );
  countRetries(client);
  if (s3DirectRequests()) {
    enableDirectRequests(client, {
      connectionTimeoutMs: S3_RETRY.connectionTimeoutMs,
      socketTimeoutMs: S3_RETRY.socketTimeoutMs,
    });
  }
  return client;
}

/**
 * Runs `body` with a client for each target and destroys them when it ends. An activity's
 * clients are its own: left alive, their kept-alive sockets would stay open until the store
 * closes them, and a worker paging through millions of keys would pile them up.
 */
export async function withS3Clients<const Targets extends readonly S3Target[], T>(
  targets: Targets,
  body: (clients: { [K in keyof Targets]: S3Client }) => Promise<T>,
): Promise<T> {
  const made = await Promise.allSettled(targets.map((t) => createS3Client(t)));
  const clients = made.flatMap((m) => (m.status === 'fulfilled' ? [m.value] : []));
  try {
    for (const m of made) if (m.status === 'rejected') throw m.reason;
    return await body(clients as { [K in keyof Targets]: S3Client });
  } finally {
    for (const c of clients) c.destroy();
  }
}

/** A named profile that neither ~/.aws/config nor ~/.aws/credentials (as the worker sees them) holds. */
export class UnknownProfileError extends Error {
  constructor(readonly profile: string) {
    super(`profile "${profile}" is not in the AWS config or credentials files`);
    this.name = 'UnknownProfileError';
  }
}

const BUCKET_OF_ERROR = Symbol('zipflow.bucket');

/** The bucket of the S3 request that failed with `err`, when a client of this factory sent it. */
export function bucketOfError(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const bucket = (err as { [BUCKET_OF_ERROR]?: unknown })[BUCKET_OF_ERROR];
  return typeof bucket === 'string' ? bucket : undefined;
}

/** The profile's settings, or undefined when a profile was named and no file holds it. */
async function profileSettings(
  profile: string | undefined,
): Promise<Record<string, string | undefined> | undefined> {
  const name = profile ?? process.env[ENV.profile] ?? 'default';
  const files = await loadSharedConfigFiles();
  const credentials = files.credentialsFile?.[name];
  const config = files.configFile?.[name];
  if (profile !== undefined && credentials === undefined && config === undefined) return undefined;
  return { ...credentials, ...config };
}

function envEndpoint(): string | undefined {
  return process.env[ENV.s3Endpoint] || process.env[ENV.endpoint] || undefined;
}

function usesPathStyle(settings: Record<string, string | undefined>): boolean {
  const explicit = process.env[ENV.pathStyle];
  if (explicit) return explicit === 'true' || explicit === '1';
  return Boolean(envEndpoint() || settings.endpoint_url);
}
