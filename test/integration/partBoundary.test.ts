import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import crypto from 'node:crypto';
import type { S3Client } from '@aws-sdk/client-s3';
import { CancelledFailure } from '@temporalio/common';
import { ArchiveLayout } from '../../src/zip';
import type { StreamCheckpoint } from '../../src/engine/writers/stream';
import { archiveBuckets, s3, uniqueName } from '../support/env';
import { getObject, readZip } from '../support/archive';
import { StreamRuns } from '../support/streamRuns';

const PART = 5 * 1024 * 1024;
let client: S3Client;
let buckets: { source: string; destination: string; remove(): Promise<void> };
const runs = new StreamRuns();
const bodies = new Map<string, Buffer>();

before(async () => {
  // a.bin's entry (local header, data, data descriptor) ends exactly where part 1 ends.
  const overhead = new ArchiveLayout().add({
    name: 'a.bin',
    size: 0,
    mtime: 0,
    compression: 'store',
  }).end;
  bodies.set('a.bin', crypto.randomBytes(PART - overhead));
  bodies.set('b.bin', crypto.randomBytes(3 * 1024 * 1024));
  bodies.set('c.bin', crypto.randomBytes(4 * 1024 * 1024));
  client = await s3();
  buckets = await archiveBuckets(
    client,
    new Map([...bodies].map(([name, body]) => [`edge/${name}`, body])),
  );
});

after(async () => {
  await runs.discard();
  await buckets.remove();
});

// One part in flight: parts are held in order, so a heartbeat says partsDone 1 before 2. With
// parts in parallel, part 2 may be held first and the checkpoint goes from 0 straight to 2.
const planned = (key: string) =>
  runs.plan({
    source: { bucket: buckets.source, prefix: 'edge/' },
    destination: { bucket: buckets.destination, key },
    compression: { method: 'store' },
    uploadConcurrency: 1,
  });

async function assertEntries(key: string): Promise<Buffer> {
  const zip = await getObject(client, buckets.destination, key);
  const entries = await readZip(zip);
  assert.deepEqual([...entries.keys()], [...bodies.keys()]);
  for (const [name, body] of bodies) assert.ok(entries.get(name)!.equals(body), name);
  return zip;
}

test('an entry that ends exactly at a part boundary keeps its central-directory record', async () => {
  const input = await planned(`${uniqueName('edge')}.zip`);
  const { result } = await runs.stream(input);
  assert.equal(result.entries, 3);
  const zip = await assertEntries(input.request.destination.key);
  assert.equal(zip.length, result.size);
});

test('a retry from the checkpoint at that boundary goes on with the next entry, byte-identical', async () => {
  const reference = await planned(`${uniqueName('edge-ref')}.zip`);
  await runs.stream(reference);
  const input = await planned(`${uniqueName('edge-resumed')}.zip`);
  // The first attempt stops once part 1 is held; its checkpoint is the end of a.bin.
  let atBoundary: StreamCheckpoint | undefined;
  await assert.rejects(
    runs.stream(input, undefined, (details, cancel) => {
      if (details.partsDone === 1 && !atBoundary) {
        atBoundary = details;
        cancel();
      }
    }),
    // Cancelled: as a CancelledFailure, or as the S3 request the cancel aborted.
    (err: unknown) => err instanceof CancelledFailure || (err as Error).name === 'AbortError',
  );
  assert.ok(atBoundary);
  assert.equal(atBoundary.encoder.position, PART);
  assert.equal(atBoundary.encoder.entry, null, 'the checkpoint is between entries');
  const { result } = await runs.stream(input, atBoundary);
  assert.equal(result.resumes, 1);
  const resumed = await assertEntries(input.request.destination.key);
  const expected = await getObject(client, buckets.destination, reference.request.destination.key);
  assert.ok(resumed.equals(expected), 'the resumed archive differs from an uninterrupted one');
});
