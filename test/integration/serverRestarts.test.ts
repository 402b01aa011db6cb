import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import {
  readStackState,
  restartServer,
  startStack,
  stopStack,
  type StackServer,
  type StackState,
} from '../../src/client/dev/stack';
import { archiveWorkflowId, type ArchiveResult } from '../../src/shared/request';
import { temporalClient, uniqueName } from '../support/env';
import { partsHeld, waitUntil } from '../support/archive';
import {
  archiveKey,
  assertSameArchive,
  mixedRequest,
  mixedSourceFixture,
  referenceArchive,
} from '../support/reliability';
import { killHard, startWorkerProcess } from '../support/workerProcess';

// Restarting servers would disturb other test files on the shared stack: this file runs its
// own Temporal dev server and MinIO, and points everything in this process at them.
let stack: StackState;
const fixture = mixedSourceFixture(
  2,
  async () => {
    stack = await startStack({
      dir: fs.mkdtempSync(path.join(os.tmpdir(), 'zipflow-restarts-')),
    });
    Object.assign(process.env, stack.env);
  },
  // After the buckets' removal, also when it finds leftovers: the latest pids, also when a
  // restart failed half-way.
  () => stopStack(readStackState(stack.dir) ?? stack),
);

/** Runs an archive on a worker process, restarting `server` once S3 holds two parts. */
async function archiveAcrossRestart(
  server: StackServer,
  downMs: number,
  note: (line: string) => void,
): Promise<void> {
  const referenceKey = archiveKey('reference');
  const key = archiveKey(`restart-${server}`);
  const taskQueue = uniqueName('tq-restart');
  const temporal = await temporalClient();
  let reference: ArchiveResult;
  let workflowId: string;
  const worker = startWorkerProcess(taskQueue);
  try {
    reference = await referenceArchive(
      temporal.client,
      mixedRequest(fixture.source, fixture.destination, referenceKey),
    );
    const handle = await temporal.client.workflow.start('archive', {
      taskQueue,
      workflowId: archiveWorkflowId({ bucket: fixture.destination, key }),
      args: [mixedRequest(fixture.source, fixture.destination, key)],
    });
    workflowId = handle.workflowId;
    await waitUntil(
      'S3 holds 2 parts',
      async () => (await partsHeld(fixture.client, fixture.destination, key)) >= 2,
    );
  } finally {
    await temporal.close();
  }
  try {
    const started = Date.now();
    stack = await restartServer(stack, server, { downMs });
    note(`${server} down and up again in ${Date.now() - started} ms`);
    // A new connection: the old one went down with the server.
    const after = await temporalClient();
    try {
      const result = (await after.client.workflow.getHandle(workflowId).result()) as ArchiveResult;
      note(`resumes ${result.resumes}, retries ${result.retries}, ${result.parts} parts`);
      await assertSameArchive(
        fixture,
        { key, result: result },
        { key: referenceKey, result: reference },
      );
    } finally {
      await after.close();
    }
  } finally {
    await killHard(worker);
  }
}

test('the Temporal dev server restarted mid-run on its database file: the worker reconnects and the archive completes byte-identical', async (t) => {
  await archiveAcrossRestart('temporal', 2_000, (line) => t.diagnostic(line));
});

test('MinIO restarted mid-run on its data folder: the run rides out the outage and the archive completes byte-identical', async (t) => {
  await archiveAcrossRestart('minio', 3_000, (line) => t.diagnostic(line));
});
