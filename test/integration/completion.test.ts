import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import crypto from 'node:crypto';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { MockActivityEnvironment } from '@temporalio/testing';
import { discardRun } from '../../src/activities';
import { planPage } from '../../src/activities/plan';
import {
  streamArchive,
  type StreamCheckpoint,
  type StreamInput,
} from '../../src/activities/stream';
import type { ArchiveRequest } from '../../src/shared/request';
import type { StreamResult } from '../../src/activities/finalize';
import { s3, tempBucket, uniqueName } from '../support/env';
import { getObject } from '../support/archive';

// The activity runs in the SDK's activity test environment (real S3, no Temporal server), so
// a retry can be handed exactly the heartbeat an attempt sent before it would have returned.

let client: S3Client;
let source: { name: string; remove(): Promise<void> };
let destination: { name: string; remove(): Promise<void> };
const runs: StreamInput[] = [];

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
  // The activity ran without its workflow: clean up as the workflow does when a run ends.
  for (const input of runs) await new MockActivityEnvironment().run(discardRun, input);
  await source.remove();
  await destination.remove();
});

async function planned(key: string): Promise<StreamInput> {
  const request: ArchiveRequest = {
    source: { bucket: source.name, prefix: 'c/' },
    destination: { bucket: destination.name, key },
    compression: { method: 'store' },
  };
  const statePrefix = `.zipflow/state/${uniqueName('run')}/`;
  await new MockActivityEnvironment().run(planPage, { request, statePrefix, chunk: 0 });
  const input = { request, statePrefix, chunks: 1, partSize: 5 * 1024 * 1024 };
  runs.push(input);
  return input;
}

async function runWithHeartbeats(
  input: StreamInput,
  heartbeatDetails?: StreamCheckpoint,
): Promise<{ result: StreamResult; last?: StreamCheckpoint }> {
  const env = new MockActivityEnvironment(heartbeatDetails ? { heartbeatDetails } : {});
  let last: StreamCheckpoint | undefined;
  env.on('heartbeat', (details: StreamCheckpoint) => (last = details));
  const result = (await env.run(streamArchive, input)) as StreamResult;
  return { result, last };
}

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
  // and the upload the checkpoint names is gone, so the retry fails instead of adopting it.
  const other = { ...first, statePrefix: `.zipflow/state/${uniqueName('run')}/` };
  await assert.rejects(runWithHeartbeats(other, last), (err: unknown) => {
    assert.equal((err as { name?: string }).name, 'NoSuchUpload');
    runs.push(other);
    return true;
  });
});
