import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { AbortMultipartUploadCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { listUploads } from '../../src/s3/destination';
import { CancelledFailure, WorkflowFailedError, type Client } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import {
  archiveWorkflowId,
  type ArchiveRequest,
  type ArchiveResult,
} from '../../src/shared/request';
import { s3, temporalClient, tempBucket, uniqueName, withWorker } from '../support/env';
import { startArchive } from '../../src/client';
import {
  getObject,
  keysUnder,
  openUploads,
  partsHeld,
  readZip,
  slowText,
  waitUntil,
} from '../support/archive';

let client: S3Client;
let temporal: Client;
let closeTemporal: () => Promise<void>;
let source: { name: string; remove(): Promise<void> };
let destination: { name: string; remove(): Promise<void> };
const LAST = 'batch/zz-last.txt';
// Larger than the read-ahead's small-object limit; with one 4 MiB range of read budget
// (readConcurrency 1, below) it is read only once the stream is near it.
const AS_LISTED = slowText(99, 2 * 1024 * 1024);

before(async () => {
  client = await s3();
  ({ client: temporal, close: closeTemporal } = await temporalClient());
  source = await tempBucket(client, 'src');
  destination = await tempBucket(client, 'dst');
  // Slow DEFLATE entries first, so the test can act while the stream runs.
  for (let i = 0; i < 6; i++) {
    await client.send(
      new PutObjectCommand({
        Bucket: source.name,
        Key: `batch/${i}.log`,
        Body: slowText(i, 6 * 1024 * 1024),
      }),
    );
  }
  await client.send(new PutObjectCommand({ Bucket: source.name, Key: LAST, Body: AS_LISTED }));
});

after(async () => {
  await closeTemporal();
  await source.remove();
  await destination.remove();
});

function request(key: string, extra: Partial<ArchiveRequest> = {}): ArchiveRequest {
  return {
    source: { bucket: source.name, prefix: 'batch/' },
    destination: { bucket: destination.name, key },
    compression: { method: 'deflate', level: 9 },
    partSize: 5 * 1024 * 1024,
    readConcurrency: 1,
    ...extra,
  };
}

/** Starts a run, waits until its multipart upload holds a part, then calls `act`. */
async function runAndActMidStream(
  req: ArchiveRequest,
  act: (workflowId: string) => Promise<void>,
): Promise<ArchiveResult> {
  return withWorker({}, async (taskQueue) => {
    const handle = await temporal.workflow.start('archive', {
      taskQueue,
      workflowId: archiveWorkflowId(req.destination),
      args: [req],
    });
    await waitUntil(
      'the first part is held',
      async () => (await partsHeld(client, destination.name, req.destination.key)) >= 1,
    );
    await act(handle.workflowId);
    return (await handle.result()) as ArchiveResult;
  });
}

async function assertNothingLeft(key: string): Promise<void> {
  assert.deepEqual(await keysUnder(client, destination.name, key), [], 'no archive object');
  assert.deepEqual(await openUploads(client, destination.name), [], 'no multipart upload');
  assert.deepEqual(await keysUnder(client, destination.name, '.zipflow/'), [], 'no state objects');
}

test('a source object overwritten after listing fails the run with SourceChanged and leaves nothing behind', async () => {
  const key = `${uniqueName('changed')}.zip`;
  await client.send(new PutObjectCommand({ Bucket: source.name, Key: LAST, Body: AS_LISTED }));
  await assert.rejects(
    runAndActMidStream(request(key), async () => {
      await client.send(
        new PutObjectCommand({ Bucket: source.name, Key: LAST, Body: 'changed after listing' }),
      );
    }),
    (err: unknown) => {
      assert.ok(err instanceof WorkflowFailedError && err.cause instanceof ApplicationFailure);
      assert.equal(err.cause.type, 'SourceChanged');
      assert.match(
        err.cause.message,
        /batch\/zz-last\.txt changed after it was listed.*onSourceChange/,
      );
      return true;
    },
  );
  await assertNothingLeft(key);
});

test('with onSourceChange "skip", an object changed after listing is left out and recorded in the manifest', async () => {
  const key = `${uniqueName('skip')}.zip`;
  await client.send(new PutObjectCommand({ Bucket: source.name, Key: LAST, Body: AS_LISTED }));
  const result = await runAndActMidStream(request(key, { onSourceChange: 'skip' }), async () => {
    await client.send(
      new PutObjectCommand({ Bucket: source.name, Key: LAST, Body: 'changed after listing' }),
    );
  });
  assert.equal(result.skipped, 1);
  assert.equal(result.entries, 6);
  const entries = await readZip(await getObject(client, destination.name, key));
  assert.equal(entries.has('zz-last.txt'), false);
  const manifest = (await getObject(client, destination.name, result.manifestKey))
    .toString()
    .trim()
    .split('\n');
  const skippedLines = manifest
    .map((l) => JSON.parse(l) as { key?: string; skipped?: string })
    .filter((l) => l.skipped);
  assert.deepEqual(
    skippedLines.map((l) => [l.key, l.skipped]),
    [[LAST, 'changed']],
  );
});

test('cancelling mid-stream leaves no archive, no multipart upload and no state objects', async () => {
  const key = `${uniqueName('cancel')}.zip`;
  await assert.rejects(
    runAndActMidStream(request(key), async (workflowId) => {
      await temporal.workflow.getHandle(workflowId).cancel();
    }),
    (err: unknown) => {
      assert.ok(err instanceof WorkflowFailedError);
      assert.ok(
        err.cause instanceof CancelledFailure,
        `expected a cancellation, got ${String(err.cause)}`,
      );
      return true;
    },
  );
  await assertNothingLeft(key);
});

test('a multipart upload aborted from outside mid-stream (a lifecycle rule, another tool) ends the run with UploadAborted at once, not a retry per checkpoint, and leaves nothing', async () => {
  const key = `${uniqueName('aborted')}.zip`;
  await assert.rejects(
    runAndActMidStream(request(key), async () => {
      for await (const u of listUploads(client, destination.name, key))
        await client.send(
          new AbortMultipartUploadCommand({
            Bucket: destination.name,
            Key: u.key,
            UploadId: u.uploadId,
          }),
        );
    }),
    (err: unknown) => {
      assert.ok(err instanceof WorkflowFailedError && err.cause instanceof ApplicationFailure);
      assert.equal(err.cause.type, 'UploadAborted');
      assert.match(err.cause.message, new RegExp(`s3://${destination.name}/${key} was aborted`));
      return true;
    },
  );
  await assertNothingLeft(key);
});

test('a destination that appears while the archive is written is not overwritten: the run fails with DestinationExists', async () => {
  const key = `${uniqueName('appears')}.zip`;
  await client.send(new PutObjectCommand({ Bucket: source.name, Key: LAST, Body: AS_LISTED }));
  await assert.rejects(
    runAndActMidStream(request(key), async () => {
      await client.send(
        new PutObjectCommand({
          Bucket: destination.name,
          Key: key,
          Body: 'written by someone else',
        }),
      );
    }),
    (err: unknown) => {
      assert.ok(err instanceof WorkflowFailedError && err.cause instanceof ApplicationFailure);
      assert.equal(err.cause.type, 'DestinationExists');
      assert.match(err.cause.message, /appeared while the archive was written/);
      return true;
    },
  );
  assert.equal(
    (await getObject(client, destination.name, key)).toString(),
    'written by someone else',
  );
  assert.deepEqual(await openUploads(client, destination.name), []);
  assert.deepEqual(await keysUnder(client, destination.name, '.zipflow/'), []);
});

test('starting the same archive twice while it runs joins the running workflow instead of making a second archive', async () => {
  const key = `${uniqueName('twice')}.zip`;
  await client.send(new PutObjectCommand({ Bucket: source.name, Key: LAST, Body: AS_LISTED }));
  const zipflow = { temporal, taskQueue: '', close: async () => {} };
  const result = await withWorker({}, async (taskQueue) => {
    zipflow.taskQueue = taskQueue;
    const first = await startArchive(zipflow, request(key));
    const second = await startArchive(zipflow, request(key));
    assert.equal(second.workflowId, first.workflowId);
    assert.equal(second.firstExecutionRunId, first.firstExecutionRunId);
    return (await first.result()) as ArchiveResult;
  });
  assert.equal(result.entries, 7);
  const runs = [];
  for await (const run of temporal.workflow.list({
    query: `WorkflowId = '${archiveWorkflowId({ bucket: destination.name, key })}'`,
  })) {
    runs.push(run.runId);
  }
  assert.equal(runs.length, 1);
});
