import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import {
  archiveWorkflowId,
  type ArchiveRequest,
  type ArchiveResult,
} from '../../src/shared/request';
import { DEFAULT_UPLOAD_CONCURRENCY } from '../../src/shared/limits';
import { DEFAULT_READ_AHEAD } from '../../src/engine/read/readAhead';
import { s3, temporalClient, tempBucket, uniqueName } from '../support/env';
import { getObject, keysUnder, openUploads } from '../support/archive';
import { killHard, startWorkerProcess } from '../support/workerProcess';
import { ALL_READERS, expectedReport } from '../readers/support';

const MiB = 1024 * 1024;
const HEAP_LIMIT_MIB = 128;
let client: S3Client;
let source: { name: string; remove(): Promise<void> };
let destination: { name: string; remove(): Promise<void> };
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'zipflow-scale-'));

before(async () => {
  client = await s3();
  source = await tempBucket(client, 'src');
  destination = await tempBucket(client, 'dst');
});

after(async () => {
  await source.remove();
  await destination.remove();
  fs.rmSync(scratch, { recursive: true, force: true });
});

function rssMiB(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = new RegExp(`${field}:\\s+(\\d+) kB`).exec(status);
  return Number(match![1]) / 1024;
}

interface Memory {
  /** VmHWM: the process's peak, start-up (workflow bundling) included. */
  peakMiB: number;
  /** Highest RSS sampled in the first and in the second half of the run. */
  firstHalfMiB: number;
  secondHalfMiB: number;
}

/** Runs the workflow on a worker in its own process, sampling its memory as it works. */
async function archiveInWorkerProcess(
  request: ArchiveRequest,
): Promise<{ result: ArchiveResult } & Memory> {
  const { client: temporal, close } = await temporalClient();
  const taskQueue = uniqueName('tq-scale');
  // A capped V8 heap: a worker that kept O(entries) state would run out of it, and without the
  // cap the collector lets garbage grow the heap, which hides what the stream really holds.
  const worker = startWorkerProcess(taskQueue, [`--max-old-space-size=${HEAP_LIMIT_MIB}`]);
  const samples: number[] = [];
  const sampler = setInterval(() => samples.push(rssMiB(worker.pid!, 'VmRSS')), 100);
  try {
    const result = (await temporal.workflow.execute('archive', {
      taskQueue,
      workflowId: archiveWorkflowId(request.destination),
      args: [request],
    })) as ArchiveResult;
    clearInterval(sampler);
    const half = Math.floor(samples.length / 2);
    return {
      result,
      peakMiB: rssMiB(worker.pid!, 'VmHWM'),
      firstHalfMiB: Math.max(...samples.slice(0, half)),
      secondHalfMiB: Math.max(...samples.slice(half)),
    };
  } finally {
    clearInterval(sampler);
    await killHard(worker);
    await close();
  }
}

/**
 * What DESIGN's invariant 1 lets a worker hold for the stream: part size × (upload
 * concurrency + the part being filled) + read-ahead. Between the two halves of a run, RSS may
 * differ by at most this much.
 */
function inFlightMiB(partSizeMiB: number): number {
  return partSizeMiB * (DEFAULT_UPLOAD_CONCURRENCY + 1) + DEFAULT_READ_AHEAD.bytes / MiB;
}

function memoryLine(m: Memory): string {
  return `worker RSS max ${m.firstHalfMiB.toFixed(0)} MiB in the first half, ${m.secondHalfMiB.toFixed(0)} MiB in the second; VmHWM ${m.peakMiB.toFixed(0)} MiB`;
}

async function download(key: string): Promise<string> {
  const file = path.join(scratch, path.basename(key));
  const out = await client.send(new GetObjectCommand({ Bucket: destination.name, Key: key }));
  await pipeline(out.Body as Readable, fs.createWriteStream(file));
  return file;
}

/** Every independent reader lists the entries the manifest names, with their CRCs and sizes. */
async function assertReadersAgree(file: string, manifestKey: string): Promise<void> {
  const lines = (await getObject(client, destination.name, manifestKey))
    .toString()
    .trim()
    .split('\n');
  const manifest = lines.map((l) => JSON.parse(l) as { name: string; crc32: string; size: number });
  const expected = expectedReport(
    manifest.map((m) => ({ name: m.name, crc32: parseInt(m.crc32, 16), size: m.size })),
  );
  for (const [reader, read] of ALL_READERS) {
    const report = await read(file);
    assert.equal(report.count, expected.count, `${reader}: entry count`);
    // unzip -t verifies every CRC but reports no byte total.
    if (!Number.isNaN(report.bytes)) assert.equal(report.bytes, expected.bytes, `${reader}: bytes`);
    if (report.digest !== undefined)
      assert.equal(report.digest, expected.digest, `${reader}: names, CRCs and sizes`);
  }
}

