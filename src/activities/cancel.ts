import { CancelledFailure, Context } from '@temporalio/activity';
import { temporal } from '@temporalio/proto';

const CANCEL_REQUESTED =
  temporal.api.enums.v1.PendingActivityState.PENDING_ACTIVITY_STATE_CANCEL_REQUESTED;

/** Heartbeats are throttled to 2 s (src/worker.ts): the cancellation arrives well within this. */
const CANCEL_DELIVERY_MS = 10_000;

/**
 * Stops the activity if its workflow asked it to. Cancellation normally arrives with a
 * heartbeat's response, up to the heartbeat throttle late; asked of the server directly, it is
 * known before a step that cannot be undone, such as CompleteMultipartUpload. Best effort: when
 * the server cannot be asked (no client, an outage), the heartbeat path still applies.
 */
export async function throwIfCancelRequested(details: unknown): Promise<void> {
  const ctx = Context.current();
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
