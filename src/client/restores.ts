import {
  WorkflowIdReusePolicy,
  type WorkflowHandleWithFirstExecutionRunId,
} from '@temporalio/client';
import { compileRestoreSelection } from '../engine/restore/restorePlan';
import type { ArchiveProgress } from '../shared/progress';
import {
  restoreWorkflowId,
  validateRestoreRequest,
  type RestoreRequest,
  type RestoreResult,
} from '../shared/restore';
import type { restore } from '../workflows';
import { waitForArchive, type ClientLike } from './archives';

/**
 * Starts a restore. The request is validated here first, like the workflow does; the workflow
 * id comes from the destination, so starting the same restore while it runs joins it.
 */
export async function startRestore(
  client: ClientLike & { taskQueue: string },
  request: RestoreRequest,
): Promise<WorkflowHandleWithFirstExecutionRunId<typeof restore>> {
  validateRestoreRequest(request);
  compileRestoreSelection(request); // glob patterns: refused before anything starts
  const { archive, destination } = request;
  return client.temporal.workflow.start<typeof restore>('restore', {
    taskQueue: client.taskQueue,
    workflowId: restoreWorkflowId(destination),
    args: [request],
    workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE,
    workflowIdConflictPolicy: 'USE_EXISTING',
    staticSummary: `restore s3://${archive.bucket}/${archive.key} → s3://${destination.bucket}/${destination.prefix ?? ''}`,
  });
}

/**
 * Waits for a restore's result (progress as for archives: entries and bytes written); a failed
 * run throws an `ArchiveFailedError` naming the cause (DestinationExists, ChecksumMismatch, …).
 */
export async function waitForRestore(
  client: ClientLike,
  workflowId: string,
  onProgress: (progress: ArchiveProgress) => void = () => undefined,
  intervalMs = 1000,
): Promise<RestoreResult> {
  // The restore answers the same `progress` query; the result is a RestoreResult.
  return (await waitForArchive(
    client,
    workflowId,
    onProgress,
    intervalMs,
  )) as unknown as RestoreResult;
}
