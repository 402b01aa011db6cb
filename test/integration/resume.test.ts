import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import crypto from 'node:crypto';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import {
  archiveWorkflowId,
  type ArchiveRequest,
  type ArchiveResult,
} from '../../src/shared/request';
import { s3, temporalClient, tempBucket, uniqueName, withWorker } from '../support/env';
import {
  getObject,
  keysUnder,
  openUploads,
  partsHeld,
  readZip,
  slowText,
  waitUntil,
} from '../support/archive';
import { PART_SIZE, UPLOAD_CONCURRENCY } from '../support/reliability';
import { killHard, startWorkerProcess } from '../support/workerProcess';

let client: S3Client;
let source: { name: string; remove(): Promise<void> };
let destination: { name: string; remove(): Promise<void> };
const objects = new Map<string, Buffer>();

before(async () => {
  client = await s3();
  source = await tempBucket(client, 'src');
  destination = await tempBucket(client, 'dst');
  for (let i = 0; i < 24; i++) {
    // STORE entries larger than a part (resume inside an entry) between DEFLATE ones.
    const body =
      i % 3 === 0 ? crypto.randomBytes(11 * 1024 * 1024 + i) : slowText(i, 4 * 1024 * 1024);
    const key = `set/${String(i).padStart(2, '0')}-${i % 3 === 0 ? 'blob.bin' : 'log.txt'}`;
    objects.set(key, body);
    await client.send(new PutObjectCommand({ Bucket: source.name, Key: key, Body: body }));
  }
});

after(async () => {
  await source.remove();
  await destination.remove();
});

function request(key: string): ArchiveRequest {
  return {
    source: { bucket: source.name, prefix: 'set/' },
    destination: { bucket: destination.name, key },
    compression: { method: 'auto', level: 9 },
    partSize: PART_SIZE,
  };
}

test('a worker SIGKILLed twice mid-stream: the run resumes, the archive is byte-identical, and rework stays within the parts in flight', async (t) => {
  const { client: temporal, close } = await temporalClient();
  try {
    const referenceKey = `${uniqueName('reference')}.zip`;
    const reference = await withWorker({}, (taskQueue) =>
      temporal.workflow.execute('archive', {
        taskQueue,
        workflowId: archiveWorkflowId({ bucket: destination.name, key: referenceKey }),
        args: [request(referenceKey)],
      }),
    );
    assert.equal(reference.resumes, 0);
    assert.equal(
      reference.uploadedBytes,
      reference.size,
      'an uninterrupted run sends every byte once',
    );

    const key = `${uniqueName('crashed')}.zip`;
    const taskQueue = uniqueName('tq-crash');
    let worker = startWorkerProcess(taskQueue);
    const handle = await temporal.workflow.start('archive', {
      taskQueue,
      workflowId: archiveWorkflowId({ bucket: destination.name, key }),
      args: [request(key)],
    });
    try {
      for (const atParts of [3, 9]) {
        await waitUntil(
          `S3 holds ${atParts} parts`,
          async () => (await partsHeld(client, destination.name, key)) >= atParts,
        );
        await killHard(worker);
        worker = startWorkerProcess(taskQueue);
      }
      const result = (await handle.result()) as ArchiveResult;
      assert.equal(result.resumes, 2);
      const zip = await getObject(client, destination.name, key);
      const expected = await getObject(client, destination.name, referenceKey);
      let firstDifference = 0;
      while (firstDifference < zip.length && zip[firstDifference] === expected[firstDifference])
        firstDifference++;
      assert.equal(
        firstDifference,
        expected.length,
        `archives differ from byte ${firstDifference} (part ${Math.floor(firstDifference / PART_SIZE) + 1})`,
      );
      assert.equal(zip.length, expected.length);
      assert.equal(result.sha256, reference.sha256);
      const rework = result.uploadedBytes - result.size;
      t.diagnostic(
        `size ${result.size}, uploaded ${result.uploadedBytes}, rework ${rework} bytes over ${result.resumes} resumes, ${result.parts} parts`,
      );
      assert.ok(rework >= 0);
      assert.ok(
        rework <= result.resumes * UPLOAD_CONCURRENCY * PART_SIZE,
        `rework ${rework} bytes exceeds ${result.resumes} × ${UPLOAD_CONCURRENCY} parts in flight`,
      );
      const entries = await readZip(zip);
      for (const [k, body] of objects)
        assert.deepEqual(entries.get(k.slice('set/'.length)), body, k);
      assert.deepEqual(await openUploads(client, destination.name), []);
      assert.deepEqual(await keysUnder(client, destination.name, '.zipflow/'), []);
    } finally {
      await killHard(worker);
    }
  } finally {
    await close();
  }
});
