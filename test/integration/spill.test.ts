import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import crypto from 'node:crypto';
import type { S3Client } from '@aws-sdk/client-s3';
import { archiveBuckets, s3, uniqueName } from '../support/env';
import { getObject, readZip } from '../support/archive';
import { startFaultProxy, type FaultProxy } from '../support/faultProxy';
import { StreamRuns } from '../support/streamRuns';

const HOLD_MS = 4_000; // below the S3 client's 8 s socket timeout: a slow store, not a fault
let client: S3Client;
let buckets: { source: string; destination: string; remove(): Promise<void> };
let proxy: FaultProxy;
const runs = new StreamRuns();
const bodies = new Map<string, Buffer>();
/** When each request reached the proxy, and when the first spill chunk's PUT was answered. */
const seen: { at: number; method: string; url: string }[] = [];
let firstSpillAnswered = 0;

before(async () => {
  for (let i = 0; i < 6; i++) bodies.set(`${i}.bin`, crypto.randomBytes(4 * 1024 * 1024 + i));
  client = await s3();
  buckets = await archiveBuckets(
    client,
    new Map([...bodies].map(([name, body]) => [`spill/${name}`, body])),
  );
  proxy = await startFaultProxy({
    target: process.env.AWS_ENDPOINT_URL_S3!,
    seed: 0,
    rate: 0,
    stallMs: 0,
    delayFor: ({ method, url }) => {
      seen.push({ at: Date.now(), method, url });
      if (method === 'PUT' && url.includes('/cd/00000000')) {
        firstSpillAnswered = Date.now() + HOLD_MS;
        return HOLD_MS;
      }
      return 0;
    },
  });
  // The SDK reads the endpoint when a client first sends: the activity's clients use the proxy.
  process.env.AWS_ENDPOINT_URL_S3 = proxy.url;
});

after(async () => {
  await runs.discard();
  await proxy.close();
  await buckets.remove();
});

test('a slow spill write at a part boundary does not hold up the stream: later parts upload meanwhile', async () => {
  const input = await runs.plan({
    source: { bucket: buckets.source, prefix: 'spill/' },
    destination: { bucket: buckets.destination, key: `${uniqueName('spill')}.zip` },
    compression: { method: 'store' },
  });
  const { result } = await runs.stream(input);
  assert.ok(firstSpillAnswered > 0, 'the first spill chunk was written');
  const partsMeanwhile = seen.filter(
    (r) => r.method === 'PUT' && r.url.includes('x-id=UploadPart') && r.at < firstSpillAnswered,
  );
  assert.ok(
    partsMeanwhile.length >= 2,
    `${partsMeanwhile.length} parts were sent while the spill write was held`,
  );
  const entries = await readZip(
    await getObject(client, buckets.destination, input.request.destination.key),
  );
  assert.equal(entries.size, bodies.size);
  for (const [name, body] of bodies) assert.ok(entries.get(name)!.equals(body), name);
  assert.equal(result.entries, bodies.size);
});
