import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  AbortMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  PutObjectCommand,
} from '@aws-sdk/client-s3';
import { s3, tempBucket } from '../support/env';
import { leftoversIn, STATE_PREFIX } from '../support/leftovers';
import { currentStore } from '../support/stores';

// Every test's "nothing left" rests on this check: on each store of the matrix it must see an
// open upload at any key depth (staging uploads sit deep under the state prefix) and a state
// object, or a store that lists no uploads would pass every test.
test('the leftovers check finds open multipart uploads at any depth and state objects on this store, and nothing once they are gone', async () => {
  const client = await s3();
  const bucket = await tempBucket(client, 'left');
  try {
    const uploads = new Map<string, string>();
    for (const key of ['top.zip', 'deep/er/archive.zip', `${STATE_PREFIX}run/copy/staging/00003`]) {
      const out = await client.send(
        new CreateMultipartUploadCommand({ Bucket: bucket.name, Key: key }),
      );
      uploads.set(key, out.UploadId!);
    }
    const state = `${STATE_PREFIX}run/checkpoint.json`;
    await client.send(new PutObjectCommand({ Bucket: bucket.name, Key: state, Body: '{}' }));

    const found = (await leftoversIn(client, bucket.name)).sort();
    assert.deepEqual(
      found,
      [
        ...[...uploads].map(
          ([key, id]) => `s3://${bucket.name}/${key}: open multipart upload ${id}`,
        ),
        `s3://${bucket.name}/${state}: state object`,
      ].sort(),
      `on ${currentStore()}`,
    );

    for (const [key, id] of uploads)
      await client.send(
        new AbortMultipartUploadCommand({ Bucket: bucket.name, Key: key, UploadId: id }),
      );
    await client.send(new DeleteObjectCommand({ Bucket: bucket.name, Key: state }));
    assert.deepEqual(await leftoversIn(client, bucket.name), []);
  } finally {
    await bucket.remove();
  }
});
