import { Readable } from 'node:stream';
import type { S3Client } from '@aws-sdk/client-s3';
import { readObject, type ObjectVersion } from './objectReader';
import yauzl from 'yauzl';

/** An object version whose size is known (yauzl reads from the end). */
export type SizedVersion = ObjectVersion & { size: number };

export const DEFAULT_BLOCK_SIZE = 1024 * 1024;
export const DEFAULT_CACHED_BLOCKS = 8;

/**
 * A yauzl RandomAccessReader over an S3 object. Small reads (end records, central-directory
 * records, local headers, data descriptors, small entries) are served from a cache of aligned
 * blocks fetched with ranged GETs, so a central directory of many entries costs one request
 * per block rather than one per record. A range larger than a block (a big entry's data) is
 * streamed with its own ranged GET and not cached. Memory: blockSize × cachedBlocks plus the
 * streams in flight.
 */
export class S3RangeReader extends yauzl.RandomAccessReader {
  /** Insertion order is recency: the first key is the least recently used block. */
  private readonly blocks = new Map<number, Promise<Buffer>>();
  /** GET requests sent, for tests and diagnostics. */
  requests = 0;

  constructor(
    private readonly client: S3Client,
    private readonly object: SizedVersion,
    private readonly blockSize = DEFAULT_BLOCK_SIZE,
    private readonly cachedBlocks = DEFAULT_CACHED_BLOCKS,
  ) {
    super();
  }

  get size(): number {
    return this.object.size;
  }

  override read(
    buffer: Buffer,
    offset: number,
    length: number,
    position: number,
    callback: (err: Error | null) => void,
  ): void {
    this.readRange(position, position + length).then(
      (bytes) => {
        bytes.copy(buffer, offset);
        callback(null);
      },
      (err: Error) => callback(err),
    );
  }

  override _readStreamForRange(start: number, end: number): Readable {
    if (end - start <= this.blockSize) {
      return Readable.from(
        (async function* (reader: S3RangeReader) {
          yield await reader.readRange(start, end);
        })(this),
      );
    }
    return Readable.from(this.streamRange(start, end));
  }

  /** Bytes [start, end) of the object, from cached blocks. */
  async readRange(start: number, end: number): Promise<Buffer> {
    if (start < 0 || end > this.object.size || start > end) {
      throw new Error(
        `read of bytes ${start}-${end} is outside s3://${this.object.bucket}/${this.object.key} (${this.object.size} bytes)`,
      );
    }
    const first = Math.floor(start / this.blockSize);
    const last = Math.floor((end - 1) / this.blockSize);
    const pieces: Buffer[] = [];
    for (let n = first; n <= last && start < end; n++) {
      const block = await this.block(n);
      const base = n * this.blockSize;
      pieces.push(
        block.subarray(Math.max(start, base) - base, Math.min(end, base + block.length) - base),
      );
    }
    return pieces.length === 1 ? pieces[0] : Buffer.concat(pieces);
  }

  private block(n: number): Promise<Buffer> {
    let block = this.blocks.get(n);
    if (block) {
      this.blocks.delete(n);
    } else {
      const start = n * this.blockSize;
      const end = Math.min(this.object.size, start + this.blockSize);
      block = this.get(start, end).then(async (body) => {
        const chunks: Buffer[] = [];
        for await (const chunk of body) chunks.push(Buffer.from(chunk));
        return Buffer.concat(chunks);
      });
      block.catch(() => this.blocks.delete(n));
      while (this.blocks.size >= this.cachedBlocks) {
        this.blocks.delete(this.blocks.keys().next().value!);
      }
    }
    this.blocks.set(n, block);
    return block;
  }

  /** Bytes [start, end) streamed with one ranged GET, bypassing the cache. */
  async *streamRange(start: number, end: number): AsyncGenerator<Buffer> {
    for await (const chunk of await this.get(start, end)) yield Buffer.from(chunk);
  }

  /** A ranged GET of bytes [start, end), pinned to the ETag first seen (SourceChangedError). */
  private get(start: number, end: number): Promise<AsyncIterable<Uint8Array>> {
    this.requests += 1;
    return readObject(this.client, this.object, { from: start, to: end });
  }
}
