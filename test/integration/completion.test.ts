import assert from 'node:assert/strict';
import { ApplicationFailure } from '@temporalio/common';
import { after, before, test } from 'node:test';
import crypto from 'node:crypto';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { s3, tempBucket, uniqueName } from '../support/env';
import { getObject } from '../support/archive';
import { StreamRuns } from '../support/streamRuns';
import type { StreamCheckpoint, StreamInput } from '../../src/engine/writers/stream';

let client: S3Client;
let source: { name: string; remove(): Promise<void> };
let destination: { name: string; remove(): Promise<void> };
const runs = new StreamRuns();

before(async () => {
  client = await s3();
  source = await tempBucket(client, 'src');
  destination = await tempBucket(client, 'dst');
  for (let i = 0; i < 4; i++) {
    await client.send(
      new PutObjectCommand({
        Bucket: source.name,
        Key: `c/${i}.bin`,
        Body: crypto.randomBytes(3 * 1024 * 1024),
      }),
    );
  }
});

after(async () => {
  await runs.discard();
  await source.remove();
  await destination.remove();
});

function planned(key: string): Promise<StreamInput> {
  return runs.plan({
    source: { bucket: source.name, prefix: 'c/' },
    destination: { bucket: destination.name, key },
    compression: { method: 'store' },
  });
}

const runWithHeartbeats = (input: StreamInput, heartbeatDetails?: StreamCheckpoint) =>
  runs.stream(input, heartbeatDetails);

test('a retry after the upload completed but before the attempt returned records the same archive instead of failing', async () => {
  const input = await planned(`${uniqueName('done')}.zip`);
  const first = await runWithHeartbeats(input);
  assert.ok(first.last, 'the first attempt heartbeats its checkpoint');
  const retry = await runWithHeartbeats(input, first.last);
  const { result } = retry;
  assert.equal(result.resumes, 1);
  for (const field of [
    'size',
    'entries',
    'parts',
    'sha256',
    'crc32',
    'crc32ValidatedBy',
    'etag',
  ] as const) {
    assert.equal(result[field], first.result[field], field);
  }
  const zip = await getObject(client, destination.name, input.request.destination.key);
  assert.equal(result.sha256, crypto.createHash('sha256').update(zip).digest('hex'));
  const manifest = (await getObject(client, destination.name, result.manifestKey))
    .toString()
    .trim()
    .split('\n');
  assert.equal(manifest.length, 4);
});

test('an archive at the destination written by another run is not taken for this run’s', async () => {
  const first = await planned(`${uniqueName('other')}.zip`);
  const { last } = await runWithHeartbeats(first);
  // Same destination and checkpoint, but another run's state prefix: the object is not ours,
  // and the upload the checkpoint names is gone, so the retry fails instead of adopting it:
  // UploadAborted, which no retry can fix.
  const other = { ...first, statePrefix: `.zipflow/state/${uniqueName('run')}/` };
  await assert.rejects(runWithHeartbeats(other, last), (err: unknown) => {
    assert.ok(err instanceof ApplicationFailure, String(err));
    assert.equal(err.type, 'UploadAborted');
    assert.equal(err.nonRetryable, true);
    runs.track(other);
    return true;
  });
});
