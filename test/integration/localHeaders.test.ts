import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import crypto from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import zlib from 'node:zlib';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
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
import { currentStore } from '../support/stores';
import { splitParts } from '../../src/zip';
import { STREAMING_READERS, expectedReport, readWithJavaStream } from '../readers/support';

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
/**
 * Objects over 1 MiB whose CRC-32 S3 stores (a FULL_OBJECT one put whole, a COMPOSITE one
 * uploaded in parts, a compressible one), next to small and empty ones: about 10 parts. (An
 * object with no stored CRC-32 keeps its descriptor: mixed/large.bin.)
 */
const stored = new Map<string, { body: Buffer; checksum: 'put' | 'parts' | 'none' }>([
  ['stored/empty.txt', { body: Buffer.alloc(0), checksum: 'none' }],
  ['stored/full.bin', { body: crypto.randomBytes(8 * 1024 * 1024 + 5), checksum: 'put' }],
  [
    'stored/log.txt',
    { body: Buffer.from('a compressible log line\n'.repeat(100_000)), checksum: 'put' },
  ],
  ['stored/parts.bin', { body: crypto.randomBytes(40 * 1024 * 1024 + 3), checksum: 'parts' }],
  ['stored/small.txt', { body: Buffer.from('small and read whole\n'), checksum: 'none' }],
]);

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
  for (const [key, { body, checksum }] of stored) {
    if (checksum === 'parts') {
      const params = {
        Bucket: source.name,
        Key: key,
        Body: body,
        ChecksumAlgorithm: 'CRC32' as const,
      };
      await new Upload({ client, params, partSize: 5 * 1024 * 1024 }).done();
    } else {
      const algorithm = checksum === 'put' ? ('CRC32' as const) : undefined;
      await client.send(
        new PutObjectCommand({
          Bucket: source.name,
          Key: key,
          Body: body,
          ChecksumAlgorithm: algorithm,
        }),
      );
    }
  }
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

/**
 * Runs `prefix` once uninterrupted and once with a worker SIGKILLed after S3 holds
 * `partsBeforeKill` parts; the resumed archive must equal the uninterrupted one, and a resume
 * redo at most the parts in flight plus one part. Returns both results and the archive.
 */
async function crashAndCompare(
  t: { diagnostic(message: string): void },
  prefix: string,
  extra: Partial<ArchiveRequest>,
  partsBeforeKill: number,
): Promise<{ reference: ArchiveResult; result: ArchiveResult; zip: Buffer }> {
  const { client: temporal, close } = await temporalClient();
  try {
    const referenceKey = `${uniqueName('ref')}.zip`;
    const reference = await withWorker({}, (taskQueue) =>
      temporal.workflow.execute('archive', {
        taskQueue,
        workflowId: archiveWorkflowId({ bucket: destination.name, key: referenceKey }),
        args: [request(prefix, referenceKey, extra)],
      }),
    );
    const key = `${uniqueName('crashed')}.zip`;
    const taskQueue = uniqueName('tq-headers');
    let worker = startWorkerProcess(taskQueue);
    const handle = await temporal.workflow.start('archive', {
      taskQueue,
      workflowId: archiveWorkflowId({ bucket: destination.name, key }),
      args: [request(prefix, key, extra)],
    });
    try {
      await waitUntil(
        `S3 holds ${partsBeforeKill} parts`,
        async () => (await partsHeld(client, destination.name, key)) >= partsBeforeKill,
      );
      await killHard(worker);
      worker = startWorkerProcess(taskQueue);
      const result = (await handle.result()) as ArchiveResult;
      // Every range in flight on the killed worker resumes.
      if (extra.parallel === undefined) assert.equal(result.resumes, 1);
      else assert.ok(result.resumes >= 1, `resumes ${result.resumes}`);
      const zip = await getObject(client, destination.name, key);
      const expected = await getObject(client, destination.name, referenceKey);
      assert.ok(zip.equals(expected), 'the resumed archive equals the uninterrupted one');
      const rework = result.uploadedBytes - result.size;
      t.diagnostic(`size ${result.size}, rework ${rework} bytes, ${result.parts} parts`);
      // A checkpoint inside an entry read whole falls back to its start: one part more at most.
      assert.ok(
        rework <= result.resumes * (UPLOAD_CONCURRENCY + 1) * PART_SIZE,
        `rework ${rework} bytes`,
      );
      assert.deepEqual(await openUploads(client, destination.name), []);
      return { reference, result, zip };
    } finally {
      await killHard(worker);
    }
  } finally {
    await close();
  }
}

