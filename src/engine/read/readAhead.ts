import { KiB, MiB } from '../../shared/limits';
import { setMaxListeners } from 'node:events';
import type { S3Client } from '@aws-sdk/client-s3';
import type { ObjectVersion } from '../../s3/objectReader';
import { BlockPool, RangeFetch, rangesOf } from '../../s3/rangeFetch';
import type { ListedObject } from '../../s3/objects';
import { workerReadConcurrency, workerReadRangeSize } from '../../runtime/config';
import { DEFAULT_READ_CONCURRENCY } from '../../shared/limits';
import { type ArchiveRequest } from '../../shared/request';
import type { ByteSource } from '../../zip';

export interface ReadAheadLimits {
  /**
   * The read side's one memory budget: bytes of objects and ranges fetched ahead and not yet
   * encoded, whatever their size. A piece larger than the budget is still read, alone.
   */
  bytes: number;
  /**
   * Ranged GETs of large objects in flight at most. Twice the ranges the budget holds, so the
   * short last range of each object does not take a whole range's slot: the budget, not this
   * count, bounds the memory.
   */
  concurrency: number;
  /** Bytes per ranged GET of a large object (aligned to the source's parts when known). */
  rangeSize: number;
  /** rangeSize was set (readRangeSize, ZIPFLOW_READ_RANGE_SIZE): not adapted to the path. */
  fixedRangeSize?: boolean;
  /** Small objects fetched ahead at most (each is one GET). */
  count: number;
  /** Objects up to this size are one GET; larger ones are read as ranges. */
  smallObject: number;
}

/**
 * Ranges of 4 MiB (2 MiB on a far path, rangeSizeFor): on a far store (25 ms, 25 MB/s per
 * connection) more GETs in flight within the same budget read faster than fewer 8 MiB ones
 * (docs/benchmarks.md, "More, smaller ranged GETs"). AWS's guidance is 8–16 MB per GET, for the
 * rate of one connection.
 */
export const DEFAULT_RANGE_SIZE = 4 * MiB;

/**
 * Bytes per pooled block a range is read into (RangeFetch): the chunks the encoder gets, so
 * larger blocks mean fewer chunks, each with its own CRC-32 combine, part-writer call and hash
 * update; a read shorter than a block gets one block of its own size instead.
 */
export const READ_BLOCK_SIZE = 256 * KiB;

/** A pool of read blocks, for an archive attempt to hand to each of its readers. */
export function readBlocks(): BlockPool {
  return new BlockPool(READ_BLOCK_SIZE);
}

/**
 * A path whose GETs all take this long to answer is a far one, and its ranges are halved, so
 * twice as many GETs share the same budget. "All": the fastest of the last FIRST_BYTE_WINDOW,
 * since a busy event loop or store only adds time, while a far path's round trip is in every
 * answer (25 ms each way: 50 ms or more; loopback and near paths: a few ms). On such a path,
 * with 25 MB/s per connection, 2 MiB ranges read `mid` faster than 4 MiB ones; on loopback they
 * cost CPU per byte for no speed (docs/benchmarks.md, "Direct requests and range size by
 * latency").
 */
export const FAR_FIRST_BYTE_MS = 40;
const FIRST_BYTE_WINDOW = 8;

/** Times to first byte of a client's recent ranged GETs: the latency of its store path. */
const firstByteTimes = new WeakMap<S3Client, number[]>();

/** Notes how long a ranged GET of `client` took to answer. */
export function noteFirstByte(client: S3Client, ms: number): void {
  let times = firstByteTimes.get(client);
  if (!times) firstByteTimes.set(client, (times = []));
  times.push(ms);
  if (times.length > FIRST_BYTE_WINDOW) times.shift();
}

/**
 * The range size for the next large object: halved (down to 1 MiB) on a far path, unless it
 * was set. (Larger ranges would suit a store with no latency and no per-connection cap, but the
 * first byte's time does not tell such a store from a near one under load: docs/benchmarks.md,
 * "Larger ranges on loopback".)
 */
export function rangeSizeFor(client: S3Client, limits: ReadAheadLimits): number {
  if (limits.fixedRangeSize) return limits.rangeSize;
  const times = firstByteTimes.get(client);
  if (!times || times.length < FIRST_BYTE_WINDOW / 2) return limits.rangeSize;
  const fastest = Math.min(...times);
  return fastest >= FAR_FIRST_BYTE_MS ? Math.max(MiB, limits.rangeSize / 2) : limits.rangeSize;
}

/**
 * The limits for a read budget of `ranges` ranges: memory = ranges × 4 MiB (16 MiB by default),
 * with up to twice as many GETs in flight.
 */
