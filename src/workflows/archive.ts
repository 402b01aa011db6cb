import {
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  continueAsNew,
  ContinueAsNew,
  proxyActivities,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type * as activities from '../activities';
import {
  partSizeFor,
  RequestError,
  validateRequest,
  type ArchiveRequest,
  type ArchiveResult,
} from '../shared/request';
import type { VerificationReport } from '../shared/verification';

const { planPage } = proxyActivities<typeof activities>({
  startToCloseTimeout: '5 minutes',
  retry: { maximumAttempts: 5 },
});

const { streamArchive } = proxyActivities<typeof activities>({
  startToCloseTimeout: '24 hours',
  // A dead worker's activity is retried after this; heartbeats carry the checkpoint.
  heartbeatTimeout: '20 seconds',
  retry: { maximumAttempts: 10 },
});

const { verifyArchive } = proxyActivities<typeof activities>({
  startToCloseTimeout: '24 hours',
  heartbeatTimeout: '1 minute',
  retry: { maximumAttempts: 5 },
});

const { discardRun } = proxyActivities<typeof activities>({
  startToCloseTimeout: '10 minutes',
  retry: { maximumAttempts: 10 },
});

/**
 * Planning progress carried across continue-as-new: counts and a continuation token, never
 * key lists (those are in the plan chunks under statePrefix).
 */
export interface PlanState {
  statePrefix: string;
  startedAt: number;
  chunks: number;
  entries: number;
  bytes: number;
  nameBytes: number;
  continuationToken?: string;
  /** Planning pages per workflow run before continue-as-new (keeps history small). */
  pagesPerRun: number;
}

/** ~6 history events per page: 1,000 pages stay far below Temporal's 51,200-event cap. */
export const DEFAULT_PAGES_PER_RUN = 1000;

/** Turns an S3 prefix into one ZIP64 archive in S3. */
export async function archive(input: ArchiveRequest, resumed?: PlanState): Promise<ArchiveResult> {
  let request: ArchiveRequest;
  try {
    request = validateRequest(input);
  } catch (err) {
    if (err instanceof RequestError)
      throw ApplicationFailure.nonRetryable(err.message, 'InvalidRequest', { field: err.field });
    throw err;
  }
  const state: PlanState = resumed ?? {
    // Stable across continue-as-new, so every run of this archive finds the same state.
    statePrefix: `.zipflow/state/${workflowInfo().firstExecutionRunId}/`,
    startedAt: Date.now(), // workflow time: deterministic on replay
    chunks: 0,
    entries: 0,
    bytes: 0,
    nameBytes: 0,
    pagesPerRun: request.planning?.pagesPerRun ?? DEFAULT_PAGES_PER_RUN,
  };
  const { statePrefix } = state;
  upsertSearchAttributes({
    ZipflowDestination: [`s3://${request.destination.bucket}/${request.destination.key}`],
    ZipflowPhase: ['plan'],
  });
  try {
    let pages = 0;
    do {
      if (pages++ >= state.pagesPerRun || workflowInfo().continueAsNewSuggested) {
        await continueAsNew<typeof archive>(input, state);
      }
      const page = await planPage({
        request,
        statePrefix,
        chunk: state.chunks,
        continuationToken: state.continuationToken,
      });
      if (page.entries > 0) state.chunks += 1;
      state.entries += page.entries;
      state.bytes += page.bytes;
      state.nameBytes += page.nameBytes;
      state.continuationToken = page.nextContinuationToken;
    } while (state.continuationToken);
    if (state.entries === 0 && !request.allowEmpty) {
      throw ApplicationFailure.nonRetryable(
        `source s3://${request.source.bucket}/${request.source.prefix ?? ''} lists no objects: check source.bucket, source.prefix and source.include/exclude, or set allowEmpty to make an empty archive`,
        'EmptySource',
      );
    }
    // Known only now: the part size that keeps the planned archive within 10,000 parts.
    const partSize = partSizeFor(
      {
        bytes: state.bytes,
        entries: state.entries,
        nameBytes: state.nameBytes,
        compression: request.compression?.method,
      },
      request.partSize,
    );
    upsertSearchAttributes({
      ZipflowPhase: ['stream'],
      ZipflowEntries: [state.entries],
      ZipflowBytes: [state.bytes],
    });
    const result = await streamArchive({ request, statePrefix, chunks: state.chunks, partSize });
    const verification = request.verify ? await verify(request, result.sha256) : undefined;
    upsertSearchAttributes({ ZipflowPhase: ['done'], ZipflowBytes: [result.size] });
    await CancellationScope.nonCancellable(() => discardRun({ request, statePrefix }));
    return {
      bucket: request.destination.bucket,
      key: request.destination.key,
      ...result,
      durationMs: Date.now() - state.startedAt,
      ...(verification ? { verification } : {}),
    };
  } catch (err) {
    if (err instanceof ContinueAsNew) throw err;
    // Nothing half-done stays behind, even when the run was cancelled.
    await CancellationScope.nonCancellable(async () => {
      upsertSearchAttributes({ ZipflowPhase: ['failed'] });
      await discardRun({ request, statePrefix });
    });
    throw namedFailure(err);
  }
}

/** Problems named in a VerificationFailed message; the failure's details hold the report. */
const PROBLEMS_IN_MESSAGE = 5;

/**
 * Reads the completed archive back; a mismatch fails the run with VerificationFailed and
 * leaves the archive in place (it is complete, and the report says what to look at).
 */
async function verify(request: ArchiveRequest, sha256: string): Promise<VerificationReport> {
  upsertSearchAttributes({ ZipflowPhase: ['verify'] });
  const { bucket, key, profile } = request.destination;
  const report = await verifyArchive({ bucket, key, profile, expectedSha256: sha256 });
  if (report.ok) return report;
  const shown = report.problems.slice(0, PROBLEMS_IN_MESSAGE);
  const more = report.problemCount - shown.length;
  throw ApplicationFailure.nonRetryable(
    `s3://${bucket}/${key} does not match what was recorded (${report.problemCount} problem${report.problemCount === 1 ? '' : 's'}; the archive is left in place): ${shown.join('; ')}${more > 0 ? `; and ${more} more` : ''}`,
    'VerificationFailed',
    report,
  );
}

/** Surfaces a named failure (InvalidRequest, an activity's DestinationExists, …) as the run's own. */
function namedFailure(err: unknown): unknown {
  if (err instanceof RequestError) {
    return ApplicationFailure.nonRetryable(err.message, 'InvalidRequest', { field: err.field });
  }
  if (err instanceof ActivityFailure && err.cause instanceof ApplicationFailure) {
    const { type, message, details } = err.cause;
    return ApplicationFailure.create({
      type: type ?? undefined,
      message,
      details: details as unknown[] | undefined,
      nonRetryable: true,
      cause: err,
    });
  }
  return err;
}
