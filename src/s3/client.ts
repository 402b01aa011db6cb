import { S3Client } from '@aws-sdk/client-s3';
import { loadSharedConfigFiles } from '@smithy/shared-ini-file-loader';
import { ENV } from '../shared/config';

export interface S3Target {
  /** Named profile from ~/.aws/config (its endpoint_url and credentials apply). */
  profile?: string;
}

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
  return client;
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
