import assert from 'node:assert/strict';
import { test } from 'node:test';
import crypto from 'node:crypto';
import zlib from 'node:zlib';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { StoredCrcLookups } from '../../src/engine/read/storedCrcs';
import type { ListedObject } from '../../src/s3/objects';
import { s3, tempBucket } from '../support/env';

test('stored CRC-32s are asked a few objects ahead of the entry being encoded, and each answer is its own object’s', async (t) => {
  const client = await s3();
  const bucket = await tempBucket(client, 'crcs');
  t.after(() => bucket.remove());
  const bodies = Array.from({ length: 12 }, () => crypto.randomBytes(1024 + crypto.randomInt(512)));
  const objects: ListedObject[] = [];
  for (const [i, body] of bodies.entries()) {
    const key = `o${String(i).padStart(2, '0')}`;
    const put = await client.send(
      new PutObjectCommand({
        Bucket: bucket.name,
        Key: key,
        Body: body,
        ChecksumAlgorithm: 'CRC32',
      }),
    );
    objects.push({ key, size: body.length, etag: put.ETag!, lastModified: 0 });
  }
  // The HeadObject requests the lookups send, by key, in the order they are sent (as the HTTP
  // handler sees them: through the SDK or direct).
  const heads: string[] = [];
  const handler = client.config.requestHandler as unknown as {
    handle(request: { method: string; path: string }, options?: unknown): Promise<unknown>;
  };
  const handle = handler.handle.bind(handler);
  handler.handle = (request, options) => {
    if (request.method === 'HEAD') heads.push(request.path.split('/').pop()!);
    return handle(request, options);
  };
  // o05 is left out, as an object that will not be stored would be.
  const lookups = new StoredCrcLookups(client, bucket.name, objects, (o) => o.key !== 'o05');

  const first = await lookups.crc32Of(0);
  assert.deepEqual(first, { crc32: zlib.crc32(bodies[0]) });
  assert.deepEqual(
    [...heads].sort(),
    ['o00', 'o01', 'o02', 'o03', 'o04', 'o06', 'o07', 'o08'],
    'asking for the first sends the lookups of the next eight wanted objects at once',
  );
  for (let i = 1; i < objects.length; i++) {
    if (i === 5) continue;
    assert.deepEqual(await lookups.crc32Of(i), { crc32: zlib.crc32(bodies[i]) }, objects[i].key);
  }
  assert.equal(heads.length, 11, 'each wanted object is asked about once');
  assert.ok(!heads.includes('o05'));
});
