import { setMaxListeners } from 'node:events';
import type { S3Client } from '@aws-sdk/client-s3';
import { readListedObject, type ListedObject } from '../s3/objects';
import type { ByteSource } from '../zip';

export interface ReadAheadLimits {
  /** Objects fetched ahead at most. */
  count: number;
  /** Bytes held by fetched-ahead objects at most. */
  bytes: number;
  /** Objects larger than this are streamed when reached, never fetched ahead. */
  smallObject: number;
}

export const DEFAULT_READ_AHEAD: ReadAheadLimits = {
  count: 32,
  bytes: 16 * 1024 * 1024,
  smallObject: 1024 * 1024,
};

/**
 * Fetches the small objects that come next in a plan chunk while the current entry is
 * encoded, so thousands of small objects do not wait on request latency one by one. Memory
 * stays within `bytes` (plus the object being read).
 */
export class ReadAhead {
  private readonly fetched = new Map<number, Promise<Buffer>>();
  private fetchedBytes = 0;
  private next: number;

  constructor(
    private readonly client: S3Client,
    private readonly bucket: string,
    private readonly objects: ListedObject[],
    from: number,
    private readonly signal: AbortSignal,
    private readonly limits: ReadAheadLimits = DEFAULT_READ_AHEAD,
  ) {
    this.next = from;
    // Each GET in flight listens on the activity's signal: up to `count` reads ahead, plus
    // the streamed entry and the parts being uploaded, are expected, not a leak.
    setMaxListeners(limits.count + 16, signal);
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
    this.fill();
    return readListedObject(this.client, this.bucket, this.objects[index], 0, this.signal);
  }

  private fill(): void {
    while (this.next < this.objects.length && this.fetched.size < this.limits.count) {
      const object = this.objects[this.next];
      const small = object.size <= this.limits.smallObject && !object.key.endsWith('/');
      if (small && this.fetchedBytes + object.size > this.limits.bytes) return;
      if (small) {
        const fetch = this.fetch(object);
        fetch.catch(() => {}); // surfaced when the entry is opened
        this.fetched.set(this.next, fetch);
        this.fetchedBytes += object.size;
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
