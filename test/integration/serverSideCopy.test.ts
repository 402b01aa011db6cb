import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, test } from 'node:test';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { WorkflowFailedError, type Client, type WorkflowHandle } from '@temporalio/client';
import {
  archiveWorkflowId,
  type ArchiveRequest,
  type EntryOrder,
  type ArchiveResult,
} from '../../src/shared/request';
import { CountingProxy } from '../support/countingProxy';
import { s3, temporalClient, tempBucket, uniqueName, withWorker } from '../support/env';
import {
  assertSameBytes,
  getObject,
  keysUnder,
  lastStreamProgress,
  openUploads,
  partsHeld,
  readZip,
  waitUntil,
} from '../support/archive';
import { slowStoreFor } from '../support/faultProxy';
import { PART_SIZE } from '../support/reliability';
import { currentStore } from '../support/stores';
import { killHard, startWorkerProcess } from '../support/workerProcess';

const MiB = 1024 * 1024;
let client: S3Client;
let source: Awaited<ReturnType<typeof tempBucket>>;
let destination: Awaited<ReturnType<typeof tempBucket>>;
const objects = new Map<string, Buffer>();
/**
 * Objects the store holds a CRC-32 for and that sit where a copy can place them. SeaweedFS
 * lists no CRC-32 per part of an object uploaded in parts, so there the composite one is
 * streamed (noPartCrc32s).
 */
const copied = [
  'set/a/1.bin',
  'set/a/2.bin',
  ...(currentStore() === 'seaweedfs' ? [] : ['set/c/composite.bin']),
  'set/e/tail.bin',
];

// In listing order: a large object too early to leave a 5 MiB first part (streamed); two large
// ones back to back (the first is staged with the bytes up to the second); more than 5 MiB of
// streamed objects after the second (copied directly); a large object without a CRC-32 (SHA-256
// checksum: streamed); one under 5 MiB; a 12 MiB object uploaded in parts with CRC-32 part
// checksums (COMPOSITE: its first bytes are copied directly, its last 5 MiB staged); a folder
// and an empty file; a large last object (copied directly, the end records streamed after it).
before(async () => {
  client = await s3();
  source = await tempBucket(client, 'src');
  destination = await tempBucket(client, 'dst');
  const put = async (key: string, body: Buffer, algorithm: 'CRC32' | 'SHA256' = 'CRC32') => {
    objects.set(key, body);
    await client.send(
      new PutObjectCommand({
        Bucket: source.name,
        Key: key,
        Body: body,
        ChecksumAlgorithm: algorithm,
      }),
    );
  };
  await put('set/a/0.bin', crypto.randomBytes(6 * MiB + 13));
  await put('set/a/1.bin', crypto.randomBytes(5 * MiB + 777));
  await put('set/a/2.bin', crypto.randomBytes(7 * MiB + 5));
  await put('set/b/0-no-crc.bin', crypto.randomBytes(6 * MiB + 1), 'SHA256');
  await put('set/b/1-four.bin', crypto.randomBytes(4 * MiB));
  for (let i = 0; i < 20; i++) await put(`set/b/2-small-${i}.bin`, crypto.randomBytes(997 * i));
  const composite = crypto.randomBytes(12 * MiB + 3);
  objects.set('set/c/composite.bin', composite);
  await new Upload({
    client,
    params: {
      Bucket: source.name,
      Key: 'set/c/composite.bin',
      Body: composite,
      ChecksumAlgorithm: 'CRC32',
    },
    partSize: 5 * MiB,
  }).done();
  await put('set/d/', Buffer.alloc(0));
  await put('set/d/empty.txt', Buffer.alloc(0));
  await put('set/e/tail.bin', crypto.randomBytes(6 * MiB + 99));
  // A large object right after a small one: its data starts inside the first 5 MiB.
  await put('lead/0.txt', Buffer.from('first'));
  await put('lead/1-big.bin', crypto.randomBytes(13 * MiB + 7));
  await put('lead/2.txt', Buffer.from('last'));
  // Three large objects listed back to back, then six of 2.6 MiB: packed, two small ones go
  // before each large one.
  for (const [i, mib] of [6, 7, 6].entries()) {
    await put(`pack/big-${i}.bin`, crypto.randomBytes(mib * MiB + i));
  }
  for (let i = 0; i < 6; i++) await put(`pack/small-${i}.bin`, crypto.randomBytes(2.6 * MiB));
});

