import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import type { Client } from '@temporalio/client';
import { activity } from '../../src/activities/attempt';
import { ProgressReporter } from '../../src/engine/run/progress';
import { STREAM_PROGRESS_SIGNAL, type StreamProgress } from '../../src/shared/progress';
import { temporalClient, uniqueName } from '../support/env';

const zero: StreamProgress = {
  entriesDone: 0,
  bytesDone: 0,
  partsDone: 0,
  currentPart: 0,
  resumes: 0,
};

/** Runs a reporter in an activity context whose workflow is `execution`, on the real server. */
function environment(
  client: Client,
  execution: { workflowId: string; runId: string },
  warnings: string[],
): MockActivityEnvironment {
  return new MockActivityEnvironment(
    { workflowExecution: execution, workflowType: 'archive', workflowNamespace: 'default' },
    { client, logger: new DefaultLogger('WARN', (entry) => warnings.push(entry.message)) },
  );
}

async function signalsOf(client: Client, workflowId: string): Promise<StreamProgress[]> {
  const history = await client.workflow.getHandle(workflowId).fetchHistory();
  return (history.events ?? [])
    .map((e) => e.workflowExecutionSignaledEventAttributes)
    .filter((a) => a?.signalName === STREAM_PROGRESS_SIGNAL)
    .map((a) => JSON.parse(Buffer.from(a!.input!.payloads![0].data!).toString()) as StreamProgress);
}

/**
 * Runs `body` as an activity of an open run that no worker polls, so that its history records
 * every signal, and returns the signalled figures (after checking nothing was warned).
 */
async function signalsFrom(body: () => Promise<void>): Promise<StreamProgress[]> {
  const { client, close } = await temporalClient();
  const handle = await client.workflow.start('archive', {
    taskQueue: uniqueName('nobody'),
    workflowId: uniqueName('progress-signal'),
    args: [],
  });
  try {
    const warnings: string[] = [];
    const execution = { workflowId: handle.workflowId, runId: handle.firstExecutionRunId };
    await environment(client, execution, warnings).run(() => activity(body));
    assert.deepEqual(warnings, []);
    return await signalsOf(client, handle.workflowId);
  } finally {
    await handle.terminate('test done');
    await close();
  }
}

test('the reporter signals at the start, on each interval while the figures change, and at the end', async () => {
  let figures = { ...zero };
  const signals = await signalsFrom(async () => {
    const reporter = new ProgressReporter(() => figures, 200);
    reporter.start();
    await new Promise((r) => setTimeout(r, 700)); // unchanged figures: no more signals
    figures = { ...figures, entriesDone: 1, bytesDone: 10, currentPart: 1 };
    await new Promise((r) => setTimeout(r, 700));
    figures = { ...figures, entriesDone: 2, bytesDone: 20, partsDone: 1 };
    await reporter.stop();
  });
  assert.deepEqual(signals, [
    zero,
    { ...zero, entriesDone: 1, bytesDone: 10, currentPart: 1 },
    { ...zero, entriesDone: 2, bytesDone: 20, partsDone: 1, currentPart: 1 },
  ]);
});

test('the end is signalled even when the figures have not changed since the last signal', async () => {
  const done = { ...zero, entriesDone: 3, bytesDone: 30, partsDone: 1, currentPart: 1 };
  const signals = await signalsFrom(async () => {
    const reporter = new ProgressReporter(() => done, 200);
    reporter.start();
    // The figures are final, and the upload's completion takes a while: the signal at the end
    // restamps them, so they do not look older than the completion.
    await new Promise((r) => setTimeout(r, 700));
    await reporter.stop();
  });
  assert.deepEqual(signals, [done, done]);
});

test('a signal that cannot be delivered is logged and never fails the activity', async () => {
  const { client, close } = await temporalClient();
  try {
    const warnings: string[] = [];
    const env = environment(
      client,
      { workflowId: uniqueName('no-such-run'), runId: '01a20e9e-0000-7000-8000-000000000000' },
      warnings,
    );
    const value = await env.run(() =>
      activity(async () => {
        const reporter = new ProgressReporter(() => zero, 100);
        reporter.start();
        await new Promise((r) => setTimeout(r, 300));
        await reporter.stop();
        return 'finished';
      }),
    );
    assert.equal(value, 'finished');
    assert.ok(warnings.length >= 1, 'the failure is logged');
    assert.match(warnings[0], /could not signal stream progress/);
  } finally {
    await close();
  }
});