test('localHeaders "known" over small objects: a worker SIGKILLed mid-stream resumes to the uninterrupted bytes, rework within the parts in flight plus one entry', async (t) => {
  const { reference, result, zip } = await crashAndCompare(
    t,
    'small/',
    { localHeaders: 'known' },
    4,
  );
  assert.equal(reference.dataDescriptorEntries, 0);
  assert.equal(result.dataDescriptorEntries, 0);
  const entries = await readZip(zip);
  for (const [k, body] of small)
    assert.equal(zlib.crc32(entries.get(k.slice('small/'.length))!), zlib.crc32(body), k);
});

test('objects streamed with the CRC-32 S3 stores in their headers: a worker SIGKILLed inside one resumes (the checkpoint carries that CRC-32) to the uninterrupted bytes', async (t) => {
  const { result, zip } = await crashAndCompare(
    t,
    'stored/',
    { compression: { method: 'store' } },
    2,
  );
  assert.equal(result.dataDescriptorEntries, storedDescriptors('store').length);
  // Every part boundary from the second on lies inside log.txt (from 8 MiB) or parts.bin (to
  // past 50 MiB), both streamed with the stored CRC-32: the resume starts inside one of them.
  const lines = await manifest(result);
  const log = lines.find((m) => m.name === 'log.txt')!;
  const parts = lines.find((m) => m.name === 'parts.bin')!;
  assert.ok(!log.dataDescriptor && !parts.dataDescriptor);
  assert.ok(log.offset < 2 * PART_SIZE && parts.offset + parts.size > 9 * PART_SIZE);
  const entries = await readZip(zip);
  for (const [k, { body }] of stored)
    assert.ok(entries.get(k.slice('stored/'.length))!.equals(body), k);
});

/** Entries of `stored/` that keep a data descriptor under "auto", and why. */
function storedDescriptors(compression: 'auto' | 'store'): string[] {
  return [
    ...(compression === 'auto' ? ['log.txt'] : []), // DEFLATE: its compressed size is unknown
    // SeaweedFS lists no part CRC-32s, so the multipart object's CRC-32 is unknown there.
    ...(currentStore() === 'seaweedfs' ? ['parts.bin'] : []),
  ];
}

/**
 * Every streaming reader reads the archive from a pipe: every entry's name, CRC-32, size. When
 * a STORE entry keeps a descriptor (SeaweedFS's multipart object), ZipInputStream refuses it.
 */
