import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import crypto from 'node:crypto';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import {
  ReadAhead,
  readBlocks,
  readLimitsFor,
  type ReadAheadLimits,
} from '../../src/engine/read/readAhead';
import { createS3Client } from '../../src/s3/client';
import { headObject, type ListedObject } from '../../src/s3/objects';
import { SourceChangedError } from '../../src/s3/objectReader';
import { BlockPool, RangeFetch } from '../../src/s3/rangeFetch';
import type { ByteSource } from '../../src/zip';
import { s3, tempBucket } from '../support/env';
import { startFaultProxy, type FaultKind, type ProxiedRequest } from '../support/faultProxy';

const MiB = 1024 * 1024;
const LATENCY_MS = 300;
let direct: S3Client;
let bucket: { name: string; remove(): Promise<void> };
let through: S3Client; // every request passes the proxy, which waits LATENCY_MS
let endpoint: string;
/** GETs seen by the proxy: their Range header and when they arrived. */
let seen: Array<{ range?: string; at: number }> = [];
/** Decides a fault for a request (default none). */
let faultFor: (request: ProxiedRequest) => FaultKind | undefined = () => undefined;
let delayFor: (request: ProxiedRequest) => number = () => 0;
let close: () => Promise<void>;

const body = crypto.randomBytes(6 * MiB + 123);
const small = [0, 1, 2].map((i) => crypto.randomBytes(1000 + i));
const objects: ListedObject[] = [];
/** Ranges of 1 MiB, four in flight, four held: so a 6 MiB object is seven ranges. */
const limits: ReadAheadLimits = {
  bytes: 4 * MiB,
  concurrency: 4,
  rangeSize: MiB,
  count: 32,
  smallObject: 64 * 1024,
};

async function put(key: string, bytes: Buffer): Promise<ListedObject> {
  await direct.send(new PutObjectCommand({ Bucket: bucket.name, Key: key, Body: bytes }));
  const head = await headObject(direct, bucket.name, key);
  assert.ok(head);
  return head;
}

before(async () => {
  direct = await s3();
  bucket = await tempBucket(direct);
  objects.push(await put('large.bin', body));
  for (const [i, bytes] of small.entries()) objects.push(await put(`small-${i}.bin`, bytes));
  const proxy = await startFaultProxy({
    target: process.env.AWS_ENDPOINT_URL_S3!,
    seed: 0,
    rate: 0,
    stallMs: 0,
    latencyMs: LATENCY_MS,
    delayFor: (r) => delayFor(r),
    faultFor: (r) => {
      if (r.method === 'GET') seen.push({ range: r.range, at: Date.now() });
      return faultFor(r);
    },
  });
  endpoint = proxy.url;
  // The SDK reads the endpoint when a client first sends; this file's process keeps the proxy.
  process.env.AWS_ENDPOINT_URL_S3 = endpoint;
  through = await createS3Client();
  close = () => proxy.close();
});

after(async () => {
  through.destroy();
  await close();
  await bucket.remove();
});

/** The seven 1 MiB ranges of `body` (the last one open-ended: it runs to the object's end). */
const RANGES = Array.from({ length: 7 }, (_, i) =>
  i < 6 ? `bytes=${i * MiB}-${(i + 1) * MiB - 1}` : `bytes=${i * MiB}-`,
);

async function drain(source: ByteSource): Promise<Buffer> {
  const chunks: Uint8Array[] = [];
  // Copies: a chunk is valid until the next one is asked for (pooled blocks).
  for await (const chunk of source) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks);
}

/** Starts a test's count, once requests of the one before (held LATENCY_MS) have arrived. */
async function reset(): Promise<void> {
  await new Promise((r) => setTimeout(r, LATENCY_MS + 100));
  seen = [];
  faultFor = () => undefined;
  delayFor = () => 0;
}

test('a large object is read as concurrent ranged GETs, assembled in order, then the small ones after it', async () => {
  await reset();
  const controller = new AbortController();
  const readAhead = new ReadAhead(through, bucket.name, objects, 0, controller.signal, { limits });
  try {
    assert.deepEqual(await drain(await readAhead.open(0)), body);
    for (const [i, bytes] of small.entries())
      assert.deepEqual(await drain(await readAhead.open(i + 1)), bytes);
  } finally {
    readAhead.close();
  }
  const ranged = seen.filter((r) => r.range !== undefined).map((r) => r.range!);
  assert.deepEqual([...ranged].sort(), [...RANGES].sort());
  // Four ranges were sent before the first could have come back.
  const first = seen[0].at;
  const together = seen.filter((r) => r.range !== undefined && r.at - first < LATENCY_MS / 2);
  assert.equal(together.length, 4, JSON.stringify(seen));
});