after(async () => {
  await source.remove();
  await destination.remove();
});

/**
 * `entryOrder` "default" leaves it out of the request. The copy runs of `set/` and `lead/`
 * keep the listing order, which their layouts (staged, direct, first-part cases) are made for.
 */
function request(
  key: string,
  serverSideCopy: boolean,
  prefix: string,
  entryOrder: EntryOrder | 'default',
): ArchiveRequest {
  return {
    source: { bucket: source.name, prefix },
    destination: { bucket: destination.name, key },
    compression: { method: 'store' },
    partSize: PART_SIZE,
    // A copy run gives objects over 1 MiB a data descriptor even when S3 stores their CRC-32,
    // which the sequential run would put in the header: both are asked for the descriptor
    // layout to compare bytes (the default is tested in localHeaders.test.ts).
    localHeaders: 'descriptor',
    ...(serverSideCopy ? { serverSideCopy } : {}),
    ...(entryOrder === 'default' ? {} : { entryOrder }),
  };
}

async function sequentialReference(
  temporal: Client,
  prefix = 'set/',
  entryOrder: EntryOrder = 'listing',
): Promise<{ key: string; result: ArchiveResult }> {
  const key = `${uniqueName('sequential')}.zip`;
  const result = await withWorker({}, (taskQueue) =>
    temporal.workflow.execute('archive', {
      taskQueue,
      workflowId: archiveWorkflowId({ bucket: destination.name, key }),
      args: [request(key, false, prefix, entryOrder)],
    }),
  );
  return { key, result };
}

async function assertNothingLeft(): Promise<void> {
  assert.deepEqual(await openUploads(client, destination.name), []);
  assert.deepEqual(await keysUnder(client, destination.name, '.zipflow/'), []);
}

/** Starts a copy run on a worker process whose S3 endpoint is `endpoint`. */
async function onWorkerProcess(
  temporal: Client,
  endpoint: string,
  run: (r: { handle: WorkflowHandle; key: string; restart(): Promise<void> }) => Promise<void>,
  prefix = 'set/',
  entryOrder: EntryOrder | 'default' = 'listing',
): Promise<void> {
  const taskQueue = uniqueName('tq-copy');
  const env = { AWS_ENDPOINT_URL_S3: endpoint };
  let worker = startWorkerProcess(taskQueue, [], { env });
  try {
    const key = `${uniqueName('copy')}.zip`;
    const handle = await temporal.workflow.start('archive', {
      taskQueue,
      workflowId: archiveWorkflowId({ bucket: destination.name, key }),
      args: [request(key, true, prefix, entryOrder)],
    });
    await run({
      handle,
      key,
      async restart() {
        await killHard(worker);
        worker = startWorkerProcess(taskQueue, [], { env });
      },
    });
  } finally {
    await killHard(worker);
  }
}

test('server-side copy: objects with a CRC-32 in the store are copied by it, never read by the worker, and the archive equals the streamed one byte for byte', async (t) => {
  const { client: temporal, close } = await temporalClient();
  const wire = await CountingProxy.start(process.env.AWS_ENDPOINT_URL_S3!);
  t.after(() => wire.close());
  try {
    const reference = await sequentialReference(temporal);
    await onWorkerProcess(temporal, wire.endpoint, async ({ handle, key }) => {
      const result = (await handle.result()) as ArchiveResult;
      const copiedBytes = copied.reduce((n, k) => n + objects.get(k)!.length, 0);
      const total = [...objects]
        .filter(([k]) => k.startsWith('set/'))
        .reduce((n, [, b]) => n + b.length, 0);
      t.diagnostic(
        `${result.parts} parts, ${result.size} bytes, ${result.copiedBytes} copied, worker read ${wire.bytes.read} / sent ${wire.bytes.sent} bytes, ${result.durationMs} ms`,
      );
      const zip = await getObject(client, destination.name, key);
      assertSameBytes(zip, await getObject(client, destination.name, reference.key), PART_SIZE);
      assert.equal(result.copiedBytes, copiedBytes);
      assert.equal(result.copiedEntries, copied.length);
      // Streamed instead: the SHA-256-only object, the one too early for a copied part and,
      // on SeaweedFS, the composite one.
      assert.deepEqual(result.notCopied, {
        noCrc32: 1,
        noPartCrc32s: currentStore() === 'seaweedfs' ? 1 : 0,
        placement: 1,
      });
      assert.equal(result.crc32, reference.result.crc32);
      assert.equal(result.crc32ValidatedBy, 'PARTS_AND_SOURCES');
      assert.equal(result.sha256, undefined, 'the worker never saw the copied bytes');
      assert.equal(result.entries, reference.result.entries);
      assert.equal(
        (await getObject(client, destination.name, result.manifestKey)).toString(),
        (await getObject(client, destination.name, reference.result.manifestKey)).toString(),
      );
      // The worker read and sent only what was not copied (plus requests and state objects).
      const streamed = total - copiedBytes;
      assert.ok(
        wire.bytes.read < streamed + MiB,
        `read ${wire.bytes.read} of ${streamed} streamed`,
      );
      assert.ok(
        wire.bytes.sent < streamed + MiB,
        `sent ${wire.bytes.sent} of ${streamed} streamed`,
      );
      // Progress: entries count once their copies are held; the last signal has the totals.
      assert.deepEqual(await lastStreamProgress(handle), {
        entriesDone: result.entries,
        bytesDone: total,
        partsDone: result.parts,
        currentPart: result.parts,
        resumes: 0,
      });
      await assertNothingLeft();
    });
  } finally {
    await close();
  }
});

