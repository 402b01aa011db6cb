import { CancelledFailure, Context } from '@temporalio/activity';
import { temporal } from '@temporalio/proto';

const CANCEL_REQUESTED =
  temporal.api.enums.v1.PendingActivityState.PENDING_ACTIVITY_STATE_CANCEL_REQUESTED;

/**
 * Stops the activity if its workflow asked it to. Cancellation normally arrives with a
 * heartbeat's response, up to the heartbeat throttle late; asked of the server directly, it is
 * known before a step that cannot be undone, such as CompleteMultipartUpload. Best effort: when
 * the server cannot be asked (no client, an outage), the heartbeat path still applies.
 */
export async function throwIfCancelRequested(): Promise<void> {
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
  if (state === CANCEL_REQUESTED)
    throw new CancelledFailure('the run was cancelled before the archive was completed');
}
