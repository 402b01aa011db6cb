import { CancelledFailure, Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import { runAttempt, type Attempt } from '../engine/run/attempt';
import { RunFailure } from '../engine/run/failures';
import { STREAM_PROGRESS_SIGNAL, type StreamProgress } from '../shared/progress';

const CANCEL_REQUESTED =
  temporal.api.enums.v1.PendingActivityState.PENDING_ACTIVITY_STATE_CANCEL_REQUESTED;

/** Heartbeats are throttled to 2 s (src/worker.ts): the cancellation arrives well within this. */
const CANCEL_DELIVERY_MS = 10_000;

/**
 * Runs an engine call as the current Temporal activity: heartbeats, cancellation and progress
 * signals go through the activity's Context, and a RunFailure (a failure no retry can fix)
 * leaves as a non-retryable ApplicationFailure of its type. Every activity is this plus one call.
 */
export async function activity<T>(body: () => Promise<T>): Promise<T> {
  try {
    return await runAttempt(temporalAttempt(), body);
  } catch (err) {
    if (err instanceof RunFailure)
      throw ApplicationFailure.nonRetryable(err.message, err.type, ...err.details);
    throw err;
  }
}

function temporalAttempt(): Attempt {
  const ctx = Context.current();
  return {
    number: ctx.info.attempt,
    checkpoint: ctx.info.heartbeatDetails,
    signal: ctx.cancellationSignal,
    heartbeat: (details) => ctx.heartbeat(details),
    signalProgress: async (progress) => {
      const execution = ctx.info.workflowExecution;
      if (!execution) return;
      await ctx.client.workflow
        .getHandle(execution.workflowId, execution.runId)
        .signal<[StreamProgress]>(STREAM_PROGRESS_SIGNAL, progress);
    },
    throwIfCancelRequested: (details) => throwIfCancelRequested(ctx, details),
    warn: (message, fields) => ctx.log.warn(message, fields),
  };
}

/**
 * Stops the activity if its workflow asked it to. Cancellation normally arrives with a
 * heartbeat's response, up to the heartbeat throttle late; asked of the server directly, it is
 * known before a step that cannot be undone, such as CompleteMultipartUpload. Best effort: when
 * the server cannot be asked (no client, an outage), the heartbeat path still applies.
 */
async function throwIfCancelRequested(ctx: Context, details: unknown): Promise<void> {
  if (ctx.cancellationSignal.aborted) throw ctx.cancellationSignal.reason;
  const run = ctx.info.workflowExecution;
  if (!run) return;
  let state: number | null | undefined;
  try {
    const info = await ctx.client.workflow.getHandle(run.workflowId, run.runId).describe();
    state = info.raw.pendingActivities?.find((a) => a.activityId === ctx.info.activityId)?.state;
  } catch {
    return;
  }
  if (state !== CANCEL_REQUESTED) return;
  // The worker reports a cancellation only once it has received it: a heartbeat (with the
  // checkpoint, which must not be lost) fetches it, and `cancelled` rejects when it is in.
  ctx.heartbeat(details);
  await Promise.race([ctx.cancelled, ctx.sleep(CANCEL_DELIVERY_MS)]);
  throw new CancelledFailure('the run was cancelled before the archive was completed');
}