test('server-side copy with its worker SIGKILLed mid-run: the copy activity runs again on a new worker, which finds the parts S3 holds, and the archive is byte-identical', async (t) => {
  const { client: temporal, close } = await temporalClient();
  const slowStore = await slowStoreFor(t);
  try {
    const reference = await sequentialReference(temporal);
    await onWorkerProcess(temporal, slowStore.url, async ({ handle, key, restart }) => {
      let held = 0;
      await waitUntil('S3 holds 2 parts of the archive', async () => {
        held = await partsHeld(client, destination.name, key);
        return held >= 2;
      });
      await restart();
      const result = (await handle.result()) as ArchiveResult;
      t.diagnostic(
        `killed with ${held} parts held; resumes ${result.resumes}, ${result.parts} parts`,
      );
      assert.ok(result.resumes >= 1, 'the copy activity ran again on the new worker');
      assertSameBytes(
        await getObject(client, destination.name, key),
        await getObject(client, destination.name, reference.key),
        PART_SIZE,
      );
      assert.equal(result.crc32, reference.result.crc32);
      // The new attempt counts the parts S3 held from the start, and every entry once.
      const last = await lastStreamProgress(handle);
      assert.deepEqual(
        [last.entriesDone, last.partsDone, last.resumes],
        [result.entries, result.parts, result.resumes],
      );
      await assertNothingLeft();
    });
  } finally {
    await close();
  }
});

test('server-side copy with a request it cannot serve (DEFLATE) is refused, naming the field, and leaves nothing', async () => {
  const { client: temporal, close } = await temporalClient();
  try {
    const key = `${uniqueName('refused')}.zip`;
    await assert.rejects(
      withWorker({}, (taskQueue) =>
        temporal.workflow.execute('archive', {
          taskQueue,
          workflowId: archiveWorkflowId({ bucket: destination.name, key }),
          args: [{ ...request(key, true, 'set/', 'default'), compression: { method: 'deflate' } }],
        }),
      ),
      (err: unknown) => {
        assert.ok(err instanceof WorkflowFailedError);
        assert.match(String(err.cause?.message), /serverSideCopy.*compression\.method to "store"/);
        return true;
      },
    );
    await assertNothingLeft();
  } finally {
    await close();
  }
});

test('server-side copy with nothing the store can copy (objects under 5 MiB) streams the archive, with its SHA-256', async () => {
  const key = `${uniqueName('nothing-to-copy')}.zip`;
  const { client: temporal, close } = await temporalClient();
  try {
    const result = (await withWorker({}, (taskQueue) =>
      temporal.workflow.execute('archive', {
        taskQueue,
        workflowId: archiveWorkflowId({ bucket: destination.name, key }),
        args: [request(key, true, 'set/b/2-small-', 'default')],
      }),
    )) as ArchiveResult;
    assert.equal(result.entries, 20);
    assert.equal(result.copiedBytes, undefined);
    assert.equal(result.copiedEntries, 0);
    assert.deepEqual(result.notCopied, { noCrc32: 0, noPartCrc32s: 0, placement: 0 });
    assert.match(result.sha256 ?? '', /^[0-9a-f]{64}$/);
    assert.equal(result.crc32ValidatedBy, 'FULL_OBJECT');
    await assertNothingLeft();
  } finally {
    await close();
  }
});

