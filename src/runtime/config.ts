import { MAX_READ_CONCURRENCY, MAX_READ_RANGE_SIZE, MIN_READ_RANGE_SIZE } from '../shared/limits';

/**
 * Environment names zipflow reads. Temporal uses its SDKs' standard names; S3 uses the AWS
 * SDK's own (AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL, AWS_REGION, AWS_PROFILE, the credential
 * chain), so nothing here duplicates what the SDK already resolves.
 */
export const ENV = {
  temporalAddress: 'TEMPORAL_ADDRESS',
  temporalNamespace: 'TEMPORAL_NAMESPACE',
  // Temporal's environment configuration (read by @temporalio/envconfig, also from a
  // temporal.toml profile): TLS, mTLS and API keys for the client and the worker alike.
  temporalApiKey: 'TEMPORAL_API_KEY',
  temporalTls: 'TEMPORAL_TLS',
  temporalTlsClientCertPath: 'TEMPORAL_TLS_CLIENT_CERT_PATH',
  temporalTlsClientKeyPath: 'TEMPORAL_TLS_CLIENT_KEY_PATH',
  temporalTlsServerCaCertPath: 'TEMPORAL_TLS_SERVER_CA_CERT_PATH',
  temporalTlsServerName: 'TEMPORAL_TLS_SERVER_NAME',
  temporalProfile: 'TEMPORAL_PROFILE',
  temporalConfigFile: 'TEMPORAL_CONFIG_FILE',
  taskQueue: 'ZIPFLOW_TASK_QUEUE',
  workerActivities: 'ZIPFLOW_WORKER_ACTIVITIES',
  readConcurrency: 'ZIPFLOW_READ_CONCURRENCY',
  readRangeSize: 'ZIPFLOW_READ_RANGE_SIZE',
  s3Endpoint: 'AWS_ENDPOINT_URL_S3',
  endpoint: 'AWS_ENDPOINT_URL',
  region: 'AWS_REGION',
  profile: 'AWS_PROFILE',
  accessKeyId: 'AWS_ACCESS_KEY_ID',
  secretAccessKey: 'AWS_SECRET_ACCESS_KEY',
  pathStyle: 'ZIPFLOW_S3_PATH_STYLE',
  s3Direct: 'ZIPFLOW_S3_DIRECT',
  // Payload encryption (src/runtime/codec.ts) and its codec endpoint for the Web UI.
  codecKeys: 'ZIPFLOW_CODEC_KEYS',
  codecKeyId: 'ZIPFLOW_CODEC_KEY_ID',
  codecAuthToken: 'ZIPFLOW_CODEC_AUTH_TOKEN',
  codecCorsOrigins: 'ZIPFLOW_CODEC_CORS_ORIGINS',
} as const;

export const DEFAULTS = {
  temporalAddress: 'localhost:7233',
  temporalNamespace: 'default',
  taskQueue: 'zipflow',
} as const;

export interface TemporalSettings {
  address: string;
  namespace: string;
  taskQueue: string;
}

export function temporalSettings(env: NodeJS.ProcessEnv = process.env): TemporalSettings {
  return {
    address: env[ENV.temporalAddress] || DEFAULTS.temporalAddress,
    namespace: env[ENV.temporalNamespace] || DEFAULTS.temporalNamespace,
    taskQueue: env[ENV.taskQueue] || DEFAULTS.taskQueue,
  };
}

/**
 * Activities one worker runs at once (ZIPFLOW_WORKER_ACTIVITIES), or undefined for the SDK's
 * default. Parallel assembly spreads its ranges over workers that have free slots.
 */
export function workerActivities(env: NodeJS.ProcessEnv = process.env): number | undefined {
  const raw = env[ENV.workerActivities];
  if (raw === undefined || raw === '') return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1)
    throw new Error(
      `${ENV.workerActivities} must be a whole number of at least 1, not ${JSON.stringify(raw)}`,
    );
  return n;
}

/**
 * Ranged GETs of large source objects one activity sends at once (ZIPFLOW_READ_CONCURRENCY), for
 * requests that do not set readConcurrency; undefined for the default.
 */
export function workerReadConcurrency(env: NodeJS.ProcessEnv = process.env): number | undefined {
  const raw = env[ENV.readConcurrency];
  if (raw === undefined || raw === '') return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > MAX_READ_CONCURRENCY)
    throw new Error(
      `${ENV.readConcurrency} must be a whole number from 1 to ${MAX_READ_CONCURRENCY}, not ${JSON.stringify(raw)}`,
    );
  return n;
}

/**
 * Bytes per ranged GET of large source objects (ZIPFLOW_READ_RANGE_SIZE, in bytes), for
 * requests that do not set readRangeSize; undefined for the default (by the path's latency).
 */
export function workerReadRangeSize(env: NodeJS.ProcessEnv = process.env): number | undefined {
  const raw = env[ENV.readRangeSize];
  if (raw === undefined || raw === '') return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < MIN_READ_RANGE_SIZE || n > MAX_READ_RANGE_SIZE)
    throw new Error(
      `${ENV.readRangeSize} must be a whole number of bytes from ${MIN_READ_RANGE_SIZE} (1 MiB) to ${MAX_READ_RANGE_SIZE} (64 MiB), not ${JSON.stringify(raw)}; unset it for the default`,
    );
  return n;
}

/**
 * Whether GetObject, HeadObject and UploadPart may be sent direct (src/s3/directRequests.ts):
 * yes unless ZIPFLOW_S3_DIRECT is "off", which sends every request through the SDK (a store
 * that misbehaves with them, or a measurement of what they save).
 */
export function s3DirectRequests(env: NodeJS.ProcessEnv = process.env): boolean {
  const raw = env[ENV.s3Direct];
  if (raw === undefined || raw === '' || raw === 'on') return true;
  if (raw === 'off') return false;
  throw new Error(`${ENV.s3Direct} must be "on" or "off", not ${JSON.stringify(raw)}`);
}