export function readAheadLimits(ranges = DEFAULT_READ_CONCURRENCY): ReadAheadLimits {
  return {
    bytes: ranges * DEFAULT_RANGE_SIZE,
    concurrency: 2 * ranges,
    rangeSize: DEFAULT_RANGE_SIZE,
    count: 32,
    smallObject: MiB,
  };
}

export const DEFAULT_READ_AHEAD: ReadAheadLimits = readAheadLimits();

/**
 * The request's readConcurrency, else the worker's (ZIPFLOW_READ_CONCURRENCY), else 4; and its
 * readRangeSize, else the worker's (ZIPFLOW_READ_RANGE_SIZE), else by the path (rangeSizeFor).
 */
export function readLimitsFor(request: ArchiveRequest): ReadAheadLimits {
  const limits = readAheadLimits(request.readConcurrency ?? workerReadConcurrency());
  const rangeSize = request.readRangeSize ?? workerReadRangeSize();
  return rangeSize === undefined ? limits : { ...limits, rangeSize, fixedRangeSize: true };
}

/**
 * Reads a plan chunk's objects ahead of the encoder, in plan order, within one memory budget:
 * small objects with one GET each (many at once, so thousands of them do not wait on request
 * latency one by one), large ones as concurrent ranged GETs, several objects ahead. Each piece
 * is read whole into memory as soon as it is sent (RangeFetch), retried on its own and pinned to
 * the listed ETag, and handed to the encoder in order.
 */
export class ReadAhead {
  /** Pieces sent and not yet handed out, by object index, in byte order. */
  private readonly sent = new Map<number, RangeFetch[]>();
  /** The next piece to send: object index, its ranges, and which of them. */
  private cursor: { index: number; ranges?: Array<[number, number]>; next: number };
  /** Bytes of the pieces sent and not yet handed out. */
  private held = 0;
  private rangesInFlight = 0;
  /** Small objects sent and not yet handed out. */
  private readonly smallSent = new Set<RangeFetch>();
  /** Pieces handed out and not yet read to their end. */
  private readonly reading = new Set<RangeFetch>();
  private readonly blocks: BlockPool;
  private closed = false;
  /** Bytes that may still be read ahead (of `total`). */
  private unsent: number;
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
    options: {
      limits?: ReadAheadLimits;
      /**
       * Where ranges are copied: pass the attempt's, so the readers of its plan chunks reuse one
       * set of blocks instead of leaving each chunk's to a full collection.
       */
      blocks?: BlockPool;
      stopAt?: (index: number) => boolean;
      /** Bytes the caller will take at most: nothing is read ahead past them. */
      total?: number;
    } = {},
  ) {
    this.unsent = options.total ?? Infinity;
    this.limits = options.limits ?? DEFAULT_READ_AHEAD;
    this.blocks = options.blocks ?? readBlocks();
    this.stopAt = options.stopAt ?? (() => false);
    this.cursor = { index: from, next: 0 };
    // Each GET in flight listens on the activity's signal: up to `count` small objects and
    // `concurrency` ranges, plus the parts being uploaded, are expected, not a leak.
    setMaxListeners(this.limits.count + this.limits.concurrency + 16, signal);
  }

  /**
   * The bytes [from, to) of objects[index] (default: all of them); objects before it that were
   * read ahead and not taken are dropped. Indexes are opened in increasing order. A chunk is
   * valid until the next one is asked for (its block is then reused): what a reader keeps
   * longer, it copies (ByteSource).
   */
  async open(index: number, from = 0, to = this.objects[index].size): Promise<ByteSource> {
    for (const i of [...this.sent.keys()]) if (i < index) this.drop(i);
    const whole = from === 0 && to === this.objects[index].size;
    if (this.cursor.index < index || !whole) {
      // Not reached yet, or only part of it is wanted: its pieces start here.
      for (const i of [...this.sent.keys()]) if (i >= index) this.drop(i);
      this.cursor = { index, ranges: this.piecesOf(index, from, to), next: 0 };
    }
    this.fill();
    // The first bytes are awaited here, so a changed or deleted source fails before its entry
    // starts (onSourceChange "skip" leaves it out then).
    const bytes = new ObjectBytes(this, index);
    await bytes.peek();
    return bytes;
  }

  /** Ends the GETs sent ahead that no entry took (the chunk ended, or the stream failed). */
  close(): void {
    this.closed = true;
    for (const i of [...this.sent.keys()]) this.drop(i);
    for (const piece of [...this.reading]) this.release(piece);
  }

  /** The next piece of objects[index] to read, sent now if it was not; undefined: none left. */
  nextPiece(index: number): RangeFetch | undefined {
    let piece = this.sent.get(index)?.shift();
    if (!piece) {
      if (this.cursor.index !== index) return undefined; // every piece handed out
      piece = this.send(); // the encoder waits for it: sent whatever the limits
    }
    this.reading.add(piece);
    return piece;
  }

  private piecesOf(index: number, from: number, to: number): Array<[number, number]> {
    const object = this.objects[index];
    if (object.size <= this.limits.smallObject) return [[from, to]];
    return rangesOf(this.version(index), from, to, rangeSizeFor(this.client, this.limits));
  }

  private version(index: number): ObjectVersion {
    return { bucket: this.bucket, ...this.objects[index] };
  }

  /** Sends pieces in order while the budget and the GET limits allow. */
  private fill(): void {
    while (!this.closed && this.cursor.index < this.objects.length) {
      const { index } = this.cursor;
      if (this.stopAt(index)) return;
      if (this.objects[index].key.endsWith('/')) {
        this.cursor = { index: index + 1, next: 0 }; // a folder marker: nothing to read
        continue;
      }
      const ranges = (this.cursor.ranges ??= this.piecesOf(index, 0, this.objects[index].size));
      const [from, to] = ranges[this.cursor.next];
      if (this.held > 0 && this.held + (to - from) > this.limits.bytes) return;
      if (to - from > this.unsent) return;
      if (this.isLarge(index)) {
        if (this.rangesInFlight >= this.limits.concurrency) return;
      } else if (this.smallSent.size >= this.limits.count) return;
      this.send();
    }
  }

  /** Sends the piece at the cursor and moves the cursor past it. */
  private send(): RangeFetch {
    const { index, next } = this.cursor;
    const ranges = this.cursor.ranges ?? this.piecesOf(index, 0, this.objects[index].size);
    const [from, to] = ranges[next];
    const piece = new RangeFetch(
      this.client,
      this.version(index),
      from,
      to,
      this.signal,
      this.blocks,
    );
    this.held += piece.size;
    this.unsent -= piece.size;
    if (this.isLarge(index)) {
      this.rangesInFlight += 1;
      void piece.done.then(() => {
        if (piece.firstByteMs !== undefined) noteFirstByte(this.client, piece.firstByteMs);
        this.rangesInFlight -= 1;
        this.fill();
      });
    } else {
      this.smallSent.add(piece);
    }
    let list = this.sent.get(index);
    if (!list) this.sent.set(index, (list = []));
    list.push(piece);
    this.cursor =
      next + 1 < ranges.length ? { index, ranges, next: next + 1 } : { index: index + 1, next: 0 };
    return piece;
  }

  private isLarge(index: number): boolean {
    return this.objects[index].size > this.limits.smallObject;
  }

  /** A piece read to its end (or dropped) gives its bytes back to the budget. */
  release(piece: RangeFetch): void {
    piece.release();
    this.held -= piece.size;
    this.smallSent.delete(piece);
    this.reading.delete(piece);
    this.fill();
  }

  private drop(index: number): void {
    const pieces = this.sent.get(index) ?? [];
    this.sent.delete(index);
    for (const piece of pieces) this.release(piece);
  }
}

