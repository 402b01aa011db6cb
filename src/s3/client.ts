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
  // The SDK reads AWS_ENDPOINT_URL(_S3) itself but not a profile's endpoint_url.
  const endpoint = envEndpoint() ? undefined : settings.endpoint_url;
  return new S3Client({
    ...(profile ? { profile } : {}),
    ...(endpoint ? { endpoint } : {}),
    region:
      process.env[ENV.region] || process.env.AWS_DEFAULT_REGION || settings.region || 'us-east-1',
    forcePathStyle: usesPathStyle(settings),
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

function envEndpoint(): string | undefined {
  return process.env[ENV.s3Endpoint] || process.env[ENV.endpoint] || undefined;
}

function usesPathStyle(settings: Record<string, string | undefined>): boolean {
  const explicit = process.env[ENV.pathStyle];
  if (explicit) return explicit === 'true' || explicit === '1';
  return Boolean(envEndpoint() || settings.endpoint_url);
}
