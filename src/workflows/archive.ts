import {
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  proxyActivities,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type * as activities from '../activities';
import {
  RequestError,
  validateRequest,
  type ArchiveRequest,
  type ArchiveResult,
} from '../shared/request';

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

const { discardRun } = proxyActivities<typeof activities>({
  startToCloseTimeout: '10 minutes',
  retry: { maximumAttempts: 10 },
});

/** Turns an S3 prefix into one ZIP64 archive in S3. */
export async function archive(input: ArchiveRequest): Promise<ArchiveResult> {
  const started = Date.now(); // workflow time: deterministic on replay
  let request: ArchiveRequest;
  try {
    request = validateRequest(input);
  } catch (err) {
    if (err instanceof RequestError)
      throw ApplicationFailure.nonRetryable(err.message, 'InvalidRequest', { field: err.field });
    throw err;
  }
  const statePrefix = `.zipflow/state/${workflowInfo().runId}/`;
  upsertSearchAttributes({
    ZipflowDestination: [`s3://${request.destination.bucket}/${request.destination.key}`],
    ZipflowPhase: ['plan'],
  });
  try {
    let chunks = 0;
    let entries = 0;
    let bytes = 0;
    let token: string | undefined;
    do {
      const page = await planPage({
        request,
        statePrefix,
        chunk: chunks,
        continuationToken: token,
      });
      if (page.entries > 0) chunks += 1;
      entries += page.entries;
      bytes += page.bytes;
      token = page.nextContinuationToken;
    } while (token);
    if (entries === 0) {
      throw ApplicationFailure.nonRetryable(
        `source s3://${request.source.bucket}/${request.source.prefix ?? ''} lists no objects: check source.bucket and source.prefix`,
        'EmptySource',
      );
    }
    upsertSearchAttributes({
      ZipflowPhase: ['stream'],
      ZipflowEntries: [entries],
      ZipflowBytes: [bytes],
    });
    const result = await streamArchive({ request, statePrefix, chunks });
    upsertSearchAttributes({ ZipflowPhase: ['done'], ZipflowBytes: [result.size] });
    await CancellationScope.nonCancellable(() => discardRun({ request, statePrefix }));
    return {
      bucket: request.destination.bucket,
      key: request.destination.key,
      ...result,
      durationMs: Date.now() - started,
    };
  } catch (err) {
    // Nothing half-done stays behind, even when the run was cancelled.
    await CancellationScope.nonCancellable(async () => {
      upsertSearchAttributes({ ZipflowPhase: ['failed'] });
      await discardRun({ request, statePrefix });
    });
    throw namedFailure(err);
  }
}

/** Surfaces an activity's named failure (DestinationExists, InvalidEntry, …) as the run's own. */
function namedFailure(err: unknown): unknown {
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
