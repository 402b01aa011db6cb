import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import crypto from 'node:crypto';
import { HeadBucketCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import {
  FAR_FIRST_BYTE_MS,
  ReadAhead,
  readLimitsFor,
  type ReadAheadLimits,
} from '../../src/engine/read/readAhead';
import { createS3Client } from '../../src/s3/client';
import { headObject, type ListedObject } from '../../src/s3/objects';
import { s3, tempBucket } from '../support/env';
import { startFaultProxy, type FaultProxy } from '../support/faultProxy';

const MiB = 1024 * 1024;
let setup: S3Client;
let bucket: { name: string; remove(): Promise<void> };
const objects: ListedObject[] = [];
const bodies: Buffer[] = [];
const proxies: FaultProxy[] = [];

before(async () => {
  setup = await s3();
  bucket = await tempBucket(setup);
  for (let i = 0; i < 6; i++) {
    const key = `large-${i}.bin`;
    const body = crypto.randomBytes(9 * MiB);
    await setup.send(new PutObjectCommand({ Bucket: bucket.name, Key: key, Body: body }));
    objects.push((await headObject(setup, bucket.name, key))!);
    bodies.push(body);
  }
});

after(async () => {
  await Promise.all(proxies.map((p) => p.close()));
  await bucket.remove();
});

/** A client whose requests go through a proxy answering after `latencyMs`, and its GETs' ranges by key. */
async function clientBehind(
  latencyMs: number,
): Promise<{ client: S3Client; ranges: Map<string, number[]> }> {
  const ranges = new Map<string, number[]>();
  const proxy = await startFaultProxy({
    target: process.env.AWS_ENDPOINT_URL_S3!,
    seed: 0,
    rate: 0,
    stallMs: 0,
    latencyMs,
    delayFor: (request) => {
      // The last range of an object is open-ended (bytes=N-): every object is 9 MiB.
      const range = /^bytes=(\d+)-(\d*)$/.exec(request.range ?? '');
      const key = decodeURIComponent(request.url.split('?')[0].split('/').pop()!);
      if (request.method === 'GET' && range) {
        if (!ranges.has(key)) ranges.set(key, []);
        const end = range[2] === '' ? 9 * MiB : Number(range[2]) + 1;
        ranges.get(key)!.push(end - Number(range[1]));
      }
      return 0;
    },
  });
  proxies.push(proxy);
  const saved = process.env.AWS_ENDPOINT_URL_S3;
  process.env.AWS_ENDPOINT_URL_S3 = proxy.url;
  try {
    const client = await createS3Client();
    // The SDK resolves its endpoint on the first request: this client keeps the proxy.
    await client.send(new HeadBucketCommand({ Bucket: bucket.name }));
    return { client, ranges };
  } finally {
    process.env.AWS_ENDPOINT_URL_S3 = saved;
  }
}

async function readAll(client: S3Client, limits?: ReadAheadLimits): Promise<void> {
  const readAhead = new ReadAhead(client, bucket.name, objects, 0, new AbortController().signal, {
    limits,
  });
  try {
    for (const [i, expected] of bodies.entries()) {
      const chunks: Uint8Array[] = [];
      // Copies: a chunk is valid until the next one is asked for (pooled blocks).
      for await (const chunk of await readAhead.open(i)) chunks.push(Buffer.from(chunk));
      assert.deepEqual(Buffer.concat(chunks), expected, objects[i].key);
    }
  } finally {
    readAhead.close();
  }
}

test('ranges halve to 2 MiB once the GETs of a path all take FAR_FIRST_BYTE_MS or more to answer', async () => {
  const far = await clientBehind(FAR_FIRST_BYTE_MS + 20);
  await readAll(far.client);
  // The first objects are cut before any GET has answered: 4 MiB. The last ones after the
  // answers came, each at least the proxy's delay: 2 MiB.
  assert.deepEqual(far.ranges.get(objects[0].key), [4 * MiB, 4 * MiB, MiB]);
  assert.deepEqual(far.ranges.get(objects[5].key), [2 * MiB, 2 * MiB, 2 * MiB, 2 * MiB, MiB]);
});

test('a request’s readRangeSize is kept on a far path: every object in ranges of that size', async () => {
  const far = await clientBehind(FAR_FIRST_BYTE_MS + 20);
  const limits = readLimitsFor({
    source: { bucket: bucket.name, prefix: '' },
    destination: { bucket: bucket.name, key: 'unused.zip' },
    readRangeSize: 3 * MiB,
  });
  await readAll(far.client, limits);
  for (const object of objects) {
    assert.deepEqual(far.ranges.get(object.key), [3 * MiB, 3 * MiB, 3 * MiB], object.key);
  }
});
