import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before } from 'node:test';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { Client } from '@temporalio/client';
import {
  archiveWorkflowId,
  type ArchiveRequest,
  type ArchiveResult,
} from '../../src/shared/request';
import { DEFAULT_UPLOAD_CONCURRENCY } from '../../src/shared/limits';
import { s3, tempBucket, uniqueName, withWorker } from './env';
import { assertSameBytes, getObject, keysUnder, openUploads, readZip, slowText } from './archive';

export const PART_SIZE = 5 * 1024 * 1024;
export const UPLOAD_CONCURRENCY = DEFAULT_UPLOAD_CONCURRENCY; // the requests here leave it out

/**
 * A mixed source under `set/`: large random objects (STORE, several parts each), compressible
 * logs (DEFLATE), small objects read ahead, and an empty one. About `scale` × 30 MiB.
 */
export async function putMixedSource(
  client: S3Client,
  bucket: string,
  scale = 1,
): Promise<Map<string, Buffer>> {
  const objects = new Map<string, Buffer>();
  const add = async (key: string, body: Buffer): Promise<void> => {
    objects.set(key, body);
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
  };
  for (let i = 0; i < 3 * scale; i++) {
    await add(`set/big/${i}.bin`, crypto.randomBytes(6 * 1024 * 1024 + 1000 * i));
    await add(`set/logs/${i}.log`, slowText(i, 3 * 1024 * 1024));
  }
  for (let i = 0; i < 20; i++) {
    const body = i % 2 ? crypto.randomBytes(1024 * (i + 1)) : slowText(i, 512 * (i + 1));
    await add(`set/small/${String(i).padStart(2, '0')}.${i % 2 ? 'bin' : 'txt'}`, body);
  }
  await add('set/empty.txt', Buffer.alloc(0));
  return objects;
}

export interface MixedSource {
  client: S3Client;
  source: string;
  destination: string;
  objects: Map<string, Buffer>;
}

/**
 * Registers hooks that fill a source bucket with putMixedSource (after `setup`, if given) and
 * make a destination bucket, and remove both at the end, then run `teardown` even when the
 * removal fails (a failing `after` hook skips the ones after it). The fields are set once
 * `before` ran.
 */
export function mixedSourceFixture(
  scale = 1,
  setup?: () => Promise<void>,
  teardown?: () => Promise<void>,
): MixedSource {
  const fixture = { objects: new Map() } as MixedSource;
  const buckets: { remove(): Promise<void> }[] = [];
  before(async () => {
    await setup?.();
    fixture.client = await s3();
    const source = await tempBucket(fixture.client, 'src');
    const destination = await tempBucket(fixture.client, 'dst');
    buckets.push(source, destination);
    fixture.source = source.name;
    fixture.destination = destination.name;
    fixture.objects = await putMixedSource(fixture.client, source.name, scale);
  });
  after(async () => {
    try {
      for (const bucket of buckets) await bucket.remove();
    } finally {
      await teardown?.();
    }
  });
  return fixture;
}

export function mixedRequest(source: string, destination: string, key: string): ArchiveRequest {
  return {
    source: { bucket: source, prefix: 'set/' },
    destination: { bucket: destination, key },
    compression: { method: 'auto', level: 6 },
    partSize: PART_SIZE,
  };
}

/** The archive of `request` made by an in-process worker with nothing going wrong. */
export async function referenceArchive(
  temporal: Client,
  request: ArchiveRequest,
): Promise<ArchiveResult> {
  return withWorker({}, (taskQueue) =>
    temporal.workflow.execute('archive', {
      taskQueue,
      workflowId: archiveWorkflowId(request.destination),
      args: [request],
    }),
  );
}

interface Archived {
  key: string;
  result: ArchiveResult;
}

/**
 * The archive equals the reference byte for byte (and in its recorded SHA-256) and holds every
 * source object; the run left no multipart upload and no state objects behind.
 */
export async function assertSameArchive(
  fixture: MixedSource,
  archive: Archived,
  reference: Archived,
): Promise<void> {
  const { client, destination: bucket } = fixture;
  assert.equal(archive.result.sha256, reference.result.sha256);
  const zip = await getObject(client, bucket, archive.key);
  const expected = await getObject(client, bucket, reference.key);
  assertSameBytes(zip, expected, PART_SIZE);
  const entries = await readZip(zip);
  for (const [k, body] of fixture.objects) {
    assert.deepEqual(entries.get(k.slice('set/'.length)), body, k);
  }
  assert.deepEqual(await openUploads(client, bucket), []);
  assert.deepEqual(await keysUnder(client, bucket, '.zipflow/'), []);
}

export function archiveKey(what: string): string {
  return `${uniqueName(what)}.zip`;
}
