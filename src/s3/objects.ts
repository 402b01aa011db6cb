import { readObject } from './objectReader';
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

export async function putState(
  client: S3Client,
  bucket: string,
  key: string,
  body: string | Buffer,
): Promise<void> {
  await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
}

/** A state object's bytes; a body that breaks while being read is read on from where it broke. */
export async function getState(client: S3Client, bucket: string, key: string): Promise<Buffer> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of await readObject(client, { bucket, key })) chunks.push(chunk);
  return Buffer.concat(chunks);
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
