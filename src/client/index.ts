import {
  Client,
  Connection,
  WorkflowIdReusePolicy,
  type WorkflowHandleWithFirstExecutionRunId,
} from '@temporalio/client';
import { dataConverterFromEnv } from '../runtime/codec';
import { connectionOptions, temporalConnectConfig } from '../runtime/connection';
import { archiveWorkflowId, type ArchiveRequest } from '../shared/request';
import { validateRequest } from '../shared/validate';
import type { archive } from '../workflows';
import { checkSelection } from '../engine/plan/select';
import { verifyArchiveObject } from '../engine/verify';
import { withS3Clients } from '../s3/client';
import type { VerificationReport } from '../shared/verification';

export type {
  ArchiveRequest,
  ArchiveResult,
  ArchiveRunResult,
  CompressionMethod,
  EntryOrder,
  NoNewObjectsResult,
  ServerSideEncryption,
  StorageClass,
} from '../shared/request';
export type { VerificationReport } from '../shared/verification';
export { archiveWorkflowId, isNoNewObjects } from '../shared/request';
export { RequestError } from '../shared/validate';
export { resolveKeyTemplate, KEY_PLACEHOLDERS } from '../shared/keyTemplate';
export * from './schedules';
export { startRestore, waitForRestore } from './restores';
export type { RestoreRequest, RestoreResult } from '../shared/restore';
export { restoreWorkflowId } from '../shared/restore';
export type { ArchiveProgress, ArchivePhase } from '../shared/progress';
export {
  ArchiveFailedError,
  archiveProgress,
  archiveResult,
  archiveRunId,
  cancelArchive,
  describeArchive,
  listArchives,
  waitForArchive,
  type ArchiveStatus,
  type ArchiveSummary,
} from './archives';

export interface ZipflowClient {
  temporal: Client;
  taskQueue: string;
  close(): Promise<void>;
}

/**
 * Connects with Temporal's standard environment configuration (TEMPORAL_ADDRESS,
 * TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_TLS_*, TEMPORAL_PROFILE) and
 * ZIPFLOW_TASK_QUEUE; payloads are encrypted when ZIPFLOW_CODEC_KEYS is set.
 */
export async function connect(overrides: { taskQueue?: string } = {}): Promise<ZipflowClient> {
  const settings = temporalConnectConfig();
  const dataConverter = dataConverterFromEnv();
  const connection = await Connection.connect(connectionOptions(settings));
  return {
    temporal: new Client({
      connection,
      namespace: settings.namespace,
      ...dataConverter,
    }),
    taskQueue: overrides.taskQueue ?? settings.taskQueue,
    close: () => connection.close(),
  };
}

/** Connects, runs `body`, and closes the connection whatever happens. */
export async function withClient<T>(
  overrides: { taskQueue?: string },
  body: (client: ZipflowClient) => Promise<T>,
): Promise<T> {
  const client = await connect(overrides);
  try {
    return await body(client);
  } finally {
    await client.close();
  }
}

/**
 * Refuses a request the workflow would refuse (RequestError naming the field), with the same
 * validator, and its glob patterns: before anything connects or starts.
 */
export function checkArchiveRequest(request: ArchiveRequest): void {
  validateRequest(request);
  checkSelection(request);
}

/**
 * Starts an archive run. The request is checked here first (checkArchiveRequest); the workflow
 * id comes from the destination, so starting the same archive twice while it runs returns the
 * running one.
 */
export async function startArchive(
  client: ZipflowClient,
  request: ArchiveRequest,
): Promise<WorkflowHandleWithFirstExecutionRunId<typeof archive>> {
  checkArchiveRequest(request);
  return client.temporal.workflow.start<typeof archive>('archive', {
    taskQueue: client.taskQueue,
    workflowId: archiveWorkflowId(request.destination),
    args: [request],
    workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE,
    workflowIdConflictPolicy: 'USE_EXISTING',
    staticSummary: `s3://${request.source.bucket}/${request.source.prefix ?? ''} → s3://${request.destination.bucket}/${request.destination.key}`,
  });
}

/**
 * Reads a completed archive back from S3 and checks it against what was recorded (structure,
 * every entry's CRC-32 and sizes, the manifest, the SHA-256), like `zipflow verify`.
 */
export async function verifyArchive(archive: {
  bucket: string;
  key: string;
  /** AWS profile for the archive's store. */
  profile?: string;
}): Promise<VerificationReport> {
  return withS3Clients([{ profile: archive.profile }], ([s3]) =>
    verifyArchiveObject(s3, { bucket: archive.bucket, key: archive.key }),
  );
}
