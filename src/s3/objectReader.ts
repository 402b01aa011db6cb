import type { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { noteRetry } from './client';
import { getDirect, sendDirect } from './directRequests';
import { copyIntoSink, type BodySink } from './socketGet';

/**
 * The one object reader: every GET of an object's bytes (sources, the archive read back, yauzl's
 * ranges) goes through readObject or fetchObject (src/s3/rangeFetch.ts), pinned to one version of
 * the object.
 */

/** One version of an object: reads that find another ETag fail instead of mixing versions. */
export interface ObjectVersion {
  bucket: string;
  key: string;
  /** Unknown for an object read whole without a listing (its size is what the GET returns). */
  size?: number;
  /** Unknown: the ETag of the first response pins the later ones. */
  etag?: string;
}

/** The object is no longer the version being read: changed (ETag) or gone. */
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

/** Times a broken response body is read again from where it broke, per read (or range). */
export const BODY_RETRIES = 5;

/**
 * Bytes [from, to) of an object version, streamed with one GET (ranged unless the whole object),
 * If-Match on its ETag. A body that breaks mid-way (connection reset, socket timeout) is read on
 * from the byte it reached with another ranged GET pinned to the same ETag, up to BODY_RETRIES
 * times: the SDK retries requests, but not a body the caller is already reading.
 */
export async function readObject(
  client: S3Client,
  object: ObjectVersion,
  options: { from?: number; to?: number; signal?: AbortSignal } = {},
): Promise<AsyncIterable<Uint8Array>> {
  const from = options.from ?? 0;
  const to = options.to ?? object.size;
  if (isPastEnd(object, from)) return empty();
  const pinned = { ...object };
  const open = async (at: number): Promise<AsyncIterable<Uint8Array>> => {
    const { body, unlink } = await get(client, pinned, at, to, options.signal);
    return unlinkWhenRead(body, unlink);
  };
  const first = await open(from);
  return resumableBody(first, from, (at) => {
    noteRetry(client);
    return open(at);
  });
}

/**
 * readObject for a reader that takes every byte as it comes (RangeFetch), into memory it hands
 * out (`sink`). A direct GET's body is read off the socket into it (getDirect); through the SDK,
 * each chunk of the body is copied into it, with no async iterators between the socket and it
 * (they cost a promise and a result object per chunk and level). Broken bodies are read on as
 * by readObject. `onAnswer` is called once the first GET has answered.
 */
export async function fetchObject(
  client: S3Client,
  object: ObjectVersion,
  options: { from: number; to: number; signal?: AbortSignal },
  sink: BodySink,
  onAnswer: () => void = () => {},
): Promise<void> {
  const { from, to, signal } = options;
  if (isPastEnd(object, from)) return onAnswer();
  const pinned = { ...object };
  let position = from;
  const counted: BodySink = {
    space: () => sink.space(),
    filled: (n) => {
      position += n;
      sink.filled(n);
    },
  };
  for (let retries = 0; ; retries++) {
    const { body } = await getInto(client, pinned, position, to, signal, counted);
    if (retries === 0) onAnswer();
    try {
      await body;
      return;
    } catch (err) {
      if (retries >= BODY_RETRIES || (err as { name?: string }).name === 'AbortError') throw err;
      noteRetry(client);
    }
  }
}

/** One GET of [from, to) answered, its body being read into `sink` (settles when read whole). */
async function getInto(
  client: S3Client,
  object: ObjectVersion,
  from: number,
  to: number,
  signal: AbortSignal | undefined,
  sink: BodySink,
): Promise<{ body: Promise<void> }> {
  const range = rangeHeader(object, from, to);
  try {
    const direct = await getDirect(client, getRequest(object, range), sink, signal);
    if (direct) {
      object.etag ||= direct.headers.etag;
      return { body: direct.body };
    }
  } catch (err) {
    throw sourceErrorOf(object, err);
  }
  const { body, unlink } = await get(client, object, from, to, signal, 'sdk');
  body.on('data', (chunk: Buffer) => copyIntoSink(sink, chunk));
  return { body: finished(body).finally(unlink) };
}

/** A ranged read that starts at or past the end of an object of known size: no bytes. */
function isPastEnd(object: ObjectVersion, from: number): boolean {
  return object.size !== undefined && from > 0 && from >= object.size;
}

async function* empty(): AsyncGenerator<Uint8Array> {}

/** A body that, when it breaks, goes on with `reopen(byte reached)`, up to BODY_RETRIES times. */
async function* resumableBody(
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

/** The Range header for [from, to): none for the whole object. */
function rangeHeader(
  object: ObjectVersion,
  from: number,
  to: number | undefined,
): string | undefined {
  const whole = to === undefined || (object.size !== undefined && to >= object.size);
  if (!whole) return `bytes=${from}-${to - 1}`;
  return from > 0 ? `bytes=${from}-` : undefined;
}

/** One GET of [from, to); the first response's ETag pins `object` when it had none. */
async function get(
  client: S3Client,
  object: ObjectVersion,
  from: number,
  to: number | undefined,
  signal: AbortSignal | undefined,
  via: 'direct' | 'sdk' = 'direct',
): Promise<{ body: Readable; unlink: () => void }> {
  // One short-lived signal per read, linked to the caller's: the SDK adds a listener to the
  // signal it is given, and thousands of reads must not pile listeners onto one signal.
  const link = linkSignal(signal);
  try {
    const range = rangeHeader(object, from, to);
    const direct =
      via === 'direct'
        ? await sendDirect(
            client,
            { method: 'GET', ...getRequest(object, range), ok: (s) => s === 200 || s === 206 },
            link.signal,
          )
        : undefined;
    if (direct) {
      object.etag ||= direct.headers.etag;
      return { body: direct.body as Readable, unlink: link.unlink };
    }
    const out = await client.send(
      new GetObjectCommand({
        Bucket: object.bucket,
        Key: object.key,
        IfMatch: object.etag || undefined,
        Range: range,
      }),
      { abortSignal: link.signal },
    );
    object.etag ||= out.ETag;
    // In Node the SDK's body is the response stream itself (an IncomingMessage).
    return { body: out.Body as Readable, unlink: link.unlink };
  } catch (err) {
    link.unlink();
    throw sourceErrorOf(object, err);
  }
}

/** A direct GetObject of `object`: pinned to its ETag once known, ranged when `range` is set. */
function getRequest(
  object: ObjectVersion,
  range: string | undefined,
): { bucket: string; key: string; query: Record<string, string>; headers: Record<string, string> } {
  return {
    bucket: object.bucket,
    key: object.key,
    query: { 'x-id': 'GetObject' },
    headers: {
      ...(object.etag ? { 'if-match': object.etag } : {}),
      ...(range ? { range } : {}),
    },
  };
}

/**
 * The error a failed GET stands for: a version known from a listing (or a first response) that
 * is gone or changed is a SourceChangedError; a key read without one that is missing is just
 * NoSuchKey.
 */
function sourceErrorOf(object: ObjectVersion, err: unknown): unknown {
  const known = object.etag || object.size !== undefined;
  return (known ? sourceChangeOf(err, object.key) : undefined) ?? err;
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
