import assert from 'node:assert/strict';
import { test } from 'node:test';
import crypto from 'node:crypto';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { s3, temporalClient, tempBucket, withWorker } from '../support/env';
import { pingActivities } from '../support/pingWorkflow';

test('a workflow runs on the Temporal dev server and calls an activity on a real worker', async () => {
  const { client, close } = await temporalClient();
  try {
    const result = await withWorker(
      { workflowsPath: require.resolve('../support/pingWorkflow'), activities: pingActivities },
      (taskQueue) =>
        client.workflow.execute('ping', {
          taskQueue,
          workflowId: `ping-${crypto.randomUUID()}`,
          args: ['zipflow'],
        }),
    );
    assert.equal(result, 'ZIPFLOW!');
  } finally {
    await close();
  }
});

test('an object round-trips through MinIO byte for byte', async () => {
  const client = await s3();
  const bucket = await tempBucket(client);
  try {
    const body = crypto.randomBytes(256 * 1024);
    await client.send(
      new PutObjectCommand({ Bucket: bucket.name, Key: 'dir/ünïcode.bin', Body: body }),
    );
    const out = await client.send(
      new GetObjectCommand({ Bucket: bucket.name, Key: 'dir/ünïcode.bin' }),
    );
    assert.deepEqual(Buffer.from(await out.Body!.transformToByteArray()), body);
  } finally {
    await bucket.remove();
  }
});
