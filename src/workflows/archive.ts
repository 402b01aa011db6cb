import { statePrefixOf } from '../shared/stateKeys';
import {
  ActivityCancellationType,
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  CancelledFailure,
  continueAsNew,
  ContinueAsNew,
  defineQuery,
  defineSignal,
  log,
  proxyActivities,
  type SearchAttributes,
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import type * as activities from '../activities';
import { resolveKeyTemplate } from '../shared/keyTemplate';
import { partSizeFor } from '../shared/archiveSize';
import { RequestError, validateRequest } from '../shared/validate';
import { settleSecondsOf, type ArchiveRequest, type ArchiveRunResult } from '../shared/request';
import type { VerificationReport } from '../shared/verification';
import {
  STREAM_PROGRESS_SIGNAL,
  type ArchivePhase,
  type ArchiveProgress,
  type StreamProgress,
} from '../shared/progress';

/** Live progress of a run: `temporal workflow query --type progress`, or the Web UI's Queries tab. */
export const progressQuery = defineQuery<ArchiveProgress>('progress');

/** Sent by the streaming activity to its own run (see src/engine/run/progress.ts). */
export const progressSignal = defineSignal<[StreamProgress]>(STREAM_PROGRESS_SIGNAL);

const { planPage } = proxyActivities<typeof activities>({
  startToCloseTimeout: '5 minutes',
  retry: { maximumAttempts: 5 },
});

// The activities that write the archive: streamArchive, and the ranges of parallel assembly.
const { streamArchive, assembleRange, finishAssembly, copyArchive } = proxyActivities<
  typeof activities
>({
  startToCloseTimeout: '24 hours',
  // A dead (SIGKILLed) worker's activity is retried after this; heartbeats carry the
  // checkpoint and come at least every 2 s (KEEP_ALIVE_MS), so 10 s rides out a few missed
  // ones on a busy machine and hands a crashed worker's run over in about 12 s.
  heartbeatTimeout: '10 seconds',
  // On cancel, wait until the activity has stopped: only then may discardRun clean up, or a
  // still-running attempt could write state objects after the cleanup.
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
  // An attempt handed back by a stopping worker or timed out is retried at once by another:
  // the backoff is capped low, since each retry resumes from a checkpoint, and S3 requests
  // have their own retries (src/s3/client.ts).
  retry: { maximumAttempts: 10, initialInterval: '200 milliseconds', maximumInterval: '2 seconds' },
});

const { prepareAssembly, prepareCopy } = proxyActivities<typeof activities>({
  startToCloseTimeout: '1 hour',
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
  retry: { maximumAttempts: 5 },
});

const { readWatermark, writeWatermark } = proxyActivities<typeof activities>({
  startToCloseTimeout: '1 minute',
  retry: { maximumAttempts: 10 },
});

const { verifyArchive } = proxyActivities<typeof activities>({
  startToCloseTimeout: '24 hours',
  heartbeatTimeout: '1 minute',
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
  retry: { maximumAttempts: 5 },
});

const { moveSources } = proxyActivities<typeof activities>({
  startToCloseTimeout: '24 hours',
  // A dead worker's move is retried after this; its batch records say what is done.
  heartbeatTimeout: '20 seconds',
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
  retry: { maximumAttempts: 10 },
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
  /** Retries the planning activities took (ArchiveResult.retries); absent in older runs. */
  planRetries?: number;
  /** Planning pages per workflow run before continue-as-new (keeps history small). */
  pagesPerRun: number;
  /**
   * The run's nominal time (epoch ms) that destination key placeholders resolve to: fixed by
   * the first run, since a continued run has its own start time and no schedule attributes.
   */
  nominalTime?: number;
  /** Incremental runs: where the watermark lives and the LastModified range (epoch ms) taken. */
  incremental?: { watermarkKey: string; since?: number; before: number };
}

/** Set by Temporal Schedules on the runs they start. */
const SCHEDULED_START_TIME = defineSearchAttributeKey(
  'TemporalScheduledStartTime',
  SearchAttributeType.DATETIME,
);
const SCHEDULED_BY_ID = defineSearchAttributeKey(
  'TemporalScheduledById',
  SearchAttributeType.KEYWORD,
);

/** The untyped search attribute's first value (older servers send no type metadata). */
function untypedAttribute(name: string): unknown {
  return workflowInfo().searchAttributes?.[name]?.[0];
}

/** The schedule's nominal time for this run, else the workflow's start time (epoch ms). */
function nominalTimeOfRun(): number {
  const typed = workflowInfo().typedSearchAttributes.get(SCHEDULED_START_TIME);
  if (typed instanceof Date) return typed.getTime();
  const untyped = untypedAttribute(SCHEDULED_START_TIME.name);
  if (untyped instanceof Date) return untyped.getTime();
  if (typeof untyped === 'string' && !Number.isNaN(Date.parse(untyped))) return Date.parse(untyped);
  return workflowInfo().startTime.getTime();
}

/** Id of the schedule that started this run, if one did. */
function scheduleIdOfRun(): string | undefined {
  const typed = workflowInfo().typedSearchAttributes.get(SCHEDULED_BY_ID);
  if (typeof typed === 'string' && typed !== '') return typed;
  const untyped = untypedAttribute(SCHEDULED_BY_ID.name);
  return typeof untyped === 'string' && untyped !== '' ? untyped : undefined;
}

/** The request with destination key placeholders resolved for the nominal time. */
function resolvedRequest(request: ArchiveRequest, nominalTime: number): ArchiveRequest {
  const key = resolveKeyTemplate(request.destination.key, new Date(nominalTime));
  return { ...request, destination: { ...request.destination, key } };
}

/** ~6 history events per page: 1,000 pages stay far below Temporal's 51,200-event cap. */
export const DEFAULT_PAGES_PER_RUN = 1000;

/** Turns an S3 prefix into one ZIP64 archive in S3. */
export async function archive(
  input: ArchiveRequest,
  resumed?: PlanState,
): Promise<ArchiveRunResult> {
  let validated: ArchiveRequest;
  try {
    validated = validateRequest(input);
  } catch (err) {
    throw namedFailure(err);
  }
  // Before anything uses the key: placeholders become the nominal time's UTC fields.
  const nominalTime = resumed?.nominalTime ?? nominalTimeOfRun();
  const request = resolvedRequest(validated, nominalTime);
  const state: PlanState = resumed ?? {
    // Stable across continue-as-new, so every run of this archive finds the same state.
    statePrefix: statePrefixOf(workflowInfo().firstExecutionRunId),
    startedAt: Date.now(), // workflow time: deterministic on replay
    chunks: 0,
    entries: 0,
    bytes: 0,
    nameBytes: 0,
    pagesPerRun: request.planning?.pagesPerRun ?? DEFAULT_PAGES_PER_RUN,
    nominalTime,
  };
  const { statePrefix } = state;
  const progress = newProgress(state);
  setHandler(progressQuery, () => progress);
  setHandler(progressSignal, (update) => {
    // Late or stray signals do not move a finished (or not yet streaming) run.
    if (progress.phase === 'stream') Object.assign(progress, streamFigures(update), stamp());
    showProgress(progress);
  });
  // One place moves the phase: the progress query and the ZipflowPhase search attribute
  // (with any other attribute that changes at the same step, in one upsert).
  const enter = (
    phase: ArchivePhase,
    figures: Partial<ArchiveProgress> = {},
    attributes: SearchAttributes = {},
  ): void => {
    Object.assign(progress, figures, { phase }, stamp());
    upsertSearchAttributes({ ...attributes, ZipflowPhase: [phase] });
    showProgress(progress);
  };
  upsertSearchAttributes({
    ZipflowDestination: [`s3://${request.destination.bucket}/${request.destination.key}`],
    ZipflowPhase: ['plan'],
    ZipflowEntries: [state.entries],
    ZipflowBytes: [state.bytes],
  });
  try {
    const settleSeconds = settleSecondsOf(request);
    if (settleSeconds !== undefined && state.incremental === undefined) {
      const found = await readWatermark({ request: validated, scheduleId: scheduleIdOfRun() });
      state.incremental = {
        watermarkKey: found.key,
        since: found.since === undefined ? undefined : Date.parse(found.since),
        // Whole seconds: a store that truncates LastModified to the second still puts every
        // object written at or after this instant at or after it.
        before: Math.floor(nominalTime / 1000) * 1000 - settleSeconds * 1000,
      };
    }
    const modified = state.incremental && {
      since: state.incremental.since,
      before: state.incremental.before,
    };
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
        modified,
      });
      if (page.entries > 0) state.chunks += 1;
      state.entries += page.entries;
      state.bytes += page.bytes;
      state.nameBytes += page.nameBytes;
      state.continuationToken = page.nextContinuationToken;
      state.planRetries = (state.planRetries ?? 0) + (page.retries ?? 0);
      Object.assign(progress, { entriesTotal: state.entries, bytesTotal: state.bytes }, stamp());
      showProgress(progress);
      // One more event per page, written with the next page's command: totals grow as listed.
      if (page.entries > 0)
        upsertSearchAttributes({ ZipflowEntries: [state.entries], ZipflowBytes: [state.bytes] });
    } while (state.continuationToken);
    if (state.entries === 0 && modified && !request.allowEmpty) {
      // Nothing modified since the watermark: a success without an archive; the watermark
      // stays, so the next run looks from the same point.
      enter('done');
      await CancellationScope.nonCancellable(() => discardRun({ request, statePrefix }));
      return {
        noNewObjects: true,
        bucket: request.destination.bucket,
        key: request.destination.key,
        since: modified.since === undefined ? undefined : new Date(modified.since).toISOString(),
        until: new Date(modified.before).toISOString(),
        durationMs: Date.now() - state.startedAt,
      };
    }
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
    enter('stream', {}, { ZipflowEntries: [state.entries], ZipflowBytes: [state.bytes] });
    const streamInput = { request, statePrefix, chunks: state.chunks, partSize };
    const result = request.serverSideCopy
      ? await copyOrStream(streamInput)
      : request.parallel === undefined
        ? await streamArchive(streamInput)
        : await assembleInParallel(streamInput, request.parallel, (range) => {
            // A finished range's figures leave the pending activities: the workflow keeps them.
            if (!range) return;
            progress.entriesDone += range.entriesDone;
            progress.bytesDone += range.bytesDone;
            progress.partsDone += range.partsDone;
            progress.currentPart = Math.max(progress.currentPart, range.currentPart);
            progress.resumes += range.resumes;
            Object.assign(progress, stamp());
            showProgress(progress);
          });
    // Sources are only removed from an archive that reads back as recorded.
    const moving = request.afterArchive !== undefined && request.afterArchive !== 'none';
    if (request.verify || moving) enter('verify');
    const verification =
      request.verify || moving ? await verify(request, result.sha256) : undefined;
    if (state.incremental) {
      const info = workflowInfo();
      await writeWatermark({
        request: validated,
        key: state.incremental.watermarkKey,
        value: {
          watermark: new Date(state.incremental.before).toISOString(),
          workflowId: info.workflowId,
          runId: info.firstExecutionRunId,
          archiveKey: request.destination.key,
        },
      });
    }
    if (moving) enter('move');
    const move = moving ? await moveSources({ request, statePrefix }) : undefined;
    enter(
      'done',
      {
        entriesDone: result.entries,
        bytesDone: state.bytes,
        partsDone: result.parts,
        currentPart: result.parts,
        resumes: result.resumes,
      },
      { ZipflowBytes: [result.size] },
    );
    const discarded = await CancellationScope.nonCancellable(() =>
      discardRun({ request, statePrefix }),
    );
    return {
      bucket: request.destination.bucket,
      key: request.destination.key,
      ...result,
      // Histories from before discardRun reported retries replay with an undefined result.
      retries: result.retries + (state.planRetries ?? 0) + (discarded?.retries ?? 0),
      durationMs: Date.now() - state.startedAt,
      ...(verification ? { verification } : {}),
      ...(move ? { move } : {}),
    };
  } catch (err) {
    if (err instanceof ContinueAsNew) throw err;
    // Nothing half-done stays behind, even when the run was cancelled.
    await CancellationScope.nonCancellable(async () => {
      enter('failed');
      // The run's own failure is what the caller must see; a cleanup that fails too (e.g.
      // AccessDenied on the destination) is in the history and the worker's log.
      await discardRun({ request, statePrefix }).catch((discardErr: unknown) =>
        log.warn('discardRun failed after the run failed', {
          error: discardErr instanceof Error ? discardErr.message : String(discardErr),
        }),
      );
    });
    throw namedFailure(err);
  }
}

