import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import crypto from 'node:crypto';
import type { S3Client } from '@aws-sdk/client-s3';
import { PartWriter, UPLOAD_BUDGET, uploadConcurrencyFor } from '../../src/engine/write/parts';
import { createS3Client } from '../../src/s3/client';
import { MultipartSession } from '../../src/s3/multipart';
import { s3, tempBucket } from '../support/env';
import { startFaultProxy, type FaultProxy } from '../support/faultProxy';

const MiB = 1024 * 1024;
const PART = 5 * MiB;
let direct: S3Client;
let bucket: { name: string; remove(): Promise<void> };
let proxy: FaultProxy;
let far: S3Client; // every UploadPart waits 300 ms in the proxy, like a far store's round trips

before(async () => {
  direct = await s3();
  bucket = await tempBucket(direct);
  proxy = await startFaultProxy({
    target: process.env.AWS_ENDPOINT_URL_S3!,
    seed: 0,
    rate: 0,
    stallMs: 0,
    delayFor: (r) => (r.method === 'PUT' && r.url.includes('partNumber=') ? 300 : 0),
  });
  // The SDK reads the endpoint when a client first sends; this file's process keeps the proxy.
  process.env.AWS_ENDPOINT_URL_S3 = proxy.url;
  far = await createS3Client();
});

after(async () => {
  far.destroy();
  await proxy.close();
  await bucket.remove();
});

/** Writes `parts` parts through a PartWriter and returns its concurrency at the end. */
async function upload(parts: number, fixed: number | undefined): Promise<number> {
  const session = await MultipartSession.create(far, { bucket: bucket.name, key: 'a.zip' });
  try {
    const writer = new PartWriter(session, PART, uploadConcurrencyFor(fixed, PART));
    const part = crypto.randomBytes(PART);
    for (let i = 0; i < parts; i++) await writer.write(part);
    await writer.finish();
    return writer.concurrency;
  } finally {
    await session.abort();
  }
}

test('on a far store, parts in flight grow from 4 while the upload gets faster, up to the upload budget', async () => {
  const concurrency = await upload(30, undefined);
  assert.ok(concurrency > 4, `still ${concurrency} parts in flight`);
  assert.ok(concurrency <= UPLOAD_BUDGET / PART, `${concurrency} parts in flight`);
});

test('a request that sets uploadConcurrency keeps it', async () => {
  assert.equal(await upload(16, 3), 3);
});
