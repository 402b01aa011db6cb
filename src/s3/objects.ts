import type { ByteSource } from '../zip';
import {
  DeleteObjectsCommand,
  GetObjectCommand,
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

/** Reads an object as it was listed: If-Match on the listed ETag, optionally from a byte offset. */
export async function readListedObject(
  client: S3Client,
  bucket: string,
  object: ListedObject,
  fromByte = 0,
  signal?: AbortSignal,
): Promise<ByteSource> {
  if (fromByte > 0 && fromByte >= object.size) return []; // resumed at the end of its data
  try {
    const out = await client.send(
      new GetObjectCommand({
        Bucket: bucket,
        Key: object.key,
        IfMatch: object.etag || undefined,
        Range: fromByte > 0 ? `bytes=${fromByte}-` : undefined,
      }),
      { abortSignal: signal },
    );
    return out.Body as AsyncIterable<Uint8Array>;
  } catch (err) {
    const name = (err as { name?: string }).name;
    if (name === 'PreconditionFailed') throw new SourceChangedError(object.key, 'changed');
    if (name === 'NoSuchKey' || name === 'NotFound')
      throw new SourceChangedError(object.key, 'missing');
    throw err;
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

export async function getState(client: S3Client, bucket: string, key: string): Promise<Buffer> {
  const out = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return Buffer.from(await out.Body!.transformToByteArray());
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
