import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import crypto from 'node:crypto';
import { DeleteObjectCommand, HeadObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { CentralDirectorySpill } from '../../src/engine/write/centralDirectory';
import { archiveBuckets, s3, uniqueName } from '../support/env';
import { getObject, readZip } from '../support/archive';
import { startFaultProxy, type FaultProxy } from '../support/faultProxy';
import { StreamRuns } from '../support/streamRuns';

const HOLD_MS = 4_000; // below the S3 client's 8 s socket timeout: a slow store, not a fault
let client: S3Client;
let buckets: { source: string; destination: string; remove(): Promise<void> };
let proxy: FaultProxy;
const runs = new StreamRuns();
const bodies = new Map<string, Buffer>();
/** When each request reached the proxy, and when the first spill chunk's PUT was answered. */
const seen: { at: number; method: string; url: string }[] = [];
let firstSpillAnswered = 0;
/** Called when a held spill PUT reaches the proxy. */
let onHeldSpill: () => void = () => {};
/** Spill chunks under this prefix: the cd PUT fails, the manifest PUT is answered late. */
const FAILING = 'failing-spill/';
const FAILING_MANIFEST_MS = 1_500;
/** Spill chunks under this prefix are answered late when read (a far store). */
const SLOW_READ = 'slow-read-spill/';
const SLOW_READ_MS = 400;
/** Extra latency for reading the source objects (so a run is still streaming when cancelled). */
let readDelayMs = 0;

before(async () => {
  for (let i = 0; i < 6; i++) bodies.set(`${i}.bin`, crypto.randomBytes(4 * 1024 * 1024 + i));
  client = await s3();
  buckets = await archiveBuckets(
    client,
    new Map([...bodies].map(([name, body]) => [`spill/${name}`, body])),
  );
  proxy = await startFaultProxy({
    target: process.env.AWS_ENDPOINT_URL_S3!,
    seed: 0,
    rate: 0,
    stallMs: 0,
    delayFor: ({ method, url }) => {
      seen.push({ at: Date.now(), method, url });
      if (method === 'GET' && url.includes('/spill/')) return readDelayMs;
      if (method === 'PUT' && url.includes(`${FAILING}manifest/`)) return FAILING_MANIFEST_MS;
      if (method === 'GET' && url.includes(SLOW_READ)) return SLOW_READ_MS;
      if (method === 'PUT' && url.includes('/cd/00000000') && !url.includes(FAILING)) {
        firstSpillAnswered = Date.now() + HOLD_MS;
        onHeldSpill();
        return HOLD_MS;
      }
      return 0;
    },
    faultFor: ({ method, url }) =>
      method === 'PUT' && url.includes(`${FAILING}cd/`) ? 'internalError' : undefined,
  });
  // The SDK reads the endpoint when a client first sends: the activity's clients use the proxy.
  process.env.AWS_ENDPOINT_URL_S3 = proxy.url;
});

after(async () => {
  await runs.discard();
  await proxy.close();
  await buckets.remove();
});

test('a slow spill write at a part boundary does not hold up the stream: later parts upload meanwhile', async () => {
  const input = await runs.plan({
    source: { bucket: buckets.source, prefix: 'spill/' },
    destination: { bucket: buckets.destination, key: `${uniqueName('spill')}.zip` },
    compression: { method: 'store' },
  });
  const { result } = await runs.stream(input);
  assert.ok(firstSpillAnswered > 0, 'the first spill chunk was written');
  const partsMeanwhile = seen.filter(
    (r) => r.method === 'PUT' && r.url.includes('x-id=UploadPart') && r.at < firstSpillAnswered,
  );
  assert.ok(
    partsMeanwhile.length >= 2,
    `${partsMeanwhile.length} parts were sent while the spill write was held`,
  );
  const entries = await readZip(
    await getObject(client, buckets.destination, input.request.destination.key),
  );
  assert.equal(entries.size, bodies.size);
  for (const [name, body] of bodies) assert.ok(entries.get(name)!.equals(body), name);
  assert.equal(result.entries, bodies.size);
});

test('a spill chunk whose cd PUT fails is reported failed only once its manifest PUT has ended too', async () => {
  // No retries: the cd PUT fails at once, while the manifest PUT is still held.
  const direct = new S3Client({
    endpoint: proxy.url,
    region: process.env.AWS_REGION ?? 'us-east-1',
    forcePathStyle: true,
    maxAttempts: 1,
  });
  const prefix = `.zipflow/state/${uniqueName('spill')}/${FAILING}`;
  const spill = new CentralDirectorySpill(direct, buckets.destination, prefix);
  try {
    spill.add(Buffer.from('record'), '{"name":"a"}');
    const started = Date.now();
    await assert.rejects(spill.flushUpTo(1), /InternalError|internal error/i);
    const failedAfter = Date.now() - started;
    assert.ok(
      failedAfter >= FAILING_MANIFEST_MS - 100,
      `failed after ${failedAfter} ms, before the held manifest PUT was answered`,
    );
    // The manifest PUT had ended: it is there now, and nothing of this chunk is still writing.
    await direct.send(
      new HeadObjectCommand({ Bucket: buckets.destination, Key: `${prefix}manifest/00000000` }),
    );
    await spill.settled();
  } finally {
    await client.send(
      new DeleteObjectCommand({ Bucket: buckets.destination, Key: `${prefix}manifest/00000000` }),
    );
    direct.destroy();
  }
});

test('an attempt that ends while a spill chunk is being written ends after that write, not before', async () => {
  const input = await runs.plan({
    source: { bucket: buckets.source, prefix: 'spill/' },
    destination: { bucket: buckets.destination, key: `${uniqueName('spill-cancel')}.zip` },
    compression: { method: 'store' },
  });
  let cancel: (() => void) | undefined;
  // Cancelled 100 ms into the held (4 s) write of its first spill chunk, while the next
  // objects are still being read.
  onHeldSpill = () => setTimeout(() => cancel?.(), 100);
  readDelayMs = 1_000;
  try {
    const outcome = await runs
      .stream(input, undefined, (_details, cancelAttempt) => {
        cancel ??= cancelAttempt;
      })
      .then(
        () => 'completed',
        (err: unknown) => err,
      );
    const endedAt = Date.now();
    assert.notEqual(outcome, 'completed', 'the attempt was cancelled');
    assert.ok(
      endedAt >= firstSpillAnswered,
      `the attempt ended ${firstSpillAnswered - endedAt} ms before its spill write was answered`,
    );
  } finally {
    onHeldSpill = () => {};
    readDelayMs = 0;
  }
});

test('spilled chunks are read back in order: from memory when this attempt wrote them, else several GETs at once', async () => {
  const prefix = `.zipflow/state/${uniqueName('spill')}/${SLOW_READ}`;
  // Through the proxy, which sees (and delays) the reads.
  const proxied = new S3Client({
    endpoint: proxy.url,
    region: process.env.AWS_REGION ?? 'us-east-1',
    forcePathStyle: true,
  });
  const writer = new CentralDirectorySpill(proxied, buckets.destination, prefix);
  const chunks = 6;
  for (let i = 0; i < chunks; i++) writer.add(Buffer.from(`record ${i};`), `{"name":"${i}"}`);
  for (let i = 1; i <= chunks; i++) await writer.flushUpTo(i);
  const gets = (): { at: number; method: string; url: string }[] =>
    seen.filter((r) => r.method === 'GET' && r.url.includes(prefix));
  const expected = Array.from({ length: chunks }, (_, i) => `record ${i};`).join('');
  try {
    // The attempt that wrote them: no GET at all.
    assert.equal(Buffer.concat(await fromAsync(writer.read('cd'))).toString(), expected);
    assert.equal(gets().length, 0, 'kept chunks were read from the store');
    // A later attempt (resumed with chunks written before it): each chunk read from the store,
    // in order, more than one request at once.
    const resumed = new CentralDirectorySpill(proxied, buckets.destination, prefix, chunks, chunks);
    assert.equal(Buffer.concat(await fromAsync(resumed.read('cd'))).toString(), expected);
    const manifest = Buffer.concat(await fromAsync(resumed.read('manifest'))).toString();
    assert.deepEqual(
      manifest.trim().split('\n'),
      Array.from({ length: chunks }, (_, i) => `{"name":"${i}"}`),
    );
    const cdGets = gets().filter((r) => r.url.includes('/cd/'));
    assert.equal(cdGets.length, chunks);
    const overlapping = cdGets.filter((r) => r.at < cdGets[0].at + SLOW_READ_MS).length;
    assert.ok(overlapping >= 2, `${overlapping} chunk GET(s) sent while the first was answered`);
  } finally {
    for (let i = 0; i < chunks; i++)
      for (const kind of ['cd', 'manifest'])
        await client.send(
          new DeleteObjectCommand({
            Bucket: buckets.destination,
            Key: `${prefix}${kind}/${String(i).padStart(8, '0')}`,
          }),
        );
    proxied.destroy();
  }
});

async function fromAsync(items: AsyncIterable<Buffer>): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for await (const item of items) out.push(item);
  return out;
}
