import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import type { ChildProcess } from 'node:child_process';
import { after, before, test, type TestContext } from 'node:test';
import type { S3Client } from '@aws-sdk/client-s3';
import { WorkflowFailedError, type Client, type WorkflowHandle } from '@temporalio/client';
import {
  archiveWorkflowId,
  type ArchiveRequest,
  type ArchiveResult,
} from '../../src/shared/request';
import { archiveBuckets, s3, temporalClient, uniqueName, withWorker } from '../support/env';
import {
  assertSameBytes,
  getObject,
  keysUnder,
  openUploads,
  partsHeld,
  readZip,
  waitUntil,
} from '../support/archive';
import { slowStoreFor } from '../support/faultProxy';
import { PART_SIZE, UPLOAD_CONCURRENCY } from '../support/reliability';
import { killHard, startWorkerProcess } from '../support/workerProcess';

let client: S3Client;
let buckets: { source: string; destination: string; remove(): Promise<void> };
const objects = new Map<string, Buffer>();

// About 60 MiB in 12 parts: objects of odd sizes so that range and part boundaries fall in
// headers, data and data descriptors; one object longer than a whole range (its data crosses
// two range boundaries), small ones, an empty one and a folder marker.
before(async () => {
  for (let i = 0; i < 5; i++)
    objects.set(`set/a/${i}.bin`, crypto.randomBytes(4 * 1024 * 1024 + 777_777 * i + 13));
  objects.set('set/b/huge.bin', crypto.randomBytes(17 * 1024 * 1024 + 5));
  for (let i = 0; i < 30; i++) objects.set(`set/c/${i}.bin`, crypto.randomBytes(1000 * i + 1));
  objects.set('set/d/', Buffer.alloc(0));
  objects.set('set/d/empty.txt', Buffer.alloc(0));
  objects.set('set/e/tail.bin', crypto.randomBytes(6 * 1024 * 1024 + 99));
  client = await s3();
  buckets = await archiveBuckets(client, objects);
});

after(async () => {
  await buckets.remove();
});

function request(key: string, parallel?: number): ArchiveRequest {
  return {
    source: { bucket: buckets.source, prefix: 'set/' },
    destination: { bucket: buckets.destination, key },
    compression: { method: 'store' },
    partSize: PART_SIZE,
    ...(parallel === undefined ? {} : { parallel }),
  };
}

async function sequentialReference(
  temporal: Client,
): Promise<{ key: string; result: ArchiveResult }> {
  const key = `${uniqueName('sequential')}.zip`;
  const result = await withWorker({}, (taskQueue) =>
    temporal.workflow.execute('archive', {
      taskQueue,
      workflowId: archiveWorkflowId({ bucket: buckets.destination, key }),
      // The same plan gives the same bytes: small objects with known local headers, the larger
      // ones (no stored CRC-32 here) with a data descriptor, on both paths.
      args: [request(key)],
    }),
  );
  return { key, result };
}

async function assertSameArchive(key: string, referenceKey: string): Promise<void> {
  const zip = await getObject(client, buckets.destination, key);
  const expected = await getObject(client, buckets.destination, referenceKey);
  assertSameBytes(zip, expected, PART_SIZE);
  const entries = await readZip(zip);
  for (const [k, body] of objects) {
    if (k.endsWith('/')) continue;
    assert.deepEqual(entries.get(k.slice('set/'.length)), body, k);
  }
}

async function assertNothingLeft(): Promise<void> {
  assert.deepEqual(await openUploads(client, buckets.destination), []);
  assert.deepEqual(await keysUnder(client, buckets.destination, '.zipflow/'), []);
}

/** Worker identities that started assembleRange attempts, from the run's history. */
async function rangeWorkers(handle: WorkflowHandle): Promise<Set<string>> {
  const history = await handle.fetchHistory();
  const ranges = new Set<string>();
  const identities = new Set<string>();
  for (const event of history.events ?? []) {
    const scheduled = event.activityTaskScheduledEventAttributes;
    if (scheduled?.activityType?.name === 'assembleRange') ranges.add(String(event.eventId));
    const started = event.activityTaskStartedEventAttributes;
    if (started && ranges.has(String(started.scheduledEventId)))
      identities.add(started.identity ?? '');
  }
  return identities;
}

/**
 * Runs `run` with a parallel run (4 ranges) of the fixture on two worker processes that share a
 * task queue. The workers reach MinIO through a proxy adding `latencyMs` to every request and
 * run two activities at once each, so four ranges scheduled together cannot all fit one worker.
 */
async function onTwoWorkers(
  t: TestContext,
  temporal: Client,
  latencyMs: number,
  run: (run: { handle: WorkflowHandle; key: string; workers: ChildProcess[] }) => Promise<void>,
): Promise<void> {
  const slowStore = await slowStoreFor(t, latencyMs);
  const env = { AWS_ENDPOINT_URL_S3: slowStore.url, ZIPFLOW_WORKER_ACTIVITIES: '2' };
  const taskQueue = uniqueName('tq-parallel');
  const workers = [
    startWorkerProcess(taskQueue, [], { env }),
    startWorkerProcess(taskQueue, [], { env }),
  ];
  try {
    const key = `${uniqueName('parallel')}.zip`;
    const handle = await temporal.workflow.start('archive', {
      taskQueue,
      workflowId: archiveWorkflowId({ bucket: buckets.destination, key }),
      args: [request(key, 4)],
    });
    await run({ handle, key, workers });
  } finally {
    for (const worker of workers) await killHard(worker);
  }
}

