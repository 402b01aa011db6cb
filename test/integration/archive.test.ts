import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import crypto from 'node:crypto';
import zlib from 'node:zlib';
import { HeadObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { archiveWorkflowId, type ArchiveRequest } from '../../src/shared/request';
import { runArchive, s3, temporalClient, tempBucket, uniqueName } from '../support/env';
import { getObject, keysUnder, openUploads, readZip } from '../support/archive';
import { currentStore } from '../support/stores';

let client: S3Client;
let source: { name: string; remove(): Promise<void> };
let destination: { name: string; remove(): Promise<void> };
const objects = new Map<string, Buffer>([
  ['data/readme.txt', Buffer.from('hello zipflow\n'.repeat(1000))],
  ['data/nested/deeper/random.bin', crypto.randomBytes(7 * 1024 * 1024 + 123)],
  ['data/nested/empty.txt', Buffer.alloc(0)],
  ['data/ünïcödé/日本語.txt', Buffer.from('unicode names survive')],
  ['data/photo.jpg', crypto.randomBytes(300 * 1024)],
]);

before(async () => {
  client = await s3();
  source = await tempBucket(client, 'src');
  destination = await tempBucket(client, 'dst');
  for (const [key, body] of objects) {
    await client.send(new PutObjectCommand({ Bucket: source.name, Key: key, Body: body }));
  }
  await client.send(
    new PutObjectCommand({ Bucket: source.name, Key: 'other/not-included.txt', Body: 'x' }),
  );
});

after(async () => {
  await source.remove();
  await destination.remove();
});

function request(key: string, extra: Partial<ArchiveRequest> = {}): ArchiveRequest {
  return {
    source: { bucket: source.name, prefix: 'data/' },
    destination: { bucket: destination.name, key },
    partSize: 5 * 1024 * 1024,
    ...extra,
  };
}

test('archives a prefix: every entry equals its source, and size, SHA-256 and CRC-32 describe the object', async () => {
  const key = `${uniqueName('a')}.zip`;
  const result = await runArchive(request(key));
  const zip = await getObject(client, destination.name, key);
  assert.equal(result.size, zip.length);
  assert.equal(result.sha256, crypto.createHash('sha256').update(zip).digest('hex'));
  assert.equal(result.crc32, zlib.crc32(zip).toString(16).padStart(8, '0'));
  assert.equal(
    result.crc32ValidatedBy,
    'FULL_OBJECT',
    `${currentStore()} holds a full-object CRC-32`,
  );
  const head = await client.send(
    new HeadObjectCommand({ Bucket: destination.name, Key: key, ChecksumMode: 'ENABLED' }),
  );
  assert.equal(head.ChecksumType, 'FULL_OBJECT');
  assert.equal(Buffer.from(head.ChecksumCRC32!, 'base64').readUInt32BE(0), zlib.crc32(zip));
  assert.ok(
    result.parts >= 2,
    `a 7 MiB entry with 5 MiB parts needs several parts, got ${result.parts}`,
  );
  assert.equal(result.entries, objects.size);
  const entries = await readZip(zip);
  assert.deepEqual(
    [...entries.keys()].sort(),
    [...objects.keys()].map((k) => k.slice('data/'.length)).sort(),
  );
  for (const [k, body] of objects) assert.deepEqual(entries.get(k.slice('data/'.length)), body, k);
  assert.deepEqual(await openUploads(client, destination.name), []);
  assert.deepEqual(await keysUnder(client, destination.name, '.zipflow/'), []);

  // The manifest agrees with the archive: names, keys, sizes, CRC-32 and offsets.
  assert.equal(result.manifestKey, `${key}.manifest.jsonl`);
  const lines = (await getObject(client, destination.name, result.manifestKey))
    .toString()
    .trim()
    .split('\n');
  const manifest = lines.map(
    (l) =>
      JSON.parse(l) as { name: string; key: string; size: number; crc32: string; offset: number },
  );
  assert.equal(manifest.length, objects.size);
  for (const m of manifest) {
    const body = objects.get(m.key)!;
    assert.equal(m.name, m.key.slice('data/'.length));
    assert.equal(m.size, body.length);
    assert.equal(m.crc32, zlib.crc32(body).toString(16).padStart(8, '0'));
    assert.equal(
      zip.readUInt32LE(m.offset),
      0x04034b50,
      `${m.name}: offset points at its local file header`,
    );
  }
  assert.equal(result.resumes, 0);
  assert.equal(result.uploadedBytes, result.size);
});

test('the same request gives the same archive bytes', async () => {
  const a = await runArchive(request(`${uniqueName('same')}.zip`));
  const b = await runArchive(request(`${uniqueName('same')}.zip`));
  assert.equal(a.sha256, b.sha256);
});

test('an existing destination is refused without overwrite, and replaced with it', async () => {
  const key = `${uniqueName('exists')}.zip`;
  await client.send(new PutObjectCommand({ Bucket: destination.name, Key: key, Body: 'keep me' }));
  await assert.rejects(runArchive(request(key)), (err: unknown) => {
    assert.ok(err instanceof WorkflowFailedError);
    assert.ok(err.cause instanceof ApplicationFailure);
    assert.equal(err.cause.type, 'DestinationExists');
    assert.match(err.cause.message, /overwrite/);
    return true;
  });
  assert.equal((await getObject(client, destination.name, key)).toString(), 'keep me');
  assert.deepEqual(await openUploads(client, destination.name), []);
  const result = await runArchive({
    ...request(key),
    destination: { bucket: destination.name, key, overwrite: true },
  });
  assert.equal((await getObject(client, destination.name, key)).length, result.size);
});

test('an invalid request fails with InvalidRequest naming the field', async () => {
  const bad = request(`${uniqueName('bad')}.zip`, { partSize: 1024 });
  await assert.rejects(runArchive(bad), (err: unknown) => {
    assert.ok(err instanceof WorkflowFailedError && err.cause instanceof ApplicationFailure);
    assert.equal(err.cause.type, 'InvalidRequest');
    assert.match(err.cause.message, /^partSize: /);
    return true;
  });
});

test('an empty source fails with EmptySource and leaves nothing behind', async () => {
  const key = `${uniqueName('empty')}.zip`;
  await assert.rejects(
    runArchive({ ...request(key), source: { bucket: source.name, prefix: 'nothing-here/' } }),
    (err: unknown) => {
      assert.ok(err instanceof WorkflowFailedError && err.cause instanceof ApplicationFailure);
      assert.equal(err.cause.type, 'EmptySource');
      return true;
    },
  );
  assert.deepEqual(await keysUnder(client, destination.name, '.zipflow/'), []);
  assert.deepEqual(await keysUnder(client, destination.name, key), []);
});

test('planning a listing of many pages continues as new and still archives every object', async () => {
  const key = `${uniqueName('pages')}.zip`;
  // Five objects, one per listing page, two pages per workflow run: three runs.
  const result = await runArchive({ ...request(key), planning: { pageSize: 1, pagesPerRun: 2 } });
  assert.equal(result.entries, objects.size);
  const entries = await readZip(await getObject(client, destination.name, key));
  for (const [k, body] of objects) assert.deepEqual(entries.get(k.slice('data/'.length)), body, k);
  const { client: temporal, close } = await temporalClient();
  try {
    const workflowId = archiveWorkflowId({ bucket: destination.name, key });
    const statuses: string[] = [];
    for await (const run of temporal.workflow.list({ query: `WorkflowId = '${workflowId}'` })) {
      statuses.push(run.status.name);
    }
    assert.deepEqual(statuses.sort(), ['COMPLETED', 'CONTINUED_AS_NEW', 'CONTINUED_AS_NEW']);
  } finally {
    await close();
  }
});