/** Server-side copy, or streaming when no entry can be copied. */
async function copyOrStream(input: activities.AssemblyInput): Promise<activities.StreamResult> {
  const plan = await prepareCopy(input);
  if (plan.copiedEntries > 0) return copyArchive({ ...input, plan });
  // Nothing copied: the result still says which large entries were streamed, and why.
  return { ...(await streamArchive(input)), copiedEntries: 0, notCopied: plan.notCopied };
}

/**
 * Parallel assembly: lay out and split (one activity), the ranges at once (any worker takes
 * any range), then the deferred and end parts and completion. The first range to fail
 * cancels the others, and every range has stopped before the failure is raised, so the
 * cleanup that follows finds no attempt still writing.
 */
async function assembleInParallel(
  input: activities.AssemblyInput,
  parallel: number,
  rangeDone: (figures: StreamProgress | undefined) => void,
): Promise<activities.StreamResult> {
  const plan = await prepareAssembly({ ...input, parallel });
  const scope = new CancellationScope();
  const settled = await scope.run(() =>
    Promise.allSettled(
      plan.ranges.map((range) =>
        assembleRange({
          ...input,
          uploadId: plan.uploadId,
          checksumType: plan.checksumType,
          range,
        }).then(
          (result) => {
            rangeDone(result.progress);
            return result;
          },
          (err: unknown) => {
            scope.cancel();
            throw err;
          },
        ),
      ),
    ),
  );
  const failures = settled.flatMap((s) => (s.status === 'rejected' ? [s.reason as unknown] : []));
  if (failures.length > 0) {
    // The range that failed on its own says why; the others were cancelled because of it.
    throw failures.find((f) => !isCancellation(f)) ?? failures[0];
  }
  const results = settled.map((s) => (s as PromiseFulfilledResult<activities.RangeResult>).value);
  return finishAssembly({ ...input, plan, results });
}

