import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import crypto from 'node:crypto';
import type { S3Client } from '@aws-sdk/client-s3';
import { archiveBuckets, s3, uniqueName } from '../support/env';
import { getObject, readZip } from '../support/archive';
import { StreamRuns } from '../support/streamRuns';
import { MockActivityEnvironment } from '@temporalio/testing';
import { verifyArchive } from '../../src/activities';
import type { VerificationReport } from '../../src/shared/verification';

// Many small entries in one part: what a heartbeat carries changes only at part boundaries.
const ENTRIES = 400;
let client: S3Client;
let buckets: { source: string; destination: string; remove(): Promise<void> };
const runs = new StreamRuns();

before(async () => {
  client = await s3();
  const objects = new Map<string, Buffer>();
  for (let i = 0; i < ENTRIES; i++)
    objects.set(`tiny/${String(i).padStart(4, '0')}.txt`, crypto.randomBytes(100));
  buckets = await archiveBuckets(client, objects);
});

after(async () => {
  await runs.discard();
  await buckets.remove();
});

let archiveKey: string | undefined;

test('the streaming activity heartbeats per part held, not per entry', async () => {
  const input = await runs.plan({
    source: { bucket: buckets.source, prefix: 'tiny/' },
    destination: { bucket: buckets.destination, key: `${uniqueName('tiny')}.zip` },
    compression: { method: 'store' },
  });
  let heartbeats = 0;
  const { result, last } = await runs.stream(input, undefined, () => {
    heartbeats += 1;
  });
  assert.equal(result.entries, ENTRIES);
  assert.equal(result.parts, 1);
  // The first checkpoint, the part held, and at most a few keep-alive ticks.
  assert.ok(heartbeats <= 6, `${heartbeats} heartbeats for ${ENTRIES} entries in one part`);
  assert.ok(last?.uploadId, 'heartbeats still carry the checkpoint');
  const zip = await readZip(
    await getObject(client, buckets.destination, input.request.destination.key),
  );
  assert.equal(zip.size, ENTRIES);
  archiveKey = input.request.destination.key;
});

test('the verify activity heartbeats its progress at most once a second, not per entry', async () => {
  assert.ok(archiveKey, 'the archive of the test before');
  const env = new MockActivityEnvironment();
  let heartbeats = 0;
  env.on('heartbeat', () => {
    heartbeats += 1;
  });
  const started = Date.now();
  const report: VerificationReport = await env.run(verifyArchive, {
    bucket: buckets.destination,
    key: archiveKey,
  });
  const seconds = (Date.now() - started) / 1000;
  assert.equal(report.ok, true, report.problems.join('\n'));
  assert.equal(report.entries, ENTRIES);
  assert.ok(
    heartbeats >= 1 && heartbeats <= Math.ceil(seconds) + 1,
    `${heartbeats} heartbeats in ${seconds} s for ${ENTRIES} entries`,
  );
});