test('the read side holds no more than its budget: unread ranges stop further GETs', async () => {
  await reset();
  const controller = new AbortController();
  const readAhead = new ReadAhead(through, bucket.name, objects, 0, controller.signal, {
    limits: { ...limits, bytes: 2 * MiB, concurrency: 8 },
  });
  try {
    const source = await readAhead.open(0);
    await new Promise((r) => setTimeout(r, 3 * LATENCY_MS));
    assert.equal(seen.length, 2, 'two ranges of 1 MiB fill a 2 MiB budget');
    assert.deepEqual(await drain(source), body);
    assert.equal(seen.filter((r) => r.range).length, 7, 'every range once');
  } finally {
    readAhead.close();
  }
});

test('with the default limits, GETs are not bound to the ranges the budget holds: the short last range of each object is sent beside the next 4 MiB ones', async () => {
  await reset();
  // Four objects of 4 MiB + 1000 bytes: a 4 MiB range and a 1000-byte one each.
  const bodies = [0, 1, 2, 3].map(() => crypto.randomBytes(4 * MiB + 1000));
  const listed: ListedObject[] = [];
  for (const [i, bytes] of bodies.entries()) listed.push(await put(`tail-${i}.bin`, bytes));
  seen = [];
  const saved = process.env.ZIPFLOW_READ_CONCURRENCY;
  delete process.env.ZIPFLOW_READ_CONCURRENCY;
  const defaults = readLimitsFor({
    source: { bucket: bucket.name, prefix: '' },
    destination: { bucket: bucket.name, key: 'x.zip' },
  });
  if (saved !== undefined) process.env.ZIPFLOW_READ_CONCURRENCY = saved;
  const controller = new AbortController();
  // A client of its own: `through` has met the proxy's latency in the tests before, and ranges
  // halve on a path that slow (rangeSize.test.ts); a new client starts at 4 MiB.
  const fresh = await createS3Client();
  const readAhead = new ReadAhead(fresh, bucket.name, listed, 0, controller.signal, {
    limits: defaults,
  });
  try {
    for (const [i, bytes] of bodies.entries())
      assert.ok((await drain(await readAhead.open(i))).equals(bytes), `object ${i}`);
  } finally {
    readAhead.close();
    fresh.destroy();
  }
  const ranged = seen.filter((r) => r.range !== undefined);
  assert.deepEqual(
    ranged.map((r) => r.range).sort(),
    bodies.flatMap(() => [`bytes=0-${4 * MiB - 1}`, `bytes=${4 * MiB}-`]).sort(),
  );
  // Sent before the first could have come back: 3 × (4 MiB + 1000 bytes) and no more within
  // the 16 MiB budget, as six GETs (a budget of four ranges alone would have allowed four).
  const first = ranged[0].at;
  assert.equal(ranged.filter((r) => r.at - first < LATENCY_MS / 2).length, 6, JSON.stringify(seen));
});

test('a read resumed inside an object starts its first range at that byte, and the rest stay aligned', async () => {
  await reset();
  const controller = new AbortController();
  const readAhead = new ReadAhead(through, bucket.name, objects, 0, controller.signal, { limits });
  const from = 2 * MiB + 4321;
  try {
    assert.deepEqual(await drain(await readAhead.open(0, from)), body.subarray(from));
  } finally {
    readAhead.close();
  }
  const ranged = seen.filter((r) => r.range !== undefined).map((r) => r.range);
  assert.deepEqual(ranged.slice(0, 2), [
    `bytes=${from}-${3 * MiB - 1}`,
    `bytes=${3 * MiB}-${4 * MiB - 1}`,
  ]);
});