const DONE: IteratorReturnResult<undefined> = { done: true, value: undefined };

/**
 * One object's bytes, piece after piece, as the encoder reads them: a plain async iterator, not
 * generators stacked per piece and per object, since each level costs a promise and a result
 * object per chunk. A piece is released (its blocks reused) when the chunk after its last one
 * is asked for, or when reading stops early (return).
 */
class ObjectBytes implements AsyncIterableIterator<Uint8Array> {
  private piece: RangeFetch | undefined;
  private peeked: IteratorResult<Uint8Array> | undefined;

  constructor(
    private readonly reader: ReadAhead,
    private readonly index: number,
  ) {}

  [Symbol.asyncIterator](): this {
    return this;
  }

  /** Waits for the first bytes (or the end, or the failure) without handing them out yet. */
  async peek(): Promise<void> {
    this.peeked = await this.next();
  }

  async next(): Promise<IteratorResult<Uint8Array>> {
    const peeked = this.peeked;
    if (peeked) {
      this.peeked = undefined;
      return peeked;
    }
    for (;;) {
      const piece = (this.piece ??= this.reader.nextPiece(this.index));
      if (!piece) return DONE;
      let chunk: Buffer | undefined;
      try {
        chunk = piece.take();
      } catch (err) {
        this.stop();
        throw err;
      }
      if (chunk) return { done: false, value: chunk };
      if (piece.ended) this.stop();
      else await piece.arrival();
    }
  }

  async return(): Promise<IteratorResult<Uint8Array>> {
    this.peeked = undefined;
    this.stop();
    return DONE;
  }

  private stop(): void {
    if (this.piece) this.reader.release(this.piece);
    this.piece = undefined;
  }
}