test('parallel assembly on two worker processes: both take ranges, and the archive equals the sequential one byte for byte', async (t) => {
  const { client: temporal, close } = await temporalClient();
  try {
    const reference = await sequentialReference(temporal);
    await onTwoWorkers(t, temporal, 50, async ({ handle, key }) => {
      const result = (await handle.result()) as ArchiveResult;
      t.diagnostic(`${result.parts} parts, ${result.size} bytes, ${result.durationMs} ms`);
      const identities = await rangeWorkers(handle);
      assert.equal(identities.size, 2, `ranges started by ${[...identities].join(', ')}`);
      await assertSameArchive(key, reference.key);
      assert.equal(result.sha256, reference.result.sha256);
      assert.equal(result.crc32, reference.result.crc32);
      assert.equal(result.size, reference.result.size);
      assert.equal(result.entries, reference.result.entries);
      assert.equal(result.uploadedBytes, result.size, 'an uninterrupted run sends every byte once');
      const manifest = await getObject(client, buckets.destination, result.manifestKey);
      const expectedManifest = await getObject(
        client,
        buckets.destination,
        reference.result.manifestKey,
      );
      assert.equal(manifest.toString(), expectedManifest.toString());
      await assertNothingLeft();
    });
  } finally {
    await close();
  }
});

test('parallel assembly with a worker SIGKILLed mid-range: the range resumes on another worker, the archive is byte-identical, and rework stays within the parts in flight', async (t) => {
  const { client: temporal, close } = await temporalClient();
  try {
    const reference = await sequentialReference(temporal);
    await onTwoWorkers(t, temporal, 300, async ({ handle, key, workers }) => {
      // Kill a worker that is running a range, once parts are held: mid-range.
      let identity = '';
      await waitUntil('a range is running and S3 holds 2 parts', async () => {
        if ((await partsHeld(client, buckets.destination, key)) < 2) return false;
        const pending = (await handle.describe()).raw.pendingActivities ?? [];
        const running = pending.find(
          (a) =>
            a.activityType?.name === 'assembleRange' && a.lastWorkerIdentity && a.lastStartedTime,
        );
        identity = running?.lastWorkerIdentity ?? '';
        return identity !== '';
      });
      const victim = workers.find((w) => identity.startsWith(`${w.pid}@`));
      assert.ok(victim, `no worker process has identity ${identity}`);
      await killHard(victim);
      const result = (await handle.result()) as ArchiveResult;
      const rework = result.uploadedBytes - result.size;
      t.diagnostic(`resumes ${result.resumes}, rework ${rework} bytes, ${result.parts} parts`);
      assert.ok(result.resumes >= 1, 'a range of the killed worker resumed');
      assert.ok(rework >= 0);
      assert.ok(
        rework <= result.resumes * UPLOAD_CONCURRENCY * PART_SIZE,
        `rework ${rework} bytes exceeds ${result.resumes} × ${UPLOAD_CONCURRENCY} parts in flight`,
      );
      await assertSameArchive(key, reference.key);
      assert.equal(result.sha256, reference.result.sha256);
      await assertNothingLeft();
    });
  } finally {
    await close();
  }
});

test('parallel with compression "auto" fails with InvalidRequest naming parallel, leaving no upload and no state', async () => {
  const { client: temporal, close } = await temporalClient();
  try {
    const key = `${uniqueName('parallel-auto')}.zip`;
    const bad: ArchiveRequest = { ...request(key, 2), compression: { method: 'auto' } };
    const err = await withWorker({}, (taskQueue) =>
      temporal.workflow.execute('archive', {
        taskQueue,
        workflowId: archiveWorkflowId({ bucket: buckets.destination, key }),
        args: [bad],
      }),
    ).then(
      () => assert.fail('the run should fail'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof WorkflowFailedError);
    const cause = err.cause as { type?: string; message: string };
    assert.equal(cause.type, 'InvalidRequest');
    assert.match(
      cause.message,
      /^parallel: needs every entry stored: set compression.method to "store"/,
    );
    await assertNothingLeft();
  } finally {
    await close();
  }
});

test('a parallel run cancelled mid-range stops every range, then leaves no multipart upload and no state', async (t) => {
  const { client: temporal, close } = await temporalClient();
  try {
    await onTwoWorkers(t, temporal, 300, async ({ handle, key }) => {
      await waitUntil(
        'S3 holds 2 parts',
        async () => (await partsHeld(client, buckets.destination, key)) >= 2,
      );
      await handle.cancel();
      await assert.rejects(handle.result(), (err: unknown) => {
        assert.ok(err instanceof WorkflowFailedError);
        return true;
      });
      const pending = (await handle.describe()).raw.pendingActivities ?? [];
      assert.deepEqual(pending, [], 'no range still running');
      await assertNothingLeft();
      assert.equal(
        await getObject(client, buckets.destination, key).catch(() => undefined),
        undefined,
      );
    });
  } finally {
    await close();
  }
});