function isCancellation(err: unknown): boolean {
  return err instanceof ActivityFailure && err.cause instanceof CancelledFailure;
}

/** Problems named in a VerificationFailed message; the failure's details hold the report. */
const PROBLEMS_IN_MESSAGE = 5;

/**
 * Reads the completed archive back; a mismatch fails the run with VerificationFailed and
 * leaves the archive in place (it is complete, and the report says what to look at).
 */
async function verify(
  request: ArchiveRequest,
  sha256: string | undefined,
): Promise<VerificationReport> {
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

function newProgress(state: PlanState): ArchiveProgress {
  return {
    phase: 'plan',
    entriesTotal: state.entries,
    bytesTotal: state.bytes,
    entriesDone: 0,
    bytesDone: 0,
    partsDone: 0,
    currentPart: 0,
    resumes: 0,
    ...stamp(),
  };
}

/**
 * The Web UI's "Current details" of the run: its figures as the workflow knows them (planning
 * pages, the progress signal, finished ranges). Not a command, so older histories replay alike.
 */
function showProgress(progress: ArchiveProgress): void {
  const mb = (bytes: number): string => `${(bytes / 1e6).toFixed(1)} MB`;
  const percent =
    progress.bytesTotal > 0 ? Math.floor((progress.bytesDone / progress.bytesTotal) * 100) : 0;
  const lines = [
    `**${progress.phase}** ${progress.phase === 'plan' ? '' : `${percent}% `}— ${mb(progress.bytesDone)} of ${mb(progress.bytesTotal)}, ${progress.entriesDone} of ${progress.entriesTotal} entries`,
    `parts held: ${progress.partsDone}, current part: ${progress.currentPart}, resumes: ${progress.resumes}`,
    `as of ${progress.updatedAt} (\`zipflow status\` shows live figures)`,
  ];
  setCurrentDetails(lines.join('\n\n'));
}

/** Workflow time (deterministic on replay). */
function stamp(): { updatedAt: string } {
  return { updatedAt: new Date().toISOString() };
}

/** The counters of a StreamProgress signal, each kept only when it is a count. */
function streamFigures(update: StreamProgress): Partial<ArchiveProgress> {
  const figures: Partial<ArchiveProgress> = {};
  for (const name of ['entriesDone', 'bytesDone', 'partsDone', 'currentPart', 'resumes'] as const) {
    const value: unknown = (update as Partial<StreamProgress> | null)?.[name];
    if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0)
      figures[name] = value;
  }
  return figures;
}

/** Surfaces a named failure (InvalidRequest, an activity's DestinationExists, …) as the run's own. */
export function namedFailure(err: unknown): unknown {
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
