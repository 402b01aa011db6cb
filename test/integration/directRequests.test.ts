import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import crypto from 'node:crypto';
import zlib from 'node:zlib';
import { DeleteObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { sourceCrc32 } from '../../src/s3/checksums';
import { createS3Client } from '../../src/s3/client';
import { headObject } from '../../src/s3/objects';
import { directRequestCounts } from '../../src/s3/directRequests';
import { MultipartSession } from '../../src/s3/multipart';
import { readObject, SourceChangedError } from '../../src/s3/objectReader';
import { s3, tempBucket } from '../support/env';

let setup: S3Client;
let bucket: { name: string; remove(): Promise<void> };

before(async () => {
  setup = await s3();
  bucket = await tempBucket(setup);
});

after(async () => {
  await bucket.remove();
});

async function bytesOf(body: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of body) chunks.push(chunk);
  return Buffer.concat(chunks);
}

/** Keys whose path encoding differs from the key: spaces, reserved and non-ASCII characters. */
const KEYS = [
  'plain.bin',
  "sp ace/(x)!*'~.bin",
  'a+b=c&d?e#f%g;h,i:j@k$l.bin',
  'deep/a/b/c~d.bin',
  '雪/ключ/ü.bin',
];

test('after the first request of a bucket, GetObject goes direct and reads the same bytes, for keys of every kind', async () => {
  const client = await createS3Client();
  const bodies = new Map<string, Buffer>();
  for (const key of KEYS) {
    const body = crypto.randomBytes(100_000 + bodies.size);
    bodies.set(key, body);
    await setup.send(new PutObjectCommand({ Bucket: bucket.name, Key: key, Body: body }));
  }
  for (const key of KEYS) {
    const body = bodies.get(key)!;
    const object = { bucket: bucket.name, key, size: body.length };
    assert.deepEqual(await bytesOf(await readObject(client, object)), body, key);
    const ranged = await bytesOf(await readObject(client, object, { from: 17, to: 60_017 }));
    assert.deepEqual(ranged, body.subarray(17, 60_017), `${key}, a range`);
  }
  const counts = directRequestCounts(client);
  // The first GET taught the bucket's endpoint; every later one went direct, none fell back.
  assert.equal(counts.direct, 2 * KEYS.length - 1);
  assert.equal(counts.viaSdk, 0);
});

test('a source changed or deleted after it was listed fails as SourceChangedError, through the SDK', async () => {
  const client = await createS3Client();
  const key = 'changing.bin';
  await setup.send(new PutObjectCommand({ Bucket: bucket.name, Key: key, Body: 'first' }));
  const first = { bucket: bucket.name, key };
  assert.equal((await bytesOf(await readObject(client, first))).toString(), 'first');
  await setup.send(new PutObjectCommand({ Bucket: bucket.name, Key: key, Body: 'later' }));
  await assert.rejects(
    async () =>
      bytesOf(
        await readObject(client, { bucket: bucket.name, key, size: 5, etag: '"0123456789abcdef"' }),
      ),
    (err: unknown) => err instanceof SourceChangedError && err.reason === 'changed',
  );
  await setup.send(new DeleteObjectCommand({ Bucket: bucket.name, Key: key }));
  await assert.rejects(
    async () =>
      bytesOf(await readObject(client, { bucket: bucket.name, key, size: 5, etag: '"x"' })),
    (err: unknown) => err instanceof SourceChangedError && err.reason === 'missing',
  );
  // Both were first tried direct (412, 404), then sent again through the SDK for its error.
  assert.deepEqual(directRequestCounts(client), { direct: 0, viaSdk: 2 });
});

test('UploadPart goes direct with its CRC-32 checked by the store; a wrong one is still refused', async () => {
  const client = await createS3Client();
  const key = 'parts/uploaded ü.bin';
  const session = await MultipartSession.create(client, { bucket: bucket.name, key });
  const parts = [crypto.randomBytes(5 * 1024 * 1024), crypto.randomBytes(1234)];
  await session.uploadPart(1, parts[0]);
  await session.uploadPart(2, parts[1], zlib.crc32(parts[1]));
  assert.deepEqual(directRequestCounts(client), { direct: 2, viaSdk: 0 });
  // A CRC-32 that is not the body's: refused by the store on the direct attempt and again
  // through the SDK, whose error the caller gets.
  await assert.rejects(session.uploadPart(3, parts[1], zlib.crc32(parts[0])));
  assert.equal(directRequestCounts(client).viaSdk, 1);
  await session.complete(await session.listParts(), { overwrite: true });
  const read = await bytesOf(await readObject(client, { bucket: bucket.name, key }));
  assert.deepEqual(read, Buffer.concat(parts));
});

test('HeadObject for a stored CRC-32 goes direct; a changed source still fails as SourceChangedError', async () => {
  const client = await createS3Client();
  const bodies = [crypto.randomBytes(3000), crypto.randomBytes(4000)];
  const listed = [];
  for (const [i, body] of bodies.entries()) {
    const key = `crc/stored ${i}.bin`;
    await setup.send(
      new PutObjectCommand({
        Bucket: bucket.name,
        Key: key,
        Body: body,
        ChecksumAlgorithm: 'CRC32',
      }),
    );
    listed.push((await headObject(setup, bucket.name, key))!);
  }
  for (const [i, object] of listed.entries())
    assert.deepEqual(await sourceCrc32(client, bucket.name, object), {
      crc32: zlib.crc32(bodies[i]),
    });
  assert.deepEqual(directRequestCounts(client), { direct: 1, viaSdk: 0 });
  await assert.rejects(
    sourceCrc32(client, bucket.name, { ...listed[0], etag: '"0123456789abcdef"' }),
    (err: unknown) => err instanceof SourceChangedError && err.reason === 'changed',
  );
  assert.deepEqual(directRequestCounts(client), { direct: 1, viaSdk: 1 });
});

test('with ZIPFLOW_S3_DIRECT=off every request goes through the SDK', async (t) => {
  process.env.ZIPFLOW_S3_DIRECT = 'off';
  t.after(() => delete process.env.ZIPFLOW_S3_DIRECT);
  const client = await createS3Client();
  const key = 'sdk-only.bin';
  const body = crypto.randomBytes(5000);
  await setup.send(new PutObjectCommand({ Bucket: bucket.name, Key: key, Body: body }));
  for (let i = 0; i < 3; i++)
    assert.deepEqual(await bytesOf(await readObject(client, { bucket: bucket.name, key })), body);
  assert.deepEqual(directRequestCounts(client), { direct: 0, viaSdk: 0 });
});
