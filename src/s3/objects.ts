import type { ByteSource } from '../zip';
import { noteRetry } from './client';
import {
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';

/** One listed source object, as the plan records it. */
export interface ListedObject {
  key: string;
  size: number;
  etag: string;
  /** LastModified in epoch ms: the entry's mtime, so archive bytes never depend on the clock. */
  lastModified: number;
  /** The entry name chosen at planning (naming, prefix); absent in plans made before it was. */
  name?: string;
}

export interface ListingPage {
  objects: ListedObject[];
  nextContinuationToken?: string;
}

/** One ListObjectsV2 page. */
export async function listPage(
  client: S3Client,
  bucket: string,
  prefix: string | undefined,
  continuationToken: string | undefined,
  maxKeys = 1000,
): Promise<ListingPage> {
  const out = await client.send(
    new ListObjectsV2Command({
      Bucket: bucket,
      Prefix: prefix || undefined,
      ContinuationToken: continuationToken,
      MaxKeys: maxKeys,
    }),
  );
  return {
    objects: (out.Contents ?? []).map((o) => ({
      key: o.Key!,
      size: o.Size ?? 0,
      etag: o.ETag ?? '',
      lastModified: o.LastModified?.getTime() ?? 0,
    })),
    nextContinuationToken: out.IsTruncated ? out.NextContinuationToken : undefined,
  };
}

/** HeadObject: the object as a plan records it, or undefined when there is no such key. */
export async function headObject(
  client: S3Client,
  bucket: string,
  key: string,
): Promise<ListedObject | undefined> {
  try {
    const out = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    return {
      key,
      size: out.ContentLength ?? 0,
      etag: out.ETag ?? '',
      lastModified: out.LastModified?.getTime() ?? 0,
    };
  } catch (err) {
    const name = (err as { name?: string }).name;
    if (name === 'NotFound' || name === 'NoSuchKey') return undefined;
    throw err;
  }
}

/** HeadObject for each key, at most `concurrency` at a time; results in the keys' order. */
export async function headObjects(
  client: S3Client,
  bucket: string,
  keys: string[],
  concurrency = 16,
): Promise<(ListedObject | undefined)[]> {
  const results = new Array<ListedObject | undefined>(keys.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < keys.length) {
      const i = next++;
      results[i] = await headObject(client, bucket, keys[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, keys.length) }, worker));
  return results;
}

/** One page of a key list object: up to maxKeys keys, and where the next page starts. */
export interface KeyListPage {
  keys: string[];
  /** Byte offset of the first unread line; absent at the end of the object. */
  nextOffset?: number;
  /** The list object's ETag, so later pages read the same version. */
  etag: string;
}

/** The key list object is missing, changed between pages, or holds a line that is no key. */
export class KeyListError extends Error {
  constructor(
    message: string,
    readonly reason: 'missing' | 'changed' | 'invalid',
  ) {
    super(message);
    this.name = 'KeyListError';
  }
}

const NEWLINE = 0x0a;
const MAX_KEY_BYTES = 1024;

/**
 * Reads keys from a key list object (one key per line, UTF-8; "\r\n" accepted; blank lines
 * skipped) from a byte offset, with a streamed ranged GET that stops after maxKeys keys.
 * Pass the first page's ETag to later pages: a list replaced mid-plan is an error, not a mix.
 */
