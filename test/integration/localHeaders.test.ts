import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import crypto from 'node:crypto';
import zlib from 'node:zlib';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import {
  archiveWorkflowId,
  type ArchiveRequest,
  type ArchiveResult,
} from '../../src/shared/request';
import { runArchive, s3, temporalClient, tempBucket, uniqueName, withWorker } from '../support/env';
import {
  getObject,
  keysUnder,
  openUploads,
  partsHeld,
  readZip,
  waitUntil,
} from '../support/archive';
import { PART_SIZE, UPLOAD_CONCURRENCY } from '../support/reliability';
import { killHard, startWorkerProcess } from '../support/workerProcess';

let client: S3Client;
let source: { name: string; remove(): Promise<void> };
let destination: { name: string; remove(): Promise<void> };
const mixed = new Map<string, Buffer>([
  ['mixed/notes.txt', Buffer.from('deflated and known\n'.repeat(2000))],
  ['mixed/photo.jpg', crypto.randomBytes(200 * 1024)],
  ['mixed/empty.txt', Buffer.alloc(0)],
  ['mixed/folder/', Buffer.alloc(0)],
  ['mixed/exactly-1MiB.bin', crypto.randomBytes(1024 * 1024)],
  ['mixed/large.bin', crypto.randomBytes(1024 * 1024 + 1)],
]);
/** Small objects only: every entry is read whole, over about 22 parts. */
const small = new Map<string, Buffer>();

before(async () => {
  client = await s3();
  source = await tempBucket(client, 'src');
  destination = await tempBucket(client, 'dst');
  for (let i = 0; i < 120; i++) {
    const body =
      i % 4 === 0
        ? Buffer.from(`line ${i} of a compressible log\n`.repeat(20_000 + i))
        : crypto.randomBytes(900 * 1024 + i * 997);
    small.set(`small/${String(i).padStart(3, '0')}-${i % 4 === 0 ? 'log.txt' : 'blob.bin'}`, body);
  }
  for (const [key, body] of [...mixed, ...small])
    await client.send(new PutObjectCommand({ Bucket: source.name, Key: key, Body: body }));
});

after(async () => {
  await source.remove();
  await destination.remove();
});

function request(prefix: string, key: string, extra: Partial<ArchiveRequest> = {}): ArchiveRequest {
  return {
    source: { bucket: source.name, prefix },
    destination: { bucket: destination.name, key },
    partSize: PART_SIZE,
    ...extra,
  };
}

interface ManifestLine {
  name: string;
  crc32: string;
  size: number;
  compressedSize: number;
  offset: number;
  dataDescriptor: boolean;
}

async function manifest(result: ArchiveResult): Promise<ManifestLine[]> {
  const text = (await getObject(client, destination.name, result.manifestKey)).toString();
  return text
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as ManifestLine);
}

/** Bit 3 and the CRC-32 and sizes of the local header at `offset` (APPNOTE 4.3.7). */
function localHeader(
  zip: Buffer,
  offset: number,
): { bit3: boolean; crc32: string; compressedSize: number; size: number } {
  assert.equal(zip.readUInt32LE(offset), 0x04034b50);
  return {
    bit3: (zip.readUInt16LE(offset + 6) & 0x08) !== 0,
    crc32: zip
      .readUInt32LE(offset + 14)
      .toString(16)
      .padStart(8, '0'),
    compressedSize: zip.readUInt32LE(offset + 18),
    size: zip.readUInt32LE(offset + 22),
  };
}

test('by default, objects up to 1 MiB have CRC-32 and sizes in their local headers and no data descriptor; larger ones keep one, counted in the result and flagged in the manifest', async () => {
  const key = `${uniqueName('auto')}.zip`;
  const result = await runArchive(request('mixed/', key));
  const zip = await getObject(client, destination.name, key);
  assert.equal(result.dataDescriptorEntries, 1);
  const lines = await manifest(result);
  assert.equal(lines.length, mixed.size);
  for (const m of lines) {
    const header = localHeader(zip, m.offset);
    const expectDescriptor = m.name === 'large.bin';
    assert.equal(m.dataDescriptor, expectDescriptor, `${m.name}: manifest flag`);
    assert.equal(header.bit3, expectDescriptor, `${m.name}: bit 3`);
    if (!expectDescriptor && !m.name.endsWith('/')) {
      assert.equal(header.crc32, m.crc32, `${m.name}: CRC-32 in its local header`);
      assert.equal(header.size, m.size, `${m.name}: size in its local header`);
      assert.equal(header.compressedSize, m.compressedSize, `${m.name}: compressed size`);
    }
  }
  assert.ok(
    lines.find((m) => m.name === 'notes.txt')!.compressedSize <
      lines.find((m) => m.name === 'notes.txt')!.size,
    'the small text is deflated (auto) and still has a known header',
  );
  const entries = await readZip(zip);
  for (const [k, body] of mixed)
    if (!k.endsWith('/')) assert.deepEqual(entries.get(k.slice('mixed/'.length)), body, k);
});

