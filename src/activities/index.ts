import crypto from 'node:crypto';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { ListMultipartUploadsCommand, HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { createS3Client } from '../s3/client';
import { MultipartSession } from '../s3/multipart';
import {
  deletePrefix,
  getState,
  listPage,
  putState,
  readListedObject,
  type ListedObject,
} from '../s3/objects';
import {
  autoCompression,
  endOfArchive,
  takeSample,
  ZipEncoder,
  ZipInputError,
  type ByteSource,
  type EntrySpec,
} from '../zip';
import { DEFAULT_PART_SIZE, type ArchiveRequest, type ArchiveResult } from '../shared/request';
import { CentralDirectorySpill } from './centralDirectory';
import { combinedCrc32, PartWriter } from './parts';

export interface PlanPageInput {
  request: ArchiveRequest;
  statePrefix: string;
  chunk: number;
  continuationToken?: string;
}

export interface PlanPageOutput {
  entries: number;
  bytes: number;
  nextContinuationToken?: string;
}

export interface StreamInput {
  request: ArchiveRequest;
  statePrefix: string;
  chunks: number;
}

export interface DiscardInput {
  request: ArchiveRequest;
  statePrefix: string;
}

const UPLOAD_CONCURRENCY = 4;

function planKey(statePrefix: string, chunk: number): string {
  return `${statePrefix}plan/${String(chunk).padStart(8, '0')}.jsonl`;
}

/** Entry name for a key: relative to the source prefix, never absolute. */
export function entryName(prefix: string | undefined, key: string): string {
  const rest = prefix && key.startsWith(prefix) ? key.slice(prefix.length) : key;
  return rest.replace(/^\/+/, '');
}

/** Lists one page of the source and stores it as a plan chunk next to the run's state. */
export async function planPage(input: PlanPageInput): Promise<PlanPageOutput> {
  const { source, destination } = input.request;
  const src = await createS3Client({ profile: source.profile });
  const dst = await createS3Client({ profile: destination.profile });
  const page = await listPage(src, source.bucket, source.prefix, input.continuationToken);
  const objects = page.objects.filter((o) => entryName(source.prefix, o.key) !== '');
  if (objects.length > 0) {
    await putState(
      dst,
      destination.bucket,
      planKey(input.statePrefix, input.chunk),
      objects.map((o) => JSON.stringify(o)).join('\n'),
    );
  }
  return {
    entries: objects.length,
    bytes: objects.reduce((n, o) => n + o.size, 0),
    nextContinuationToken: page.nextContinuationToken,
  };
}

async function readPlanChunk(
  client: S3Client,
  bucket: string,
  statePrefix: string,
  chunk: number,
): Promise<ListedObject[]> {
  const text = (await getState(client, bucket, planKey(statePrefix, chunk))).toString('utf8');
  return text === '' ? [] : text.split('\n').map((line) => JSON.parse(line) as ListedObject);
}

async function entrySource(
  request: ArchiveRequest,
  object: ListedObject,
  client: S3Client,
  name: string,
): Promise<{ spec: EntrySpec; source: ByteSource }> {
  const directory = object.key.endsWith('/') && object.size === 0;
  const method = request.compression?.method ?? 'auto';
  const base = {
    name: directory ? name.replace(/\/+$/, '') : name,
    mtime: object.lastModified,
    size: object.size,
  };
  if (directory) return { spec: { ...base, directory: true }, source: [] };
  let source = await readListedObject(client, request.source.bucket, object);
  let compression: 'store' | 'deflate' = method === 'auto' ? 'store' : method;
  if (method === 'auto') {
    const sampled = await takeSample(source);
    source = sampled.source;
    compression = autoCompression(name, sampled.sample);
  }
  return { spec: { ...base, compression, level: request.compression?.level }, source };
}

/**
 * Streams the planned entries through the ZIP encoder into a multipart upload and completes
 * it. Heartbeats progress. This first version restarts a retried attempt from the beginning
 * (it aborts the earlier attempt's upload first).
 */
export async function streamArchive(
  input: StreamInput,
): Promise<Omit<ArchiveResult, 'durationMs'>> {
  const ctx = Context.current();
  const { request, statePrefix } = input;
  const { destination } = request;
  const src = await createS3Client({ profile: request.source.profile });
  const dst = await createS3Client({ profile: destination.profile });
  const overwrite = destination.overwrite ?? false;
  if (!overwrite && (await objectExists(dst, destination.bucket, destination.key))) {
    throw ApplicationFailure.nonRetryable(
      `s3://${destination.bucket}/${destination.key} already exists: set destination.overwrite to true to replace it`,
      'DestinationExists',
    );
  }
  await abortUploads(dst, destination.bucket, destination.key);
  const session = await MultipartSession.create(dst, {
    bucket: destination.bucket,
    key: destination.key,
    contentType: destination.contentType,
    storageClass: destination.storageClass,
  });
  try {
    const sha256 = crypto.createHash('sha256');
    const parts = new PartWriter(
      session,
      request.partSize ?? DEFAULT_PART_SIZE,
      UPLOAD_CONCURRENCY,
    );
    const write = async (chunk: Buffer): Promise<void> => {
      sha256.update(chunk);
      await parts.write(chunk);
    };
    const encoder = new ZipEncoder();
    const spill = new CentralDirectorySpill(dst, destination.bucket, statePrefix);
    for (let chunk = 0; chunk < input.chunks; chunk++) {
      for (const object of await readPlanChunk(dst, destination.bucket, statePrefix, chunk)) {
        const name = entryName(request.source.prefix, object.key);
        const { spec, source } = await entrySource(request, object, src, name);
        for await (const bytes of encoder.entry(spec, source)) await write(bytes);
        await spill.add(encoder.lastCentralDirectoryRecord!);
        ctx.heartbeat({ entries: encoder.entryCount, bytes: encoder.position });
        if (ctx.cancellationSignal.aborted) throw ctx.cancellationSignal.reason;
      }
    }
    for await (const bytes of endOfArchive(spill.records(), encoder.totals(), {}))
      await write(bytes);
    const uploaded = await parts.finish();
    const completed = await session.complete(uploaded, { overwrite });
    return {
      bucket: destination.bucket,
      key: destination.key,
      size: uploaded.reduce((n, p) => n + p.size, 0),
      entries: encoder.entryCount,
      parts: uploaded.length,
      etag: completed.etag,
      versionId: completed.versionId,
      sha256: sha256.digest('hex'),
      crc32: combinedCrc32(uploaded).toString(16).padStart(8, '0'),
      uploadedBytes: parts.uploadedBytes,
    };
  } catch (err) {
    await session.abort();
    if (err instanceof ZipInputError)
      throw ApplicationFailure.nonRetryable(err.message, 'InvalidEntry');
    throw err;
  }
}

/** Removes what a run leaves while it works: its multipart uploads and its state objects. */
export async function discardRun(input: DiscardInput): Promise<void> {
  const { destination } = input.request;
  const dst = await createS3Client({ profile: destination.profile });
  await abortUploads(dst, destination.bucket, destination.key);
  await deletePrefix(dst, destination.bucket, input.statePrefix);
}

async function objectExists(client: S3Client, bucket: string, key: string): Promise<boolean> {
  try {
    await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    return true;
  } catch (err) {
    if ((err as { name?: string }).name === 'NotFound') return false;
    throw err;
  }
}

/** Aborts every multipart upload open for exactly this key (one run owns a destination). */
async function abortUploads(client: S3Client, bucket: string, key: string): Promise<void> {
  const out = await client.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: key }));
  for (const u of out.Uploads ?? []) {
    if (u.Key === key && u.UploadId)
      await MultipartSession.attach(client, { bucket, key }, u.UploadId).abort();
  }
}