test('a range whose body breaks is read on by itself, from the byte it reached', async () => {
  await reset();
  let cut = false;
  faultFor = (r) => {
    if (!cut && r.range === `bytes=${2 * MiB}-${3 * MiB - 1}`) {
      cut = true;
      return 'resetResponse';
    }
    return undefined;
  };
  const controller = new AbortController();
  const readAhead = new ReadAhead(through, bucket.name, objects.slice(0, 1), 0, controller.signal, {
    limits,
  });
  try {
    assert.deepEqual(await drain(await readAhead.open(0)), body);
  } finally {
    readAhead.close();
  }
  assert.ok(cut);
  const ranges = RANGES;
  const ranged = seen.filter((r) => r.range).map((r) => r.range!);
  for (const range of ranges) assert.equal(ranged.filter((r) => r === range).length, 1, range);
  // One request more than the seven ranges: the broken one, from inside it to its own end.
  const retries = ranged.filter((r) => !ranges.includes(r));
  assert.equal(retries.length, 1, JSON.stringify(ranged));
  const [start, end] = retries[0].slice('bytes='.length).split('-').map(Number);
  assert.ok(start > 2 * MiB && start < 3 * MiB && end === 3 * MiB - 1, retries[0]);
});

test('a source replaced between two of its ranges is a SourceChangedError, not a mix of versions', async () => {
  await reset();
  const key = 'changing.bin';
  const listed = await put(key, body);
  // Ranges after the first reach the store only after the object has been replaced.
  delayFor = (r) => (r.range && !r.range.startsWith('bytes=0-') ? 1500 : 0);
  const controller = new AbortController();
  const readAhead = new ReadAhead(through, bucket.name, [listed], 0, controller.signal, { limits });
  try {
    const chunks = ((await readAhead.open(0)) as AsyncIterable<Uint8Array>)[Symbol.asyncIterator]();
    assert.equal((await chunks.next()).done, false, 'the first range arrives');
    await put(key, crypto.randomBytes(body.length));
    await assert.rejects(
      (async () => {
        for (let r = await chunks.next(); !r.done; r = await chunks.next());
      })(),
      (err: unknown) =>
        err instanceof SourceChangedError && err.key === key && err.reason === 'changed',
    );
  } finally {
    readAhead.close();
  }
});

test('a range is read into pooled blocks as it comes, and the next range reuses them once it is released', async () => {
  await reset();
  const pool = new BlockPool(256 * 1024);
  const version = { bucket: bucket.name, ...objects[0] };
  const read = async (
    from: number,
    to: number,
  ): Promise<{ bytes: Buffer; blocks: Set<ArrayBufferLike> }> => {
    const range = new RangeFetch(direct, version, from, to, undefined, pool);
    await range.done;
    const chunks: Buffer[] = [];
    const blocks = new Set<ArrayBufferLike>();
    for (let chunk = range.take(); chunk; chunk = range.take()) {
      chunks.push(Buffer.from(chunk));
      blocks.add(chunk.buffer);
    }
    assert.ok(range.ended);
    range.release();
    return { bytes: Buffer.concat(chunks), blocks };
  };
  const first = await read(0, MiB);
  assert.ok(first.bytes.equals(body.subarray(0, MiB)));
  assert.equal(first.blocks.size, 4, 'a MiB is four blocks of 256 KiB');
  const second = await read(MiB, 2 * MiB);
  assert.ok(second.bytes.equals(body.subarray(MiB, 2 * MiB)));
  assert.deepEqual(second.blocks, first.blocks, 'the same four blocks, filled again');
});

test("the readers of an attempt share its pool: a second plan chunk's reader reuses the first one's blocks", async () => {
  await reset();
  const blocks = readBlocks();
  const made: number[] = [];
  for (let reader = 0; reader < 2; reader++) {
    const readAhead = new ReadAhead(direct, bucket.name, objects, 0, new AbortController().signal, {
      limits,
      blocks,
    });
    try {
      const source = await readAhead.open(0);
      // Both readers fill their whole budget before it is drained, so each needs the most
      // blocks it can (how many a reader holds at once otherwise depends on timing).
      await new Promise((r) => setTimeout(r, 500));
      assert.ok((await drain(source)).equals(body));
    } finally {
      readAhead.close();
    }
    made.push(blocks.allocated);
  }
  assert.ok(made[0] > 0, 'the ranges went through the pool');
  assert.equal(made[1], made[0], 'no new blocks for the second reader');
});