async function assertStreamingReaders(zip: Buffer, lines: ManifestLine[]): Promise<void> {
  const dir = mkdtempSync(path.join(tmpdir(), 'zipflow-local-headers-'));
  try {
    const file = path.join(dir, 'archive.zip');
    writeFileSync(file, zip);
    if (lines.some((m) => m.dataDescriptor && m.size === m.compressedSize && m.size > 0)) {
      await assert.rejects(readWithJavaStream(file), /only DEFLATED entries can have EXT/);
      return;
    }
    const expected = expectedReport(
      lines.map((m) => ({ name: m.name, crc32: parseInt(m.crc32, 16), size: m.size })),
    );
    for (const [name, read] of STREAMING_READERS) {
      const report = await read(file);
      assert.equal(report.count, expected.count, `${name}: entries`);
      assert.equal(report.bytes, expected.bytes, `${name}: bytes`);
      assert.equal(report.digest, expected.digest, `${name}: names, CRC-32s, sizes`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

for (const compression of ['auto', 'store'] as const) {
  test(`compression "${compression}": objects over 1 MiB whose CRC-32 S3 stores (whole or in parts) stream with it in their local headers, checked; the others keep a descriptor; streaming readers read it all`, async () => {
    const key = `${uniqueName(`stored-${compression}`)}.zip`;
    const result = await runArchive(
      request('stored/', key, { compression: { method: compression } }),
    );
    const zip = await getObject(client, destination.name, key);
    const descriptors = storedDescriptors(compression);
    assert.equal(result.dataDescriptorEntries, descriptors.length);
    const lines = await manifest(result);
    assert.equal(lines.length, stored.size);
    for (const m of lines) {
      const { body } = stored.get(`stored/${m.name}`)!;
      assert.equal(m.crc32, zlib.crc32(body).toString(16).padStart(8, '0'), `${m.name}: CRC-32`);
      const header = localHeader(zip, m.offset);
      const expectDescriptor = descriptors.includes(m.name);
      assert.equal(m.dataDescriptor, expectDescriptor, `${m.name}: manifest flag`);
      assert.equal(header.bit3, expectDescriptor, `${m.name}: bit 3`);
      if (!expectDescriptor) {
        assert.equal(header.crc32, m.crc32, `${m.name}: CRC-32 in its local header`);
        assert.equal(header.size, m.size, `${m.name}: size in its local header`);
        assert.equal(header.compressedSize, m.compressedSize, `${m.name}: compressed size`);
      }
    }
    const entries = await readZip(zip);
    for (const [k, { body }] of stored)
      assert.ok(entries.get(k.slice('stored/'.length))!.equals(body), k);
    await assertStreamingReaders(zip, lines);
  });
}

/** Manifest flags, bit 3 and the header's CRC-32 and sizes agree; `descriptors` keep one. */
function assertHeaders(zip: Buffer, lines: ManifestLine[], descriptors: string[]): void {
  for (const m of lines) {
    const header = localHeader(zip, m.offset);
    const expectDescriptor = descriptors.includes(m.name);
    assert.equal(m.dataDescriptor, expectDescriptor, `${m.name}: manifest flag`);
    assert.equal(header.bit3, expectDescriptor, `${m.name}: bit 3`);
    if (expectDescriptor || m.name.endsWith('/')) continue;
    assert.equal(header.crc32, m.crc32, `${m.name}: CRC-32 in its local header`);
    assert.equal(header.size, m.size, `${m.name}: size in its local header`);
  }
}

const STORE: Partial<ArchiveRequest> = { compression: { method: 'store' } };

test('parallel: objects up to 1 MiB have known local headers, ranges cut inside them, and the archive equals the streaming one of the same plan byte for byte; streaming readers read it all', async () => {
  const streamedKey = `${uniqueName('small-streamed')}.zip`;
  const key = `${uniqueName('small-parallel')}.zip`;
  const streamed = await runArchive(request('small/', streamedKey, STORE));
  const result = await runArchive(request('small/', key, { ...STORE, parallel: 3 }));
  assert.equal(result.dataDescriptorEntries, 0);
  const zip = await getObject(client, destination.name, key);
  assert.ok(zip.equals(await getObject(client, destination.name, streamedKey)));
  assert.equal(result.sha256, streamed.sha256);
  const lines = await manifest(result);
  assert.equal(lines.length, small.size);
  assertHeaders(zip, lines, []);
  // Range boundaries fall at part boundaries: inside an entry, whose range made it whole.
  const centralDirectoryOffset = zip.readUInt32LE(zip.length - 22 + 16); // APPNOTE 4.3.16
  const split = splitParts({ centralDirectoryOffset, archiveSize: zip.length }, PART_SIZE, 3);
  const boundaries = split.ranges.slice(1).map((r) => r.start);
  assert.equal(boundaries.length, 2);
  assert.ok(
    boundaries.some((b) => lines.some((m) => m.offset < b && b < m.offset + m.size)),
    `a range boundary (${boundaries.join(', ')}) lies inside an entry`,
  );
  await assertStreamingReaders(zip, lines);
});

test('parallel: an object over 1 MiB keeps its data descriptor (equal to the streaming layout), and localHeaders "descriptor" gives every file one', async () => {
  for (const localHeaders of ['auto', 'descriptor'] as const) {
    const extra: Partial<ArchiveRequest> = { ...STORE, localHeaders };
    const streamedKey = `${uniqueName(`mixed-streamed-${localHeaders}`)}.zip`;
    const key = `${uniqueName(`mixed-parallel-${localHeaders}`)}.zip`;
    await runArchive(request('mixed/', streamedKey, extra));
    const result = await runArchive(request('mixed/', key, { ...extra, parallel: 2 }));
    const zip = await getObject(client, destination.name, key);
    assert.ok(zip.equals(await getObject(client, destination.name, streamedKey)), localHeaders);
    const files = [...mixed.keys()].filter((k) => !k.endsWith('/')).map((k) => k.slice(6));
    const descriptors = localHeaders === 'auto' ? ['large.bin'] : files;
    assert.equal(result.dataDescriptorEntries, descriptors.length);
    assertHeaders(zip, await manifest(result), descriptors);
  }
});

test('parallel over small objects: a worker SIGKILLed mid-range resumes (inside an entry read whole, from its start) to the uninterrupted bytes', async (t) => {
  const { reference, result, zip } = await crashAndCompare(
    t,
    'small/',
    { ...STORE, parallel: 3 },
    4,
  );
  assert.equal(reference.dataDescriptorEntries, 0);
  assert.equal(result.dataDescriptorEntries, 0);
  await assertStreamingReaders(zip, await manifest(result));
});

test('serverSideCopy: the made objects up to 1 MiB have known local headers; copied ones keep a descriptor', async () => {
  const key = `${uniqueName('stored-copy')}.zip`;
  const result = await runArchive(request('stored/', key, { ...STORE, serverSideCopy: true }));
  assert.ok((result.copiedEntries ?? 0) >= 1, 'an object was copied');
  const zip = await getObject(client, destination.name, key);
  const descriptors = ['full.bin', 'log.txt', 'parts.bin'];
  assert.equal(result.dataDescriptorEntries, descriptors.length);
  assertHeaders(zip, await manifest(result), descriptors);
  const entries = await readZip(zip);
  for (const [k, { body }] of stored)
    assert.ok(entries.get(k.slice('stored/'.length))!.equals(body), k);
});
