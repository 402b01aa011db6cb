import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { noteRetry } from './client';
import { sendDirect } from './directRequests';

/**
 * The one object reader: every GET of an object's bytes (sources, the archive read back, yauzl's
 * ranges) goes through readObject or RangeFetch, pinned to one version of the object.
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
  if (object.size !== undefined && from > 0 && from >= object.size) return empty();
  const pinned = { ...object };
  const first = await get(client, pinned, from, to, options.signal);
  return resumableBody(first, from, (at) => {
    noteRetry(client);
    return get(client, pinned, at, to, options.signal);
  });
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
): Promise<AsyncIterable<Uint8Array>> {
  // One short-lived signal per read, linked to the caller's: the SDK adds a listener to the
  // signal it is given, and thousands of reads must not pile listeners onto one signal.
  const link = linkSignal(signal);
  try {
    const range = rangeHeader(object, from, to);
    const direct = await sendDirect(
      client,
      {
        method: 'GET',
        bucket: object.bucket,
        key: object.key,
        query: { 'x-id': 'GetObject' },
        headers: {
          ...(object.etag ? { 'if-match': object.etag } : {}),
          ...(range ? { range } : {}),
        },
        ok: (status) => status === 200 || status === 206,
      },
      link.signal,
    );
    if (direct) {
      object.etag ||= direct.headers.etag;
      return unlinkWhenRead(direct.body as AsyncIterable<Uint8Array>, link.unlink);
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
    return unlinkWhenRead(out.Body as AsyncIterable<Uint8Array>, link.unlink);
  } catch (err) {
    link.unlink();
    // A version known from a listing (or a first response) that is gone or changed; a key read
    // without one that is missing is just NoSuchKey.
    const known = object.etag || object.size !== undefined;
    throw (known ? sourceChangeOf(err, object.key) : undefined) ?? err;
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

/**
 * Bytes [from, to) of an object version, fetched now into memory with readObject (so retried on
 * its own, and pinned to the version), handed out as they arrive. The socket is read to the end
 * at once, never left idle until the caller gets to it.
 */
export class RangeFetch {
  private readonly chunks: Uint8Array[] = [];
  private ended = false;
  private failure: unknown;
  private wake: (() => void) | undefined;
  private readonly stop = new AbortController();
  /** Settles when the GET has ended (read whole, failed or aborted). */
  readonly done: Promise<void>;
  /** Milliseconds from sending the GET to its answer (headers), once answered. */
  firstByteMs: number | undefined;
  private readonly sentAt = performance.now();

  constructor(
    client: S3Client,
    object: ObjectVersion,
    readonly from: number,
    readonly to: number,
    signal?: AbortSignal,
  ) {
    const linked = signal ? AbortSignal.any([signal, this.stop.signal]) : this.stop.signal;
    this.done = this.fetch(client, object, linked);
  }

  get size(): number {
    return this.to - this.from;
  }

  private async fetch(client: S3Client, object: ObjectVersion, signal: AbortSignal): Promise<void> {
    try {
      const body = await readObject(client, object, { from: this.from, to: this.to, signal });
      this.firstByteMs = performance.now() - this.sentAt;
      for await (const chunk of body) {
        this.chunks.push(chunk);
        this.notify();
      }
    } catch (err) {
      this.failure = err;
    }
    this.ended = true;
    this.notify();
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  /** The bytes in order, as they arrive; each chunk is handed out once. */
  async *read(): AsyncGenerator<Uint8Array> {
    for (;;) {
      while (this.chunks.length > 0) yield this.chunks.shift()!;
      if (this.ended) {
        if (this.failure !== undefined) throw this.failure;
        return;
      }
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }

  /** Ends the GET if it still runs, and drops what it holds. */
  abort(): void {
    this.stop.abort();
    this.chunks.length = 0;
  }
}

/**
 * A source object's part size when its ETag says it was uploaded in parts ("…-N") and one
 * whole number of MiB gives exactly N parts; ranges aligned to parts are what the store serves
 * best. undefined otherwise.
 */
export function sourcePartSize(object: ObjectVersion): number | undefined {
  const parts = /-(\d+)"?$/.exec(object.etag ?? '');
  const size = object.size;
  if (!parts || size === undefined) return undefined;
  const n = Number(parts[1]);
  if (n < 2) return undefined;
  const mib = 1024 * 1024;
  const partSize = Math.ceil(size / n / mib) * mib;
  return Math.ceil(size / partSize) === n ? partSize : undefined;
}

/**
 * [from, to) cut into ranges of about `rangeSize`: on the source's part boundaries when they are
 * known (several parts per range when parts are small, a part per range when they are larger),
 * else at multiples of rangeSize, so a resumed read's ranges line up with a fresh one's.
 */
export function rangesOf(
  object: ObjectVersion,
  from: number,
  to: number,
  rangeSize: number,
): Array<[number, number]> {
  const part = sourcePartSize(object);
  let step = rangeSize;
  if (part !== undefined && part <= rangeSize) step = part * Math.floor(rangeSize / part);
  // A larger part: one range per part unless that is over twice the range size.
  else if (part !== undefined && part % rangeSize !== 0 && part <= 2 * rangeSize) step = part;
  const ranges: Array<[number, number]> = [];
  let at = from;
  do {
    const end = Math.min(to, (Math.floor(at / step) + 1) * step);
    ranges.push([at, end]);
    at = end;
  } while (at < to);
  return ranges;
}