test('server-side copy cancelled mid-run stops, then leaves no multipart upload (staging ones included) and no state', async (t) => {
  const { client: temporal, close } = await temporalClient();
  const slowStore = await slowStoreFor(t);
  try {
    await onWorkerProcess(temporal, slowStore.url, async ({ handle, key }) => {
      await waitUntil('S3 holds a part of the archive', async () => {
        return (await partsHeld(client, destination.name, key)) >= 1;
      });
      await handle.cancel();
      await assert.rejects(handle.result(), WorkflowFailedError);
      assert.equal((await handle.describe()).status.name, 'CANCELLED');
      await assertNothingLeft();
    });
  } finally {
    await close();
  }
});

test('server-side copy of a large object that starts inside the first 5 MiB: its first bytes are streamed in the first part, the rest copied; byte-identical', async (t) => {
  const { client: temporal, close } = await temporalClient();
  const wire = await CountingProxy.start(process.env.AWS_ENDPOINT_URL_S3!);
  t.after(() => wire.close());
  try {
    const reference = await sequentialReference(temporal, 'lead/');
    await onWorkerProcess(
      temporal,
      wire.endpoint,
      async ({ handle, key }) => {
        const result = (await handle.result()) as ArchiveResult;
        const big = objects.get('lead/1-big.bin')!.length;
        t.diagnostic(`${result.copiedBytes} of ${big} copied; worker read ${wire.bytes.read}`);
        assertSameBytes(
          await getObject(client, destination.name, key),
          await getObject(client, destination.name, reference.key),
          PART_SIZE,
        );
        assert.equal(result.crc32, reference.result.crc32);
        // Everything of the big object after the 5 MiB first part is copied.
        assert.ok(result.copiedBytes! > big - 5 * MiB && result.copiedBytes! < big);
        assert.ok(wire.bytes.read < 6 * MiB, `worker read ${wire.bytes.read} bytes`);
        await assertNothingLeft();
      },
      'lead/',
    );
  } finally {
    await close();
  }
});

test('server-side copy packs by default: smaller objects move between larger ones, so every large one is copied directly, and the archive equals a streamed run of the same order', async (t) => {
  const { client: temporal, close } = await temporalClient();
  const wire = await CountingProxy.start(process.env.AWS_ENDPOINT_URL_S3!);
  t.after(() => wire.close());
  try {
    const reference = await sequentialReference(temporal, 'pack/', 'packed');
    await onWorkerProcess(
      temporal,
      wire.endpoint,
      async ({ handle, key }) => {
        const result = (await handle.result()) as ArchiveResult;
        const zip = await getObject(client, destination.name, key);
        t.diagnostic(
          `${result.parts} parts, ${result.copiedBytes} copied, worker read ${wire.bytes.read}`,
        );
        assertSameBytes(zip, await getObject(client, destination.name, reference.key), PART_SIZE);
        const entries = await readZip(zip);
        for (const [name, bytes] of entries) assert.ok(bytes.equals(objects.get(`pack/${name}`)!));
        assert.deepEqual(
          [...entries.keys()],
          [
            'small-0.bin',
            'small-1.bin',
            'big-0.bin',
            'small-2.bin',
            'small-3.bin',
            'big-1.bin',
            'small-4.bin',
            'small-5.bin',
            'big-2.bin',
          ],
        );
        // Listed as they are, the first large object would start inside the streamed first
        // 5 MiB (and be streamed) and the second would be staged against the third. Packed,
        // all three are copied whole, each between parts of streamed ones: 7 parts.
        const sizeOf = (name: string) => objects.get(`pack/${name}`)!.length;
        const big = ['big-0.bin', 'big-1.bin', 'big-2.bin'].reduce((n, k) => n + sizeOf(k), 0);
        assert.equal(result.copiedBytes, big);
        assert.equal(result.parts, 7);
        const streamed = [0, 1, 2, 3, 4, 5].reduce((n, i) => n + sizeOf(`small-${i}.bin`), 0);
        assert.ok(wire.bytes.read < streamed + MiB, `read ${wire.bytes.read} of ${streamed}`);
        await assertNothingLeft();
      },
      'pack/',
      'default',
    );
  } finally {
    await close();
  }
});
