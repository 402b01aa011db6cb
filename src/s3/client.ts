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
  return new S3Client({
    ...(profile ? { profile } : {}),
    region: await regionFor(profile),
    forcePathStyle: await usesPathStyle(profile),
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

async function profileSettings(
  profile: string | undefined,
): Promise<Record<string, string | undefined>> {
  const name = profile ?? process.env[ENV.profile] ?? 'default';
  const files = await loadSharedConfigFiles();
  return { ...files.credentialsFile?.[name], ...files.configFile?.[name] };
}

async function regionFor(profile: string | undefined): Promise<string> {
  return (
    process.env[ENV.region] ||
    process.env.AWS_DEFAULT_REGION ||
    (await profileSettings(profile)).region ||
    'us-east-1'
  );
}

async function usesPathStyle(profile: string | undefined): Promise<boolean> {
  const explicit = process.env[ENV.pathStyle];
  if (explicit) return explicit === 'true' || explicit === '1';
  if (process.env[ENV.s3Endpoint] || process.env[ENV.endpoint]) return true;
  return Boolean((await profileSettings(profile)).endpoint_url);
}
