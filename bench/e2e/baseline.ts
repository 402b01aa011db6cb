/**
 * One Node baseline, run as its own process by the harness so its memory is its own:
 *
 *   node --import tsx bench/e2e/baseline.ts '<BaselineConfig JSON>'
 *
 * - raw: the source objects' bytes back to back, no ZIP, through lib-storage's Upload with the
 *   same part size and concurrency as zipflow, GETs started up to `readAhead` objects ahead
 *   (16 on loopback; on a shaped path, as many connections as zipflow held in all): the
 *   ceiling for any streaming archiver on the same store.
 * - archiver: archiver 8's ZipArchive fed the objects' GetObject streams in listing order, one
 *   entry at a time, piped into Upload (the common Node recipe).
 * - yazl: the same with yazl 3.3.1 (addReadStreamLazy).
 * - direct: the raw bytes again, read and sent by zipflow's own request path: its ReadAhead
 *   (ranged GETs sent directly, within its read budget) and its PartWriter over its
 *   MultipartSession (parts sent directly, each with its CRC-32, buffers reused), as many parts
 *   in flight as the other baselines. No ZIP, no SHA-256, no Temporal: what a Node process
 *   moves with zipflow's requests, which bounds what zipflow can reach against the Python
 *   recipes.
 *
 * Two probes of the store's own limits, which no archiver using the same client on the same
 * store and machine can pass:
 * - gets: every object read (GetObject, as many at once as zipflow reads ahead) and dropped,
 *   nothing written: the request ceiling for many small objects.
 * - copies: every object of 5 MiB or more placed whole as a part by UploadPartCopy (as many
 *   at once as zipflow's copy run), nothing else: the store's copy ceiling.
 *
 * S3 settings (endpoint, credentials) come from the environment through the project's client
 * factory, so checksum behaviour is the same as zipflow's.
 */
import { once } from 'node:events';
import { PassThrough, Readable } from 'node:stream';
import { GetObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import * as yazl from 'yazl';
import zlib from 'node:zlib';
import { COPY_CONCURRENCY } from '../../src/engine/writers/copy';
import { mapLimited } from '../../src/engine/write/jobs';
import { PartWriter } from '../../src/engine/write/parts';
import { DEFAULT_READ_AHEAD, ReadAhead } from '../../src/engine/read/readAhead';
import { createS3Client } from '../../src/s3/client';
import { MultipartSession, type HeldPart } from '../../src/s3/multipart';
import { MIN_PART_SIZE } from '../../src/shared/limits';
import type { BaselineConfig, BaselineReport } from './baselineConfig';
import { procCpuSeconds, procIoBytes, procStatusMiB, wireSince } from './procStatus';

interface Listed {
  key: string;
  name: string;
  size: number;
  mtime: Date;
  etag: string;
}

async function list(client: S3Client, bucket: string, prefix: string): Promise<Listed[]> {
  const out: Listed[] = [];
  let token: string | undefined;
  do {
    const page = await client.send(
      new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }),
    );
    for (const o of page.Contents ?? []) {
      out.push({
        key: o.Key!,
        name: o.Key!.slice(prefix.length),
        size: o.Size ?? 0,
        mtime: o.LastModified ?? new Date(0),
        etag: o.ETag ?? '',
      });
    }
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return out;
}

async function getBody(client: S3Client, bucket: string, key: string): Promise<Readable> {
  const out = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return out.Body as Readable;
}

/** A stream that sends its GetObject only when first read (entries are written one at a time). */
function lazyBody(client: S3Client, bucket: string, key: string): Readable {
  return Readable.from(
    (async function* () {
      yield* await getBody(client, bucket, key);
    })(),
  );
}

/** All objects' bytes in order, with up to `ahead` GETs in flight. */
async function* concatenated(
  client: S3Client,
  bucket: string,
  objects: Listed[],
  ahead: number,
): AsyncGenerator<Buffer> {
  const pending: Array<Promise<Readable>> = [];
  let next = 0;
  const fill = (): void => {
    while (pending.length < ahead && next < objects.length) {
      const p = getBody(client, bucket, objects[next++].key);
      p.catch(() => {}); // awaited below, in order
      pending.push(p);
    }
  };
  fill();
  while (pending.length > 0) {
    const body = await pending.shift()!;
    fill();
    for await (const chunk of body) yield chunk as Buffer;
  }
}

/** The gets probe: each object read whole and dropped, its CRC-32 kept to check the reads. */
function readEach(client: S3Client, bucket: string, objects: Listed[]) {
  return mapLimited(objects, DEFAULT_READ_AHEAD.count, async (o) => {
    let crc32 = 0;
    let size = 0;
    for await (const chunk of await getBody(client, bucket, o.key)) {
      crc32 = zlib.crc32(chunk as Buffer, crc32);
      size += (chunk as Buffer).length;
    }
    return { key: o.key, size, crc32 };
  });
}

/** The copies probe: objects of 5 MiB or more, each copied whole into a part, in order. */
async function copyEach(client: S3Client, config: BaselineConfig, objects: Listed[]) {
  const target = { bucket: config.destinationBucket, key: config.destinationKey, checksums: false };
  const session = await MultipartSession.create(client, target);
  try {
    const parts: HeldPart[] = await mapLimited(
      objects.map((o, i) => ({ o, partNumber: i + 1 })),
      COPY_CONCURRENCY,
      ({ o, partNumber }) =>
        session.uploadPartCopy(partNumber, {
          bucket: config.sourceBucket,
          key: o.key,
          etag: o.etag,
          from: 0,
          to: o.size,
        }),
    );
    await session.complete(parts, { overwrite: true, crc32: 0 });
  } catch (err) {
    await session.abort();
    throw err;
  }
}

