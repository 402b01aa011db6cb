import {
  WorkflowFailedError,
  type Client,
  type WorkflowExecutionInfo,
  type WorkflowExecutionStatusName,
  type WorkflowHandle,
} from '@temporalio/client';
import { ApplicationFailure, CancelledFailure, TerminatedFailure } from '@temporalio/common';
import { decodeArrayFromPayloads } from '@temporalio/common/lib/internal-non-workflow';
import {
  liveOf,
  withLiveProgress,
  type ArchiveProgress,
  type PendingLive,
} from '../shared/progress';
import { archiveWorkflowId, type ArchiveRunResult } from '../shared/request';
import type { archive } from '../workflows';
import { parseS3Url } from './s3url';

/** Enough of a connected client for the calls below (see `connect`). */
export interface ClientLike {
  temporal: Client;
}

/** A run is named by its workflow id, or by its destination: `s3://bucket/key.zip`. */
export function archiveRunId(target: string): string {
  return target.startsWith('s3://') ? archiveWorkflowId(parseS3Url('archive', target)) : target;
}

/** What Temporal's visibility says of a run. */
export interface ArchiveRun {
  workflowId: string;
  runId: string;
  status: WorkflowExecutionStatusName;
  startTime: string;
  closeTime?: string;
  /** s3://bucket/key of the archive (the ZipflowDestination search attribute). */
  destination?: string;
}

function archiveRun(info: Omit<WorkflowExecutionInfo, 'raw'>): ArchiveRun {
  return {
    workflowId: info.workflowId,
    runId: info.runId,
    status: info.status.name,
    startTime: info.startTime.toISOString(),
    closeTime: info.closeTime?.toISOString(),
    destination: keyword(info.searchAttributes.ZipflowDestination),
  };
}

export interface ArchiveStatus extends ArchiveRun {
  /** Live figures while the run is open (the workflow's `progress` query). */
  progress?: ArchiveProgress;
}

type Description = Awaited<ReturnType<WorkflowHandle['describe']>>;

/**
 * The live figures in the last heartbeat of each writing activity the run has pending. The
 * workflow learns figures from a signal every 30 s; the heartbeats are a few seconds old at
 * most (src/engine/run/keepAlive.ts), and reading them costs no history events.
 */
async function pendingLive(client: ClientLike, info: Description): Promise<PendingLive[]> {
  const pending: PendingLive[] = [];
  for (const activity of info.raw.pendingActivities ?? []) {
    const payloads = activity.heartbeatDetails?.payloads;
    const activityType = activity.activityType?.name;
    if (!payloads?.length || !activityType) continue;
    try {
      const [details] = await decodeArrayFromPayloads(
        client.temporal.options.loadedDataConverter,
        payloads,
      );
      const live = liveOf(details);
      if (live) pending.push({ activityType, live });
    } catch {
      /* details this client cannot decode (another codec key): the workflow's figures stand */
    }
  }
  return pending;
}

/** The run's progress from the workflow's query and its pending activities' heartbeats. */
async function liveProgress(
  client: ClientLike,
  handle: WorkflowHandle,
  description?: Description,
): Promise<ArchiveProgress> {
  const [progress, info] = await Promise.all([
    handle.query<ArchiveProgress>('progress'),
    description ?? handle.describe(),
  ]);
  return withLiveProgress(progress, await pendingLive(client, info));
}

/**
 * The live progress of a running archive: the workflow's `progress` query, with the writing
 * activities' figures from their last heartbeat (a few seconds old at most) while it streams.
 */
export async function archiveProgress(
  client: ClientLike,
  target: string,
): Promise<ArchiveProgress> {
  return liveProgress(client, client.temporal.workflow.getHandle(archiveRunId(target)));
}