async function putMany(keys: Array<[string, Buffer]>, concurrency = 64): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < keys.length) {
        const [key, body] = keys[next++];
        await client.send(new PutObjectCommand({ Bucket: source.name, Key: key, Body: body }));
      }
    }),
  );
}

test('slow: 70,000 objects make one ZIP64 archive that every reader accepts, with worker memory bounded', async (t) => {
  const objects: Array<[string, Buffer]> = [];
  for (let i = 0; i < 70_000; i++) {
    const size = (i * 7919) % 2048;
    objects.push([
      `many/${String(Math.floor(i / 1000)).padStart(2, '0')}/ob-${i}.txt`,
      crypto.randomBytes(size),
    ]);
  }
  const seeded = Date.now();
  await putMany(objects);
  t.diagnostic(
    `seeded ${objects.length} objects in ${((Date.now() - seeded) / 1000).toFixed(1)} s`,
  );
  const key = `${uniqueName('many')}.zip`;
  const started = Date.now();
  const { result, ...memory } = await archiveInWorkerProcess({
    source: { bucket: source.name, prefix: 'many/' },
    destination: { bucket: destination.name, key },
    compression: { method: 'store' },
  });
  const seconds = (Date.now() - started) / 1000;
  t.diagnostic(
    `70,000 entries: ${result.size} bytes, ${result.parts} parts in ${seconds.toFixed(1)} s (${(70_000 / seconds).toFixed(0)} objects/s); ${memoryLine(memory)}`,
  );
  assert.equal(result.entries, 70_000);
  // Bounded, not O(entries): the run finished inside the capped heap, and the second half
  // holds no more than the first plus what DESIGN allows in flight.
  assert.ok(memory.secondHalfMiB <= memory.firstHalfMiB + inFlightMiB(16), memoryLine(memory));
  await assertReadersAgree(await download(key), result.manifestKey);
  assert.deepEqual(await openUploads(client, destination.name), []);
  assert.deepEqual(await keysUnder(client, destination.name, '.zipflow/'), []);
});

test('slow: an entry over 4 GiB in an archive over 4 GiB is valid for every reader', async (t) => {
  const big = 4 * 1024 * MiB + 3 * MiB + 17;
  const block = crypto.randomBytes(MiB);
  async function* bigBody(): AsyncGenerator<Buffer> {
    for (let sent = 0; sent < big; sent += block.length)
      yield block.subarray(0, Math.min(block.length, big - sent));
  }
  await new Upload({
    client,
    params: { Bucket: source.name, Key: 'large/huge.bin', Body: Readable.from(bigBody()) },
    partSize: 64 * MiB,
    queueSize: 4,
  }).done();
  await putMany([
    ['large/a.txt', Buffer.from('small before')],
    ['large/z.txt', Buffer.from('small after')],
  ]);
  const key = `${uniqueName('large')}.zip`;
  const started = Date.now();
  const { result, ...memory } = await archiveInWorkerProcess({
    source: { bucket: source.name, prefix: 'large/' },
    destination: { bucket: destination.name, key },
    compression: { method: 'store' },
    partSize: 64 * MiB,
  });
  const seconds = (Date.now() - started) / 1000;
  t.diagnostic(
    `${(result.size / 2 ** 30).toFixed(2)} GiB archive in ${seconds.toFixed(1)} s (${(result.size / 1e6 / seconds).toFixed(0)} MB/s); ${memoryLine(memory)}`,
  );
  assert.ok(result.size > 4 * 1024 * MiB);
  assert.equal(result.entries, 3);
  // Memory follows the parts in flight (64 MiB each here), not the 4 GiB streamed.
  assert.ok(memory.secondHalfMiB <= memory.firstHalfMiB + inFlightMiB(64), memoryLine(memory));
  const file = await download(key);
  try {
    await assertReadersAgree(file, result.manifestKey);
  } finally {
    fs.rmSync(file, { force: true });
  }
});
