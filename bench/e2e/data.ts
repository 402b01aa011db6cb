/**
 * The end-to-end workloads: which objects each one has, their deterministic contents (so a run
 * that reuses seeded objects can still check every byte it samples), and the seeding itself.
 */
import crypto from 'node:crypto';
import { Readable } from 'node:stream';
import zlib from 'node:zlib';
import {
  CreateBucketCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { compressibleText } from '../encoder';

export const MiB = 1024 * 1024;
export const WORKLOADS = ['mid', 'small', 'text', 'large'] as const;
export type WorkloadName = (typeof WORKLOADS)[number];

export interface WorkloadSpec {
  name: WorkloadName;
  /** Objects of `minBytes`–`maxBytes` (sizes spread deterministically over the range). */
  count: number;
  minBytes: number;
  maxBytes: number;
  content: 'random' | 'text';
  /** `large` only: one more object of this many bytes, a repeated random block. */
  largeBytes?: number;
  compression: 'store' | 'deflate';
  /**
   * Checksum the objects are uploaded with, which the store keeps: server-side copy needs a
   * CRC-32 it can read back. Part of the spec so that seeds made without one are not reused.
   */
  checksum: 'CRC32';
}

export interface SourceObject {
  key: string;
  /** Entry name in the archive: the key relative to the workload's prefix. */
  name: string;
  size: number;
  /** Index for the content generator; -1 for the large object. */
  index: number;
}

export interface ExpectedObject extends SourceObject {
  crc32: number;
}

const KiB = 1024;

/** Default sizes: about 1–3 minutes per workload (all implementations) on a 2-core machine. */
const FULL: Record<WorkloadName, WorkloadSpec> = {
  mid: {
    name: 'mid',
    count: 200,
    minBytes: 2_000_000,
    maxBytes: 8_000_000,
    content: 'random',
    compression: 'store',
    checksum: 'CRC32',
  },
  small: {
    name: 'small',
    count: 20_000,
    minBytes: KiB,
    maxBytes: 16 * KiB,
    content: 'random',
    compression: 'store',
    checksum: 'CRC32',
  },
  text: {
    name: 'text',
    count: 150,
    minBytes: MiB,
    maxBytes: 4 * MiB,
    content: 'text',
    compression: 'deflate',
    checksum: 'CRC32',
  },
  large: {
    name: 'large',
    count: 3,
    minBytes: 100,
    maxBytes: 64 * KiB,
    content: 'random',
    largeBytes: 4 * 1024 * MiB + 3 * MiB + 17,
    compression: 'store',
    checksum: 'CRC32',
  },
};

/** --quick: the same shapes, tiny (the large object is not over 4 GiB here). */
const QUICK: Record<WorkloadName, Partial<WorkloadSpec>> = {
  mid: { count: 6, minBytes: 64 * KiB, maxBytes: 512 * KiB },
  small: { count: 60 },
  text: { count: 4, minBytes: 64 * KiB, maxBytes: 256 * KiB },
  large: { count: 2, maxBytes: 4 * KiB, largeBytes: 20 * MiB + 17 },
};

export function defaultSpecs(quick: boolean): Record<WorkloadName, WorkloadSpec> {
  const specs = { ...FULL };
  if (quick) for (const name of WORKLOADS) specs[name] = { ...FULL[name], ...QUICK[name] };
  return specs;
}

/** Where a spec's objects live: the prefix changes when the spec does, so seeds never mix. */
export function specPrefix(spec: WorkloadSpec): string {
  const hash = crypto.createHash('sha256').update(JSON.stringify(spec)).digest('hex').slice(0, 10);
  return `${spec.name}-${hash}/`;
}

export function sourceObjects(spec: WorkloadSpec): SourceObject[] {
  const prefix = specPrefix(spec);
  const span = spec.maxBytes - spec.minBytes + 1;
  const objects: SourceObject[] = [];
  for (let i = 0; i < spec.count; i++) {
    const size = spec.minBytes + ((Math.imul(i + 1, 2654435761) >>> 0) % span);
    const ext = spec.content === 'text' ? 'log' : 'bin';
    // Two levels of folders, as real key spaces have; names sort in index order.
    const name = `d${String(Math.floor(i / 1000)).padStart(3, '0')}/obj-${String(i).padStart(6, '0')}.${ext}`;
    objects.push({ key: prefix + name, name, size, index: i });
  }
  if (spec.largeBytes !== undefined) {
    // Sorts between the small objects' folders and after none of them: "d…" < "huge.bin".
    objects.push({ key: `${prefix}huge.bin`, name: 'huge.bin', size: spec.largeBytes, index: -1 });
  }
  return objects;
}

/** Incompressible bytes, the same for the same label every time (AES-128-CTR keystream). */
function keystream(label: string, size: number): Buffer {
  const key = crypto.createHash('sha256').update(label).digest().subarray(0, 16);
  return crypto.createCipheriv('aes-128-ctr', key, Buffer.alloc(16)).update(Buffer.alloc(size));
}

const LARGE_BLOCK = 64 * MiB;
let largeBlock: Buffer | undefined;
function block(): Buffer {
  largeBlock ??= keystream('zipflow-bench/large-block', LARGE_BLOCK);
  return largeBlock;
}

/** The whole content of a (not large) object. */
export function content(spec: WorkloadSpec, object: SourceObject): Buffer {
  if (object.index < 0) return largeRange(0, object.size);
  return spec.content === 'text'
    ? compressibleText(object.size, object.index + 1).subarray(0, object.size)
    : keystream(`zipflow-bench/${spec.name}/${object.index}`, object.size);
}

/** Bytes [start, end) of the large object: the random block repeated. */
export function largeRange(start: number, end: number): Buffer {
  const b = block();
  const out = Buffer.alloc(end - start);
  for (let at = start; at < end;) {
    const from = at % b.length;
    const n = Math.min(b.length - from, end - at);
    b.copy(out, at - start, from, from + n);
    at += n;
  }
  return out;
}

function* largeChunks(size: number): Generator<Buffer> {
  const b = block();
  for (let at = 0; at < size; at += b.length) yield b.subarray(0, Math.min(b.length, size - at));
}

function largeCrc32(size: number): number {
  let crc = 0;
  for (const chunk of largeChunks(size)) crc = zlib.crc32(chunk, crc);
  return crc;
}

async function exists(client: S3Client, bucket: string, key: string): Promise<boolean> {
  try {
    await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    return true;
  } catch {
    return false;
  }
}

export async function ensureBucket(client: S3Client, bucket: string): Promise<void> {
  try {
    await client.send(new HeadBucketCommand({ Bucket: bucket }));
  } catch {
    await client.send(new CreateBucketCommand({ Bucket: bucket }));
  }
}

/**
 * Puts a workload's objects into `bucket` unless a completed seed of the same spec is there
 * (a marker object written last), and returns what each object holds (sizes and CRC-32s).
 */
export async function seedWorkload(
  client: S3Client,
  bucket: string,
  spec: WorkloadSpec,
  log: (line: string) => void,
): Promise<{ objects: ExpectedObject[]; reused: boolean; seconds: number }> {
  const started = Date.now();
  const objects = sourceObjects(spec);
  const marker = `.seeded/${specPrefix(spec).slice(0, -1)}.json`;
  const reused = await exists(client, bucket, marker);
  const expected: ExpectedObject[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: 32 }, async () => {
      while (next < objects.length) {
        const object = objects[next++];
        if (object.index < 0) {
          expected.push({ ...object, crc32: largeCrc32(object.size) });
          if (reused) continue;
          await new Upload({
            client,
            params: {
              Bucket: bucket,
              Key: object.key,
              Body: Readable.from(largeChunks(object.size)),
              ChecksumAlgorithm: spec.checksum,
            },
            partSize: LARGE_BLOCK,
            queueSize: 4,
          }).done();
          continue;
        }
        const body = content(spec, object);
        expected.push({ ...object, crc32: zlib.crc32(body) });
        if (!reused) {
          await client.send(
            new PutObjectCommand({
              Bucket: bucket,
              Key: object.key,
              Body: body,
              ChecksumAlgorithm: spec.checksum,
            }),
          );
        }
      }
    }),
  );
  if (!reused) {
    await client.send(
      new PutObjectCommand({ Bucket: bucket, Key: marker, Body: JSON.stringify(spec) }),
    );
  }
  const seconds = (Date.now() - started) / 1000;
  log(
    `${spec.name}: ${reused ? 'reused' : 'seeded'} ${objects.length} objects in s3://${bucket}/${specPrefix(spec)} (${seconds.toFixed(1)} s)`,
  );
  expected.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return { objects: expected, reused, seconds };
}