test('localHeaders "descriptor" gives every file a data descriptor, as before', async () => {
  const key = `${uniqueName('descriptor')}.zip`;
  const result = await runArchive(request('mixed/', key, { localHeaders: 'descriptor' }));
  const zip = await getObject(client, destination.name, key);
  const files = [...mixed.keys()].filter((k) => !k.endsWith('/')).length;
  assert.equal(result.dataDescriptorEntries, files);
  for (const m of await manifest(result)) {
    assert.equal(localHeader(zip, m.offset).bit3, !m.name.endsWith('/'), m.name);
    assert.equal(m.dataDescriptor, !m.name.endsWith('/'), m.name);
  }
});

test('localHeaders "known" fails at planning with LocalHeaderUnknown naming an object over 1 MiB, and leaves nothing', async () => {
  const key = `${uniqueName('known')}.zip`;
  await assert.rejects(runArchive(request('mixed/', key, { localHeaders: 'known' })), (err) => {
    assert.ok(err instanceof WorkflowFailedError && err.cause instanceof ApplicationFailure);
    assert.equal(err.cause.type, 'LocalHeaderUnknown');
    assert.match(err.cause.message, /mixed\/large\.bin/);
    assert.match(err.cause.message, /"auto"/);
    return true;
  });
  assert.deepEqual(await openUploads(client, destination.name), []);
  assert.deepEqual(await keysUnder(client, destination.name, '.zipflow/'), []);
  assert.deepEqual(await keysUnder(client, destination.name, key), []);
});

test('localHeaders "known" over small objects: a worker SIGKILLed mid-stream resumes to the uninterrupted bytes, rework within the parts in flight plus one entry', async (t) => {
  const { client: temporal, close } = await temporalClient();
  try {
    const referenceKey = `${uniqueName('known-ref')}.zip`;
    const reference = await withWorker({}, (taskQueue) =>
      temporal.workflow.execute('archive', {
        taskQueue,
        workflowId: archiveWorkflowId({ bucket: destination.name, key: referenceKey }),
        args: [request('small/', referenceKey, { localHeaders: 'known' })],
      }),
    );
    assert.equal(reference.dataDescriptorEntries, 0);
    const key = `${uniqueName('known-crashed')}.zip`;
    const taskQueue = uniqueName('tq-known');
    let worker = startWorkerProcess(taskQueue);
    const handle = await temporal.workflow.start('archive', {
      taskQueue,
      workflowId: archiveWorkflowId({ bucket: destination.name, key }),
      args: [request('small/', key, { localHeaders: 'known' })],
    });
    try {
      await waitUntil(
        'S3 holds 4 parts',
        async () => (await partsHeld(client, destination.name, key)) >= 4,
      );
      await killHard(worker);
      worker = startWorkerProcess(taskQueue);
      const result = (await handle.result()) as ArchiveResult;
      assert.equal(result.resumes, 1);
      const zip = await getObject(client, destination.name, key);
      const expected = await getObject(client, destination.name, referenceKey);
      assert.ok(zip.equals(expected), 'the resumed archive equals the uninterrupted one');
      assert.equal(result.dataDescriptorEntries, 0);
      const rework = result.uploadedBytes - result.size;
      t.diagnostic(`size ${result.size}, rework ${rework} bytes, ${result.parts} parts`);
      // A checkpoint inside an entry read whole falls back to its start: one part more at most.
      assert.ok(rework <= (UPLOAD_CONCURRENCY + 1) * PART_SIZE, `rework ${rework} bytes`);
      const entries = await readZip(zip);
      for (const [k, body] of small)
        assert.equal(zlib.crc32(entries.get(k.slice('small/'.length))!), zlib.crc32(body), k);
      assert.deepEqual(await openUploads(client, destination.name), []);
    } finally {
      await killHard(worker);
    }
  } finally {
    await close();
  }
});
