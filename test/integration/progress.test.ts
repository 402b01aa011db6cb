import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import crypto from 'node:crypto';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { archiveWorkflowId, type ArchiveRequest } from '../../src/shared/request';
import type { ArchiveProgress } from '../../src/shared/progress';
import { lastStreamProgress } from '../support/archive';
import { progressQuery } from '../../src/workflows';
import { s3, temporalClient, tempBucket, uniqueName, withWorker } from '../support/env';

let client: S3Client;
let source: { name: string; remove(): Promise<void> };
let destination: { name: string; remove(): Promise<void> };
const sizes = [3 * 1024 * 1024, 4 * 1024 * 1024 + 17, 1024, 0];

before(async () => {
  client = await s3();
  source = await tempBucket(client, 'src');
  destination = await tempBucket(client, 'dst');
  for (const [i, size] of sizes.entries()) {
    await client.send(
      new PutObjectCommand({
        Bucket: source.name,
        Key: `in/${i}.bin`,
        Body: crypto.randomBytes(size),
      }),
    );
  }
});

after(async () => {
  await source.remove();
  await destination.remove();
});

test('the progress query of a finished run reports its totals, the streamed figures and the phase', async () => {
  const key = `${uniqueName('progress')}.zip`;
  const request: ArchiveRequest = {
    source: { bucket: source.name, prefix: 'in/' },
    destination: { bucket: destination.name, key },
    compression: { method: 'store' },
    partSize: 5 * 1024 * 1024,
    // One listing page per workflow run: the totals must survive continue-as-new.
    planning: { pageSize: 1, pagesPerRun: 2 },
  };
  const bytes = sizes.reduce((a, b) => a + b, 0);
  const { client: temporal, close } = await temporalClient();
  // A query is answered by a worker, also for a closed run: keep one running while asking.
  await withWorker({}, async (taskQueue) => {
    const workflowId = archiveWorkflowId(request.destination);
    const result = await temporal.workflow.execute('archive', {
      taskQueue,
      workflowId,
      args: [request],
    });
    const handle = temporal.workflow.getHandle(workflowId);
    const progress: ArchiveProgress = await handle.query(progressQuery);
    assert.deepEqual(
      { ...progress, updatedAt: undefined },
      {
        phase: 'done',
        entriesTotal: sizes.length,
        bytesTotal: bytes,
        entriesDone: sizes.length,
        bytesDone: bytes,
        partsDone: result.parts,
        currentPart: result.parts,
        resumes: 0,
        updatedAt: undefined,
      },
    );
    assert.ok(!Number.isNaN(Date.parse(progress.updatedAt)), progress.updatedAt);

    // The streaming activity reached its workflow through the worker's client: the last signal
    // carries the same figures the run ended with.
    assert.deepEqual(await lastStreamProgress(handle), {
      entriesDone: sizes.length,
      bytesDone: bytes,
      partsDone: result.parts,
      currentPart: result.parts,
      resumes: 0,
    });

    const description = await handle.describe();
    assert.deepEqual(description.searchAttributes.ZipflowPhase, ['done']);
    assert.deepEqual(description.searchAttributes.ZipflowEntries, [sizes.length]);
    assert.deepEqual(description.searchAttributes.ZipflowBytes, [result.size]);
  }).finally(close);
});
