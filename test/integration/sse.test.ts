import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, test } from 'node:test';
import { HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { DEV_KMS_KEY_NAME } from '../../src/client/dev/stack';
import type { ArchiveRequest } from '../../src/shared/request';
import { archiveBuckets, runArchive, s3, uniqueName } from '../support/env';
import { getObject, openUploads, readZip } from '../support/archive';

// The dev stack starts MinIO with a static KMS key (MINIO_KMS_SECRET_KEY), so both kinds of
// server-side encryption are real here: the archive is stored encrypted and read back.

let client: S3Client;
let buckets: { source: string; destination: string; remove(): Promise<void> };
const objects = new Map<string, Buffer>([
  ['in/big.bin', crypto.randomBytes(6 * 1024 * 1024 + 17)],
  ['in/notes.txt', Buffer.from('server-side encryption\n'.repeat(500))],
]);

before(async () => {
  client = await s3();
  buckets = await archiveBuckets(client, objects);
});

after(() => buckets.remove());

async function archiveWith(
  serverSideEncryption: NonNullable<ArchiveRequest['destination']['serverSideEncryption']>,
): Promise<{ key: string; zip: Buffer }> {
  const key = `${uniqueName('sse')}.zip`;
  const result = await runArchive({
    source: { bucket: buckets.source, prefix: 'in/' },
    destination: { bucket: buckets.destination, key, serverSideEncryption },
    partSize: 5 * 1024 * 1024,
  });
  assert.ok(result.parts >= 2, 'several parts: SSE applies to a real multipart upload');
  const zip = await getObject(client, buckets.destination, key);
  assert.equal(zip.length, result.size);
  assert.equal(result.sha256, crypto.createHash('sha256').update(zip).digest('hex'));
  const entries = await readZip(zip);
  for (const [k, body] of objects) assert.deepEqual(entries.get(k.slice('in/'.length)), body, k);
  assert.deepEqual(await openUploads(client, buckets.destination), []);
  // MinIO validates the full-object CRC-32 (and per-part CRCs) under SSE as well.
  assert.equal(result.crc32ValidatedBy, 'FULL_OBJECT');
  return { key, zip };
}

test('SSE-S3 (AES256): the archive and its manifest are stored encrypted; the archive reads back intact', async () => {
  const { key } = await archiveWith({ type: 'AES256' });
  for (const k of [key, `${key}.manifest.jsonl`]) {
    const head = await client.send(new HeadObjectCommand({ Bucket: buckets.destination, Key: k }));
    assert.equal(head.ServerSideEncryption, 'AES256', k);
  }
});

test('SSE-KMS with a named key: the archive and its manifest are stored under that key; the archive reads back intact', async () => {
  const { key } = await archiveWith({ type: 'aws:kms', kmsKeyId: DEV_KMS_KEY_NAME });
  for (const k of [key, `${key}.manifest.jsonl`]) {
    const head = await client.send(new HeadObjectCommand({ Bucket: buckets.destination, Key: k }));
    assert.equal(head.ServerSideEncryption, 'aws:kms', k);
    assert.match(head.SSEKMSKeyId ?? '', new RegExp(`${DEV_KMS_KEY_NAME}$`), k);
  }
});
