import { statePrefixOf } from '../shared/stateKeys';
import {
  ActivityCancellationType,
  CancellationScope,
  continueAsNew,
  ContinueAsNew,
  log,
  proxyActivities,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type * as activities from '../activities';
import { validateRestoreRequest, type RestoreRequest, type RestoreResult } from '../shared/restore';
import type { ArchivePhase, ArchiveProgress } from '../shared/progress';
import { namedFailure, progressQuery } from './archive';

const { planRestore } = proxyActivities<typeof activities>({
  startToCloseTimeout: '24 hours',
  heartbeatTimeout: '1 minute',
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
  retry: { maximumAttempts: 5 },
});

const { restoreChunk } = proxyActivities<typeof activities>({
  startToCloseTimeout: '24 hours',
  // A dead worker's chunk is retried after this (heartbeats come every second while it makes
  // progress, as archive's): objects it wrote are recognised and kept, and the multipart
  // uploads of entries in flight continue from the checkpoint.
  heartbeatTimeout: '10 seconds',
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
  retry: { maximumAttempts: 10, initialInterval: '200 milliseconds', maximumInterval: '2 seconds' },
});

const { discardRestore } = proxyActivities<typeof activities>({
  startToCloseTimeout: '10 minutes',
  retry: { maximumAttempts: 10 },
});

/** Carried across continue-as-new: counts and the next chunk, never entry lists. */
export interface RestoreState {
  statePrefix: string;
  runId: string;
  startedAt: number;
  plan?: activities.PlanRestoreOutput;
  nextChunk: number;
  done: Omit<activities.RestoreChunkOutput, 'retries'>;
  retries: number;
}

/** ~6 history events per chunk: 1,000 chunks stay far below Temporal's event cap. */
const CHUNKS_PER_RUN = 1000;

/** Writes the selected entries of a ZIP archive in S3 back as objects under a prefix. */
export async function restore(
  input: RestoreRequest,
  resumed?: RestoreState,
): Promise<RestoreResult> {
  let request: RestoreRequest;
  try {
    request = validateRestoreRequest(input);
  } catch (err) {
    throw namedFailure(err);
  }
  const info = workflowInfo();
  const state: RestoreState = resumed ?? {
    statePrefix: statePrefixOf(info.firstExecutionRunId),
    runId: info.firstExecutionRunId,
    startedAt: Date.now(),
    nextChunk: 0,
    done: { entries: 0, bytes: 0, copiedEntries: 0, copiedBytes: 0 },
    retries: 0,
  };
  const { destination } = request;
  const progress: ArchiveProgress = {
    phase: state.plan ? 'stream' : 'plan',
    entriesTotal: state.plan?.entries ?? 0,
    bytesTotal: state.plan?.bytes ?? 0,
    entriesDone: state.done.entries,
    bytesDone: state.done.bytes,
    partsDone: 0,
    currentPart: 0,
    resumes: 0,
    updatedAt: new Date().toISOString(),
  };
  setHandler(progressQuery, () => progress);
  const enter = (phase: ArchivePhase): void => {
    Object.assign(progress, { phase, updatedAt: new Date().toISOString() });
    upsertSearchAttributes({ ZipflowPhase: [phase] });
  };
  upsertSearchAttributes({
    ZipflowDestination: [`s3://${destination.bucket}/${destination.prefix ?? ''}`],
    ZipflowPhase: [progress.phase],
  });
  try {
    if (!state.plan) {
      state.plan = await planRestore({ request, statePrefix: state.statePrefix });
      state.retries += state.plan.retries;
      Object.assign(progress, { entriesTotal: state.plan.entries, bytesTotal: state.plan.bytes });
      upsertSearchAttributes({
        ZipflowEntries: [state.plan.entries],
        ZipflowBytes: [state.plan.bytes],
      });
      enter('stream');
    }
    const plan = state.plan;
    let chunksThisRun = 0;
    while (state.nextChunk < plan.chunks) {
      if (chunksThisRun++ >= CHUNKS_PER_RUN || workflowInfo().continueAsNewSuggested) {
        await continueAsNew<typeof restore>(input, state);
      }
      const out = await restoreChunk({
        request,
        statePrefix: state.statePrefix,
        chunk: state.nextChunk,
        archive: plan.archive,
        runId: state.runId,
      });
      state.nextChunk += 1;
      state.retries += out.retries;
      state.done.entries += out.entries;
      state.done.bytes += out.bytes;
      state.done.copiedEntries += out.copiedEntries;
      state.done.copiedBytes += out.copiedBytes;
      Object.assign(progress, {
        entriesDone: state.done.entries,
        bytesDone: state.done.bytes,
        updatedAt: new Date().toISOString(),
      });
    }
    enter('done');
    await CancellationScope.nonCancellable(() =>
      discardRestore({ request, statePrefix: state.statePrefix, chunks: plan.chunks }),
    );
    return {
      archive: `s3://${request.archive.bucket}/${request.archive.key}`,
      bucket: destination.bucket,
      prefix: destination.prefix ?? '',
      ...state.done,
      directories: plan.directories,
      manifestChecked: plan.manifestChecked,
      retries: state.retries,
      durationMs: Date.now() - state.startedAt,
    };
  } catch (err) {
    if (err instanceof ContinueAsNew) throw err;
    await CancellationScope.nonCancellable(async () => {
      enter('failed');
      await discardRestore({
        request,
        statePrefix: state.statePrefix,
        chunks: state.plan?.chunks ?? 0,
      }).catch((discardErr: unknown) =>
        log.warn('discardRestore failed after the restore failed', {
          error: discardErr instanceof Error ? discardErr.message : String(discardErr),
        }),
      );
    });
    throw namedFailure(err);
  }
}
