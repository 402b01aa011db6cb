import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import zlib from 'node:zlib';
import { after, before, test } from 'node:test';
import {
  DeleteObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  type ChecksumAlgorithm,
  type S3Client,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { sourceCrc32 } from '../../src/s3/checksums';
import { SourceChangedError } from '../../src/s3/objectReader';
import type { ListedObject } from '../../src/s3/objects';
import { s3, tempBucket } from '../support/env';
import { currentStore } from '../support/stores';

const MiB = 1024 * 1024;
let client: S3Client;
let bucket: Awaited<ReturnType<typeof tempBucket>>;

before(async () => {
  client = await s3();
  bucket = await tempBucket(client, 'crc');
});

after(async () => {
  await bucket.remove();
});

async function put(key: string, body: Buffer, algorithm?: ChecksumAlgorithm): Promise<void> {
  await client.send(
    new PutObjectCommand({
      Bucket: bucket.name,
      Key: key,
      Body: body,
      ChecksumAlgorithm: algorithm,
    }),
  );
}

/** The object as a listing records it. */
async function listed(key: string): Promise<ListedObject> {
  const out = await client.send(new HeadObjectCommand({ Bucket: bucket.name, Key: key }));
  return {
    key,
    size: out.ContentLength!,
    etag: out.ETag!,
    lastModified: out.LastModified!.getTime(),
  };
}

/** Asserts `promise` rejects with a SourceChangedError for `key` and `reason`. */
async function assertSourceChanged(
  promise: Promise<unknown>,
  key: string,
  reason: 'changed' | 'missing',
): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    const e = err as { name?: string; message?: string; $metadata?: { httpStatusCode?: number } };
    assert.ok(
      err instanceof SourceChangedError,
      `expected SourceChangedError, got ${e?.name}: ${e?.message} (HTTP ${e?.$metadata?.httpStatusCode})`,
    );
    assert.equal(err.key, key);
    assert.equal(err.reason, reason);
    return true;
  });
}

test('an object put with a CRC-32 checksum: its FULL_OBJECT CRC-32', async () => {
  const body = crypto.randomBytes(1 * MiB + 17);
  await put('full.bin', body, 'CRC32');
  assert.deepEqual(await sourceCrc32(client, bucket.name, await listed('full.bin')), {
    crc32: zlib.crc32(body),
  });
});

test('an object uploaded in parts with CRC-32 part checksums (COMPOSITE): the part CRCs combined; on a store that lists no part CRC-32s (SeaweedFS), "noPartCrc32s"', async () => {
  const body = crypto.randomBytes(12 * MiB + 3);
  await new Upload({
    client,
    params: { Bucket: bucket.name, Key: 'composite.bin', Body: body, ChecksumAlgorithm: 'CRC32' },
    partSize: 5 * MiB,
  }).done();
  const object = await listed('composite.bin');
  // It really is a multipart object (3 parts), not one put: the combining path is taken.
  assert.match(object.etag, /-3"?$/);
  // SeaweedFS keeps the COMPOSITE value only: no part of it has a CRC-32 of its own.
  assert.deepEqual(
    await sourceCrc32(client, bucket.name, object),
    currentStore() === 'seaweedfs' ? { none: 'noPartCrc32s' } : { crc32: zlib.crc32(body) },
  );
});

test('an object with a SHA-256 checksum only: "noCrc32"', async () => {
  await put('sha.bin', crypto.randomBytes(64 * 1024), 'SHA256');
  assert.deepEqual(await sourceCrc32(client, bucket.name, await listed('sha.bin')), {
    none: 'noCrc32',
  });
});

test('an object overwritten after it was listed: SourceChangedError "changed"', async () => {
  // HeadObject with IfMatch answers 412 without a body (a HEAD response has none): the error
  // must still be told apart from a transient one, by its status if not by its name.
  await put('changed.bin', crypto.randomBytes(4096), 'CRC32');
  const object = await listed('changed.bin');
  await put('changed.bin', crypto.randomBytes(4096), 'CRC32');
  await assertSourceChanged(sourceCrc32(client, bucket.name, object), 'changed.bin', 'changed');
});

test('an object deleted after it was listed: SourceChangedError "missing"', async () => {
  await put('deleted.bin', crypto.randomBytes(4096), 'CRC32');
  const object = await listed('deleted.bin');
  await client.send(new DeleteObjectCommand({ Bucket: bucket.name, Key: 'deleted.bin' }));
  await assertSourceChanged(sourceCrc32(client, bucket.name, object), 'deleted.bin', 'missing');
});
