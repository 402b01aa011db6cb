/**
 * Reads what an implementation wrote back from MinIO and checks it against the source objects,
 * so that no implementation is fast by being wrong: every entry's name, size and CRC-32 from
 * the central directory (yauzl over ranged GETs), and the bytes of a sample of entries.
 */
import { Readable } from 'node:stream';
import { GetObjectCommand, HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import yauzl from 'yauzl';
import { S3RangeReader } from '../../src/s3/rangeReader';
import { content, largeRange, MiB, type ExpectedObject, type WorkloadSpec } from './data';

export interface Verification {
  /** Entries in the archive (raw uploads: objects whose bytes are at their offsets). */
  entries: number;
  /** Entries whose bytes were read back and compared. */
  sampledEntries: number;
  bytesCompared: number;
}

/** Entries up to this size are compared whole; bigger ones by their first and last MiB. */
const WHOLE_LIMIT = 16 * MiB;

function sample<T>(items: T[], n: number): T[] {
  if (items.length <= n) return items;
  const picked = new Set<number>([0, items.length - 1]);
  for (let k = 1; picked.size < n; k++)
    picked.add(Math.floor((k * items.length) / n) % items.length);
  return [...picked].sort((a, b) => a - b).map((i) => items[i]);
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

async function objectSize(client: S3Client, bucket: string, key: string): Promise<number> {
  const head = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
  return head.ContentLength ?? 0;
}

function fail(where: string, what: string): never {
  throw new Error(`verification of ${where} failed: ${what}`);
}

/** What was written and what it should hold. */
export interface ReadBack {
  client: S3Client;
  location: { bucket: string; key: string };
  spec: WorkloadSpec;
  expected: ExpectedObject[];
  /** Entries whose bytes are read back and compared. */
  samples: number;
}

export async function verifyZip({
  client,
  location,
  spec,
  expected,
  samples,
}: ReadBack): Promise<Verification> {
  const where = `s3://${location.bucket}/${location.key}`;
  const size = await objectSize(client, location.bucket, location.key);
  const reader = new S3RangeReader(client, { ...location, size });
  const zip = await new Promise<yauzl.ZipFile>((resolve, reject) =>
    yauzl.fromRandomAccessReader(
      reader,
      size,
      { lazyEntries: true, autoClose: false, validateEntrySizes: true },
      (err, z) => (err ? reject(err) : resolve(z)),
    ),
  );
  try {
    const entries = new Map<string, yauzl.Entry>();
    await new Promise<void>((resolve, reject) => {
      zip.on('entry', (entry: yauzl.Entry) => {
        entries.set(entry.fileName, entry);
        zip.readEntry();
      });
      zip.once('end', () => resolve());
      zip.once('error', reject);
      zip.readEntry();
    });
    if (entries.size !== expected.length || zip.entryCount !== expected.length) {
      fail(
        where,
        `${entries.size} entries (${zip.entryCount} in the end record), ${expected.length} expected`,
      );
    }
    for (const object of expected) {
      const entry = entries.get(object.name) ?? fail(where, `no entry "${object.name}"`);
      if (entry.uncompressedSize !== object.size) {
        fail(where, `"${object.name}" is ${entry.uncompressedSize} bytes, not ${object.size}`);
      }
      if (entry.crc32 >>> 0 !== object.crc32 >>> 0) {
        fail(
          where,
          `"${object.name}" has CRC-32 ${entry.crc32.toString(16)}, not ${object.crc32.toString(16)}`,
        );
      }
      const method = spec.compression === 'store' ? 0 : 8;
      // A tiny object may be stored even when deflate was asked for; never the other way round.
      if (entry.compressionMethod !== method && !(method === 8 && entry.compressionMethod === 0)) {
        fail(where, `"${object.name}" has compression method ${entry.compressionMethod}`);
      }
    }
    const open = (entry: yauzl.Entry, options: yauzl.ZipFileOptions | object): Promise<Readable> =>
      new Promise((resolve, reject) =>
        zip.openReadStream(entry, options, (err, stream) => (err ? reject(err) : resolve(stream))),
      );
    let bytesCompared = 0;
    const picked = sample(expected, samples);
    for (const object of picked) {
      const entry = entries.get(object.name)!;
      if (object.size <= WHOLE_LIMIT) {
        const bytes = await readAll(await open(entry, {}));
        if (!bytes.equals(content(spec, object))) fail(where, `bytes of "${object.name}" differ`);
        bytesCompared += bytes.length;
        continue;
      }
      if (entry.compressionMethod !== 0) fail(where, `"${object.name}" is not stored`);
      for (const [start, end] of [
        [0, MiB],
        [object.size - MiB, object.size],
      ]) {
        const bytes = await readAll(await open(entry, { start, end }));
        if (!bytes.equals(largeRange(start, end))) {
          fail(where, `bytes ${start}-${end} of "${object.name}" differ`);
        }
        bytesCompared += bytes.length;
      }
    }
    return { entries: entries.size, sampledEntries: picked.length, bytesCompared };
  } finally {
    zip.close();
  }
}

/** The raw-multipart baseline wrote the objects back to back: check the size and samples. */
export async function verifyConcatenation({
  client,
  location,
  spec,
  expected,
  samples,
}: ReadBack): Promise<Verification> {
  const where = `s3://${location.bucket}/${location.key}`;
  const total = expected.reduce((n, o) => n + o.size, 0);
  const size = await objectSize(client, location.bucket, location.key);
  if (size !== total) fail(where, `${size} bytes, ${total} expected`);
  const offsets = new Map<ExpectedObject, number>();
  let at = 0;
  for (const object of expected) {
    offsets.set(object, at);
    at += object.size;
  }
  let bytesCompared = 0;
  const picked = sample(expected, samples);
  for (const object of picked) {
    const start = offsets.get(object)!;
    const length = Math.min(object.size, WHOLE_LIMIT);
    const out = await client.send(
      new GetObjectCommand({
        Bucket: location.bucket,
        Key: location.key,
        Range: `bytes=${start}-${start + length - 1}`,
      }),
    );
    const bytes = await readAll(out.Body as Readable);
    const want = object.size <= WHOLE_LIMIT ? content(spec, object) : largeRange(0, length);
    if (!bytes.equals(want)) fail(where, `bytes of "${object.name}" at ${start} differ`);
    bytesCompared += bytes.length;
  }
  return { entries: expected.length, sampledEntries: picked.length, bytesCompared };
}

/** The gets probe wrote nothing: each object it read must have the seeded size and CRC-32. */
export function verifyReads(
  expected: ExpectedObject[],
  read: Array<{ key: string; size: number; crc32: number }>,
): Verification {
  if (read.length !== expected.length)
    fail('the GETs', `${read.length} objects read, ${expected.length} expected`);
  expected.forEach((object, i) => {
    const got = read[i];
    if (got.key !== object.key || got.size !== object.size || got.crc32 !== object.crc32)
      fail(
        'the GETs',
        `object ${i}: ${got.key}, ${got.size} bytes, CRC-32 ${got.crc32}; expected ${object.key}, ${object.size} bytes, CRC-32 ${object.crc32}`,
      );
  });
  const bytes = read.reduce((n, r) => n + r.size, 0);
  return { entries: read.length, sampledEntries: read.length, bytesCompared: bytes };
}
