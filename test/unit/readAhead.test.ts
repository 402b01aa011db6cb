import assert from 'node:assert/strict';
import { getMaxListeners } from 'node:events';
import { test } from 'node:test';
import { S3Client } from '@aws-sdk/client-s3';
import { DEFAULT_READ_AHEAD, ReadAhead } from '../../src/activities/readAhead';

test('the reads ahead may all listen on the activity signal without a MaxListeners warning', () => {
  const controller = new AbortController();
  const client = new S3Client({ region: 'us-east-1' });
  new ReadAhead(client, 'bucket', [], 0, controller.signal);
  assert.ok(getMaxListeners(controller.signal) > DEFAULT_READ_AHEAD.count);
  client.destroy();
});
