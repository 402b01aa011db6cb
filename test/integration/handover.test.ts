import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { test } from 'node:test';
import type { WorkflowHandle } from '@temporalio/client';
import { temporal as proto } from '@temporalio/proto';
import {
  archiveWorkflowId,
  type ArchiveRequest,
  type ArchiveResult,
} from '../../src/shared/request';
import { temporalClient, uniqueName } from '../support/env';
import { partsHeld, waitUntil } from '../support/archive';
import { slowStoreFor } from '../support/faultProxy';
import {
  assertSameArchive,
  mixedRequest,
  mixedSourceFixture,
  referenceArchive,
} from '../support/reliability';
import { killHard, startWorkerProcess } from '../support/workerProcess';

/** After SIGTERM, another worker continues within this (issue: ~5 s). */
const SIGTERM_HANDOVER_MS = 5_000;
/** After SIGKILL: the streaming activity's heartbeat timeout (src/workflows/archive.ts) + 5 s. */
const SIGKILL_HANDOVER_MS = 10_000 + 5_000;

const fixture = mixedSourceFixture(3);

function request(key: string): ArchiveRequest {
  return mixedRequest(fixture.source, fixture.destination, key);
}

const STARTED = proto.api.enums.v1.PendingActivityState.PENDING_ACTIVITY_STATE_STARTED;

/** The streaming activity's attempt and the pid of its worker, when it runs on one. */
async function runningAttempt(
  handle: WorkflowHandle,
): Promise<{ attempt: number; pid: number } | undefined> {
  const pending = (await handle.describe()).raw.pendingActivities ?? [];
  const stream = pending.find((a) => a.activityType?.name === 'streamArchive');
  if (stream?.state !== STARTED) return undefined;
  // A worker's default identity is "<pid>@<host>".
  return { attempt: stream.attempt ?? 1, pid: parseInt(stream.lastWorkerIdentity ?? '', 10) };
}

/** A worker process that has started polling its task queue. */
async function readyWorker(taskQueue: string, env: NodeJS.ProcessEnv): Promise<ChildProcess> {
  const worker = startWorkerProcess(taskQueue, [], { env, pipeOutput: true });
  let output = '';
  worker.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  worker.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  await waitUntil(`worker ${worker.pid} polls`, async () => /RUNNING/.test(output), 60_000);
  return worker;
}

/** Sends `signal` to the worker running the activity; ms until another attempt runs. */
async function handOver(
  handle: WorkflowHandle,
  workers: ChildProcess[],
  signal: NodeJS.Signals,
): Promise<number> {
  const before = await runningAttempt(handle);
  const worker = workers.find((w) => w.pid === before?.pid && w.exitCode === null);
  assert.ok(worker, `the streaming activity runs on a worker: ${JSON.stringify(before)}`);
  const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
  const sent = Date.now();
  worker.kill(signal);
  await waitUntil(
    `another attempt of streamArchive runs after ${signal}`,
    async () => ((await runningAttempt(handle))?.attempt ?? 0) > before!.attempt,
    120_000,
  );
  const ms = Date.now() - sent;
  await exited;
  return ms;
}

test('handover: after SIGTERM another worker continues within 5 s, after SIGKILL within the heartbeat timeout + 5 s, and the archive is byte-identical', async (t) => {
  const { client: temporal, close } = await temporalClient();
  const workers: ChildProcess[] = [];
  try {
    const referenceKey = `${uniqueName('reference')}.zip`;
    const reference = await referenceArchive(temporal, request(referenceKey));

    // Slow requests keep the run going through both handovers.
    const slowStore = await slowStoreFor(t, 300);
    const env = { AWS_ENDPOINT_URL_S3: slowStore.url };
    const taskQueue = uniqueName('tq-handover');
    const key = `${uniqueName('handed-over')}.zip`;
    // Three workers, ready before the run: one runs the stream, the others take it over.
    for (let i = 0; i < 3; i++) workers.push(await readyWorker(taskQueue, env));
    const handle = await temporal.workflow.start('archive', {
      taskQueue,
      workflowId: archiveWorkflowId({ bucket: fixture.destination, key }),
      args: [request(key)],
    });
    await waitUntil('S3 holds 2 parts', async () => {
      return (await partsHeld(fixture.client, fixture.destination, key)) >= 2;
    });
    const afterTerm = await handOver(handle, workers, 'SIGTERM');
    await waitUntil('S3 holds 5 parts', async () => {
      return (await partsHeld(fixture.client, fixture.destination, key)) >= 5;
    });
    const afterKill = await handOver(handle, workers, 'SIGKILL');
    t.diagnostic(`handover after SIGTERM ${afterTerm} ms, after SIGKILL ${afterKill} ms`);

    const result = (await handle.result()) as ArchiveResult;
    assert.equal(result.resumes, 2);
    await assertSameArchive(fixture, { key, result }, { key: referenceKey, result: reference });
    assert.ok(afterTerm <= SIGTERM_HANDOVER_MS, `SIGTERM handover took ${afterTerm} ms`);
    assert.ok(afterKill <= SIGKILL_HANDOVER_MS, `SIGKILL handover took ${afterKill} ms`);
  } finally {
    for (const worker of workers) await killHard(worker);
    await close();
  }
});