interface ZipArchiveLike extends NodeJS.EventEmitter {
  pipe<T extends NodeJS.WritableStream>(destination: T): T;
  append(source: Readable, data: { name: string; date: Date; store?: boolean }): this;
  finalize(): Promise<void>;
}

/**
 * The direct probe (see the header): zipflow's PartWriter cuts the bytes into parts and sends
 * them, `concurrency` at once; the upload is completed from ListParts, as zipflow completes.
 */
async function directPipe(client: S3Client, config: BaselineConfig, objects: Listed[]) {
  const session = await MultipartSession.create(client, {
    bucket: config.destinationBucket,
    key: config.destinationKey,
  });
  const abort = new AbortController();
  const reader = new ReadAhead(
    client,
    config.sourceBucket,
    objects.map((o) => ({ ...o, lastModified: o.mtime.getTime() })),
    0,
    abort.signal,
  );
  const writer = new PartWriter(session, config.partSize, config.concurrency);
  try {
    for (let i = 0; i < objects.length; i += 1) {
      for await (const chunk of await reader.open(i)) {
        await writer.write(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
      }
    }
    await writer.finish();
    await session.complete(await session.listParts(), { overwrite: true });
  } catch (err) {
    abort.abort();
    await session.abort();
    throw err;
  } finally {
    reader.close();
  }
}

async function run(config: BaselineConfig): Promise<BaselineReport> {
  const client = await createS3Client();
  // archiver 8 is ESM-only; loaded at run time from this CommonJS module, before the clock
  // starts (its module reads would count as traffic otherwise).
  const archiver =
    config.kind === 'archiver'
      ? ((await import('archiver')) as unknown as {
          ZipArchive: new (options: object) => ZipArchiveLike;
        })
      : undefined;
  const io = procIoBytes('self');
  const cpu = procCpuSeconds('self');
  const started = process.hrtime.bigint();
  const listed = await list(client, config.sourceBucket, config.prefix);
  const objects = config.kind === 'copies' ? listed.filter((o) => o.size >= MIN_PART_SIZE) : listed;
  let read: BaselineReport['read'];
  const upload = (body: Readable): Promise<unknown> =>
    new Upload({
      client,
      params: { Bucket: config.destinationBucket, Key: config.destinationKey, Body: body },
      partSize: config.partSize,
      queueSize: config.concurrency,
    }).done();
  const store = config.compression === 'store';
  if (config.kind === 'gets') {
    read = await readEach(client, config.sourceBucket, objects);
  } else if (config.kind === 'copies') {
    await copyEach(client, config, objects);
  } else if (config.kind === 'raw') {
    await upload(
      Readable.from(concatenated(client, config.sourceBucket, objects, config.readAhead)),
    );
  } else if (config.kind === 'direct') {
    await directPipe(client, config, objects);
  } else if (archiver) {
    const { ZipArchive } = archiver;
    const archive = new ZipArchive(store ? { store: true } : { zlib: { level: config.level } });
    // archiver's stream is readable-stream's, not node:stream's: pipe it, as the recipe does.
    const body = new PassThrough();
    archive.pipe(body);
    // archiver starts reading a stream as soon as it is appended, so appending every object
    // up front opens every GET at once (and holds all sockets while the upload waits for
    // one). The usual fix: append the next object when archiver reports the last entry.
    const appended = (async (): Promise<void> => {
      for (const o of objects) {
        const entry = once(archive, 'entry');
        archive.append(await getBody(client, config.sourceBucket, o.key), {
          name: o.name,
          date: o.mtime,
          store,
        });
        await entry;
      }
      await archive.finalize();
    })();
    await Promise.all([appended, upload(body)]);
  } else if (config.kind === 'yazl') {
    const zip = new yazl.ZipFile();
    for (const o of objects) {
      zip.addReadStreamLazy(
        o.name,
        {
          mtime: o.mtime,
          compress: !store,
          ...(store ? {} : { compressionLevel: config.level }),
          size: o.size,
        },
        (cb) => cb(null, lazyBody(client, config.sourceBucket, o.key)),
      );
    }
    zip.end();
    await upload(Readable.from(zip.outputStream as AsyncIterable<Buffer>));
  } else {
    throw new Error(
      `baseline.ts runs raw, direct, archiver, yazl, gets and copies, not ${config.kind}`,
    );
  }
  return {
    entries: objects.length,
    inputBytes: objects.reduce((n, o) => n + o.size, 0),
    seconds: Number(process.hrtime.bigint() - started) / 1e9,
    cpuSeconds: procCpuSeconds('self') - cpu,
    vmHwmMiB: procStatusMiB('self', 'VmHWM'),
    wire: wireSince(io, procIoBytes('self')),
    ...(read ? { read } : {}),
  };
}

run(JSON.parse(process.argv[2]) as BaselineConfig).then(
  (report) => {
    // Exit once the report is written: stdout is a pipe, and exit() does not wait for it.
    process.stdout.write(`${JSON.stringify(report)}\n`, () => process.exit(0));
  },
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
