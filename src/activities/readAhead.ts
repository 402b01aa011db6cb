import { setMaxListeners } from 'node:events';
import type { S3Client } from '@aws-sdk/client-s3';
import { S3_RETRY } from '../s3/client';
import { readListedObject, type ListedObject } from '../s3/objects';
import type { ByteSource } from '../zip';

export interface ReadAheadLimits {
  /** Objects fetched ahead at most. */
  count: number;
  /** Bytes held by fetched-ahead objects at most. */
  bytes: number;
  /** Objects larger than this are streamed, not fetched ahead. */
  smallObject: number;
  /**
   * Larger objects whose GET is sent ahead: their response waits, unread, until the entry is
   * reached (memory: what the socket buffers), so each one's request latency overlaps the
   * entry before it instead of stalling the stream.
   */
  opened: number;
}

export const DEFAULT_READ_AHEAD: ReadAheadLimits = {
  count: 32,
  bytes: 16 * 1024 * 1024,
  smallObject: 1024 * 1024,
  opened: 1,
};

/**
 * A response sent ahead and left unread this long is sent again instead: unread much longer,
 * its socket would reach the S3 client's inactivity timeout and fail.
 */
const OPENED_FRESH_MS = S3_RETRY.socketTimeoutMs / 2;

/**
 * Fetches the small objects that come next in a plan chunk while the current entry is
 * encoded, so thousands of small objects do not wait on request latency one by one. Memory
 * stays within `bytes` (plus the object being read).
 */
export class ReadAhead {
  private readonly fetched = new Map<number, Promise<Buffer>>();
  private readonly opened = new Map<
    number,
    { source: Promise<ByteSource>; stop: AbortController; at: number }
  >();
  private fetchedBytes = 0;
  private next: number;
  private readonly limits: ReadAheadLimits;
  /**
   * Reading ahead stops at such an object (by its index in `objects`): its data is placed by
   * other means, and what comes after it is made by a later pass (server-side copy), so bytes
   * fetched past it are wasted.
   */
  private readonly stopAt: (index: number) => boolean;

  constructor(
    private readonly client: S3Client,
    private readonly bucket: string,
    private readonly objects: ListedObject[],
    from: number,
    private readonly signal: AbortSignal,
    options: { limits?: ReadAheadLimits; stopAt?: (index: number) => boolean } = {},
  ) {
    this.limits = options.limits ?? DEFAULT_READ_AHEAD;
    this.stopAt = options.stopAt ?? (() => false);
    this.next = from;
    // Each GET in flight listens on the activity's signal: up to `count` reads ahead, plus
    // the streamed entry and the parts being uploaded, are expected, not a leak.
    setMaxListeners(this.limits.count + this.limits.opened + 16, signal);
  }

  /** The bytes of objects[index]: fetched ahead when small, else a streamed GET. */
  async open(index: number): Promise<ByteSource> {
    const ahead = this.fetched.get(index);
    this.fetched.delete(index);
    if (index >= this.next) this.next = index + 1;
    if (ahead) {
      this.fetchedBytes -= this.objects[index].size;
      this.fill();
      return [await ahead];
    }
    const opened = this.opened.get(index);
    this.opened.delete(index);
    this.fill();
    if (opened && Date.now() - opened.at < OPENED_FRESH_MS) return opened.source;
    opened?.stop.abort();
    return readListedObject(this.client, this.bucket, this.objects[index], 0, this.signal);
  }

  /** Ends the GETs sent ahead that no entry took (the chunk ended, or the stream failed). */
  close(): void {
    for (const { stop } of this.opened.values()) stop.abort();
    this.opened.clear();
  }

  private fill(): void {
    while (this.next < this.objects.length && this.fetched.size < this.limits.count) {
      const object = this.objects[this.next];
      if (this.stopAt(this.next)) return;
      const small = object.size <= this.limits.smallObject && !object.key.endsWith('/');
      if (small && this.fetchedBytes + object.size > this.limits.bytes) return;
      if (small) {
        const fetch = this.fetch(object);
        fetch.catch(() => {}); // surfaced when the entry is opened
        this.fetched.set(this.next, fetch);
        this.fetchedBytes += object.size;
      } else if (!object.key.endsWith('/')) {
        if (this.opened.size >= this.limits.opened) return;
        const stop = new AbortController();
        const source = readListedObject(
          this.client,
          this.bucket,
          object,
          0,
          AbortSignal.any([this.signal, stop.signal]),
        );
        source.catch(() => {}); // surfaced when the entry is opened
        this.opened.set(this.next, { source, stop, at: Date.now() });
      }
      this.next += 1;
    }
  }

  private async fetch(object: ListedObject): Promise<Buffer> {
    const chunks: Uint8Array[] = [];
    for await (const chunk of await readListedObject(
      this.client,
      this.bucket,
      object,
      0,
      this.signal,
    )) {
      chunks.push(chunk);
    }
    return Buffer.concat(chunks);
  }
}
