import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import crypto from 'node:crypto';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { ReadAhead } from '../../src/engine/read/readAhead';
import { createS3Client, s3Retries } from '../../src/s3/client';
import { headObject, type ListedObject } from '../../src/s3/objects';
import type { ByteSource } from '../../src/zip';
import { s3, tempBucket } from '../support/env';
import { startFaultProxy, type FaultProxy } from '../support/faultProxy';

const LATENCY_MS = 800;
let direct: S3Client;
let bucket: { name: string; remove(): Promise<void> };
let proxy: FaultProxy;
let slow: S3Client; // every request waits LATENCY_MS in the proxy
const bodies = [0, 1, 2].map(() => crypto.randomBytes(2 * 1024 * 1024 + 17));
const objects: ListedObject[] = [];

before(async () => {
  direct = await s3();
  bucket = await tempBucket(direct);
  for (const [i, body] of bodies.entries()) {
    const key = `large-${i}.bin`;
    await direct.send(new PutObjectCommand({ Bucket: bucket.name, Key: key, Body: body }));
    const head = await headObject(direct, bucket.name, key);
    assert.ok(head);
    objects.push(head);
  }
  proxy = await startFaultProxy({
    target: process.env.AWS_ENDPOINT_URL_S3!,
    seed: 0,
    rate: 0,
    stallMs: 0,
    latencyMs: LATENCY_MS,
  });
  // The SDK reads the endpoint when a client first sends; this file's process keeps the proxy.
  process.env.AWS_ENDPOINT_URL_S3 = proxy.url;
  slow = await createS3Client();
});

after(async () => {
  slow.destroy();
  await proxy.close();
  await bucket.remove();
});

async function drain(source: ByteSource): Promise<Buffer> {
  const chunks: Uint8Array[] = [];
  // Copies: a chunk is valid until the next one is asked for (pooled blocks).
  for await (const chunk of source) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks);
}

const timed = async <T>(work: Promise<T>): Promise<[T, number]> => {
  const started = Date.now();
  const value = await work;
  return [value, Date.now() - started];
};

test('the GET of the next large object is sent while the entry before it is read, so its latency is hidden', async () => {
  const controller = new AbortController();
  const readAhead = new ReadAhead(slow, bucket.name, objects, 0, controller.signal);
  try {
    const [first, firstMs] = await timed(readAhead.open(0).then(drain));
    assert.ok(firstMs >= LATENCY_MS, `the first read took ${firstMs} ms`);
    assert.deepEqual(first, bodies[0]);
    await new Promise((r) => setTimeout(r, LATENCY_MS + 200)); // the entry's encoding
    const [second, secondMs] = await timed(readAhead.open(1).then(drain));
    assert.ok(secondMs < LATENCY_MS / 2, `the second read waited ${secondMs} ms`);
    assert.deepEqual(second, bodies[1]);
  } finally {
    readAhead.close();
  }
  assert.equal(s3Retries(slow), 0);
});