/** Where a run stands: its Temporal status, and its live progress while it is open. */
export async function describeArchive(client: ClientLike, target: string): Promise<ArchiveStatus> {
  const handle = client.temporal.workflow.getHandle(archiveRunId(target));
  const info = await handle.describe();
  const status: ArchiveStatus = archiveRun(info);
  // A closed run's query would need a worker to replay it; its result says more anyway.
  if (info.status.name === 'RUNNING') status.progress = await liveProgress(client, handle, info);
  return status;
}

/** Waits for the run's result; a failed run throws an `ArchiveFailedError` naming the cause. */
export async function archiveResult(client: ClientLike, target: string): Promise<ArchiveRunResult> {
  try {
    return await client.temporal.workflow.getHandle<typeof archive>(archiveRunId(target)).result();
  } catch (err) {
    throw err instanceof WorkflowFailedError ? ArchiveFailedError.from(err) : err;
  }
}

/**
 * Waits for the result, calling `onProgress` with the live progress every `intervalMs` while
 * the run is open (progress is best effort: a query that fails is skipped).
 */
export async function waitForArchive(
  client: ClientLike,
  target: string,
  onProgress: (progress: ArchiveProgress) => void,
  intervalMs = 1000,
): Promise<ArchiveRunResult> {
  let done = false;
  const poll = async (): Promise<void> => {
    while (!done) {
      try {
        const progress = await archiveProgress(client, target);
        if (!done) onProgress(progress);
      } catch {
        /* not answerable right now (no worker yet, run just closing): try again */
      }
      await new Promise((resolve) => setTimeout(resolve, intervalMs));
    }
  };
  const polling = poll();
  try {
    return await archiveResult(client, target);
  } finally {
    done = true;
    await polling;
  }
}

/** Asks the run to stop; it aborts its multipart upload and removes its state before it ends. */
export async function cancelArchive(client: ClientLike, target: string): Promise<void> {
  await client.temporal.workflow.getHandle(archiveRunId(target)).cancel();
}

export interface ArchiveSummary extends ArchiveRun {
  phase?: string;
  bytes?: number;
  entries?: number;
}

/** Recent archive runs, newest first, optionally narrowed by a visibility query. */
export async function listArchives(
  client: ClientLike,
  options: { limit?: number; query?: string } = {},
): Promise<ArchiveSummary[]> {
  const limit = options.limit ?? 20;
  const query = `WorkflowType = 'archive'${options.query ? ` AND (${options.query})` : ''}`;
  const runs: ArchiveSummary[] = [];
  for await (const info of client.temporal.workflow.list({ query })) {
    const sa = info.searchAttributes;
    runs.push({
      ...archiveRun(info),
      phase: keyword(sa.ZipflowPhase),
      bytes: integer(sa.ZipflowBytes),
      entries: integer(sa.ZipflowEntries),
    });
    if (runs.length >= limit) break;
  }
  return runs;
}

/** A failed archive run: `type` is the workflow's named failure (DestinationExists, …). */
export class ArchiveFailedError extends Error {
  constructor(
    message: string,
    readonly type: string,
  ) {
    super(message);
    this.name = 'ArchiveFailedError';
  }

  static from(err: WorkflowFailedError): ArchiveFailedError {
    const cause = err.cause;
    if (cause instanceof CancelledFailure)
      return new ArchiveFailedError('the run was cancelled', 'Cancelled');
    if (cause instanceof TerminatedFailure)
      return new ArchiveFailedError('the run was terminated', 'Terminated');
    if (cause instanceof ApplicationFailure)
      return new ArchiveFailedError(cause.message, cause.type ?? 'ApplicationFailure');
    return new ArchiveFailedError(cause?.message ?? err.message, cause?.name ?? 'Failed');
  }
}

function keyword(value: unknown): string | undefined {
  const first = Array.isArray(value) ? (value[0] as unknown) : undefined;
  return typeof first === 'string' ? first : undefined;
}

function integer(value: unknown): number | undefined {
  const first = Array.isArray(value) ? (value[0] as unknown) : undefined;
  return typeof first === 'number' ? first : undefined;
}