export async function readKeyListPage(
  client: S3Client,
  location: { bucket: string; key: string },
  offset: number,
  options: { maxKeys?: number; etag?: string } = {},
): Promise<KeyListPage> {
  const maxKeys = options.maxKeys ?? 1000;
  const where = `key list s3://${location.bucket}/${location.key}`;
  const out = await client
    .send(
      new GetObjectCommand({
        Bucket: location.bucket,
        Key: location.key,
        Range: offset > 0 ? `bytes=${offset}-` : undefined,
        IfMatch: options.etag || undefined,
      }),
    )
    .catch((err: unknown) => {
      const name = (err as { name?: string }).name;
      if (name === 'NoSuchKey' || name === 'NotFound')
        throw new KeyListError(`${where} does not exist`, 'missing');
      if (name === 'PreconditionFailed')
        throw new KeyListError(`${where} changed while the archive was planned`, 'changed');
      throw err;
    });
  const etag = options.etag || out.ETag || '';
  const keys: string[] = [];
  let pending = Buffer.alloc(0);
  let position = offset; // byte offset of pending[0]
  const body = out.Body as AsyncIterable<Uint8Array>;
  for await (const chunk of body) {
    pending = pending.length === 0 ? Buffer.from(chunk) : Buffer.concat([pending, chunk]);
    let start = 0;
    for (let nl = pending.indexOf(NEWLINE); nl !== -1; nl = pending.indexOf(NEWLINE, start)) {
      if (keys.length === maxKeys) return { keys, nextOffset: position + start, etag };
      addKeyLine(keys, pending.subarray(start, nl), where, position + start);
      start = nl + 1;
    }
    pending = pending.subarray(start);
    position += start;
    if (pending.length > MAX_KEY_BYTES + 1) {
      throw new KeyListError(
        `${where}: the line at byte ${position} is longer than an S3 key (1,024 bytes)`,
        'invalid',
      );
    }
    // Leaving the loop early (the return above) destroys the body: the rest is not read.
  }
  if (pending.length > 0) {
    if (keys.length === maxKeys) return { keys, nextOffset: position, etag };
    addKeyLine(keys, pending, where, position);
  }
  return { keys, etag };
}

function addKeyLine(keys: string[], line: Buffer, where: string, at: number): void {
  const end = line.length > 0 && line[line.length - 1] === 0x0d ? line.length - 1 : line.length;
  const key = line.subarray(0, end).toString('utf8');
  if (key.trim() === '') return;
  if (end > MAX_KEY_BYTES) {
    throw new KeyListError(
      `${where}: the line at byte ${at} is longer than an S3 key (1,024 bytes)`,
      'invalid',
    );
  }
  keys.push(key);
}

/** The source object is no longer what the listing saw: changed (ETag) or gone. */
export class SourceChangedError extends Error {
  constructor(
    readonly key: string,
    readonly reason: 'changed' | 'missing',
  ) {
    super(
      reason === 'changed'
        ? `source object ${key} changed after it was listed (its ETag no longer matches)`
        : `source object ${key} was deleted after it was listed`,
    );
    this.name = 'SourceChangedError';
  }
}

/**
 * The SourceChangedError an S3 error stands for, if any: a request pinned to the listed ETag
 * that failed its precondition (by status too: a HEAD's 412 has no body, so no error code),
 * or an object that is gone.
 */
export function sourceChangeOf(err: unknown, key: string): SourceChangedError | undefined {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } } | undefined;
  if (e?.name === 'PreconditionFailed' || e?.$metadata?.httpStatusCode === 412)
    return new SourceChangedError(key, 'changed');
  if (e?.name === 'NoSuchKey' || e?.name === 'NotFound')
    return new SourceChangedError(key, 'missing');
  return undefined;
}

/** Times a broken response body is read again from where it broke, per object read. */
export const BODY_RETRIES = 5;

/**
 * Reads an object as it was listed: If-Match on the listed ETag, optionally from a byte offset.
 * A body that breaks mid-way (connection reset, socket timeout) is read on from the byte it
 * reached with another ranged GET, pinned to the same ETag, up to BODY_RETRIES times: the SDK
 * retries requests, but not a body the caller is already reading.
 */
export async function readListedObject(
  client: S3Client,
  bucket: string,
  object: ListedObject,
  fromByte = 0,
  signal?: AbortSignal,
  /** Read only up to this byte (exclusive): the caller stops there. */
  toByte = object.size,
): Promise<ByteSource> {
  if (fromByte > 0 && fromByte >= object.size) return []; // resumed at the end of its data
  const end = Math.min(toByte, object.size);
  const first = await getListed(client, bucket, object, fromByte, end, signal);
  return resumableBody(first, fromByte, (at) => {
    noteRetry(client);
    return getListed(client, bucket, object, at, end, signal);
  });
}

/** A body that, when it breaks, goes on with `reopen(byte reached)`, up to BODY_RETRIES times. */
export async function* resumableBody(
  first: AsyncIterable<Uint8Array>,
  fromByte: number,
  reopen: (at: number) => Promise<AsyncIterable<Uint8Array>>,
): AsyncGenerator<Uint8Array> {
  let body = first;
  let position = fromByte;
  for (let retries = 0; ; retries++) {
    try {
      for await (const chunk of body) {
        position += chunk.length;
        yield chunk;
      }
      return;
    } catch (err) {
      if (retries >= BODY_RETRIES || (err as { name?: string }).name === 'AbortError') throw err;
      body = await reopen(position);
    }
  }
}

async function getListed(
  client: S3Client,
  bucket: string,
  object: ListedObject,
  fromByte: number,
  toByte: number,
  signal: AbortSignal | undefined,
): Promise<AsyncIterable<Uint8Array>> {
  // One short-lived signal per read, linked to the caller's: the SDK adds a listener to the
  // signal it is given, and thousands of reads must not pile listeners onto one signal.
  const link = linkSignal(signal);
  try {
    const out = await client.send(
      new GetObjectCommand({
        Bucket: bucket,
        Key: object.key,
        IfMatch: object.etag || undefined,
        Range:
          toByte < object.size
            ? `bytes=${fromByte}-${toByte - 1}`
            : fromByte > 0
              ? `bytes=${fromByte}-`
              : undefined,
      }),
      { abortSignal: link.signal },
    );
    return unlinkWhenRead(out.Body as AsyncIterable<Uint8Array>, link.unlink);
  } catch (err) {
    link.unlink();
    throw sourceChangeOf(err, object.key) ?? err;
  }
}

function linkSignal(parent: AbortSignal | undefined): { signal: AbortSignal; unlink: () => void } {
  const controller = new AbortController();
  if (!parent) return { signal: controller.signal, unlink: () => {} };
  const abort = (): void => controller.abort(parent.reason);
  if (parent.aborted) abort();
  else parent.addEventListener('abort', abort, { once: true });
  return { signal: controller.signal, unlink: () => parent.removeEventListener('abort', abort) };
}

async function* unlinkWhenRead(
  body: AsyncIterable<Uint8Array>,
  unlink: () => void,
): AsyncGenerator<Uint8Array> {
  try {
    yield* body;
  } finally {
    unlink();
  }
}

export async function putState(
  client: S3Client,
  bucket: string,
  key: string,
  body: string | Buffer,
): Promise<void> {
  await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
}

/** A state object's bytes; a body that breaks while being read is fetched again. */
export async function getState(client: S3Client, bucket: string, key: string): Promise<Buffer> {
  for (let retries = 0; ; retries++) {
    const out = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    try {
      return Buffer.from(await out.Body!.transformToByteArray());
    } catch (err) {
      if (retries >= BODY_RETRIES) throw err;
      noteRetry(client);
    }
  }
}

/** A state object's bytes, or undefined when there is none. */
export async function getStateIfAny(
  client: S3Client,
  bucket: string,
  key: string,
): Promise<Buffer | undefined> {
  try {
    return await getState(client, bucket, key);
  } catch (err) {
    if ((err as { name?: string }).name === 'NoSuchKey') return undefined;
    throw err;
  }
}

/** Deletes every object under a prefix (state objects of a run). */
export async function deletePrefix(
  client: S3Client,
  bucket: string,
  prefix: string,
): Promise<number> {
  let deleted = 0;
  let token: string | undefined;
  do {
    const out = await client.send(
      new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }),
    );
    const keys = (out.Contents ?? []).map((o) => ({ Key: o.Key! }));
    if (keys.length > 0) {
      await client.send(
        new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys, Quiet: true } }),
      );
      deleted += keys.length;
    }
    token = out.IsTruncated ? out.NextContinuationToken : undefined;
  } while (token);
  return deleted;
}

/** Keys under a prefix, page by page. */
export async function* listKeys(
  client: S3Client,
  bucket: string,
  prefix: string,
): AsyncGenerator<string> {
  let token: string | undefined;
  do {
    const out = await client.send(
      new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }),
    );
    for (const o of out.Contents ?? []) yield o.Key!;
    token = out.IsTruncated ? out.NextContinuationToken : undefined;
  } while (token);
}
