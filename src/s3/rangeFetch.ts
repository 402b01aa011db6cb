import type { S3Client } from '@aws-sdk/client-s3';
import { fetchObject, type ObjectVersion } from './objectReader';
import type { BodySink } from './socketGet';
import { noteBytesRead } from '../runtime/youngCollections';

/**
 * Blocks a RangeFetch copies a range's bytes into, given back when the range has been read:
 * one pool per archive attempt (its readers take turns with it), so its memory is the most
 * blocks in use at once, allocated once.
 */
export class BlockPool {
  private readonly free: Buffer[] = [];
  /** Blocks allocated so far (for tests and diagnostics). */
  allocated = 0;

  constructor(readonly blockSize: number) {}

  take(): Buffer {
    const reused = this.free.pop();
    if (reused) return reused;
    this.allocated += 1;
    return Buffer.allocUnsafeSlow(this.blockSize);
  }

  give(blocks: Buffer[]): void {
    this.free.push(...blocks);
  }
}

/**
 * Bytes [from, to) of an object version, fetched now into memory with fetchObject (so retried on
 * its own, and pinned to the version), handed out as they arrive. The socket is read to the end
 * at once, never left idle until the caller gets to it.
 *
 * The bytes are read into blocks: from `pool` for a range of at least a block (allocated once,
 * filled again by the next ranges), else one block of the range's own size. A direct GET reads
 * them off the socket into the blocks; the SDK's chunks are copied in as they come, so they die
 * young (held until read, they were promoted and freed only by full collections:
 * docs/benchmarks.md, "Read blocks and young collections").
 */
export class RangeFetch implements BodySink {
  /** The blocks written so far, the bytes in the last one, and where reading is. */
  private readonly blocks: Buffer[] = [];
  private filledBytes = 0;
  private readBlock = 0;
  private readAt = 0;
  private readonly pool: BlockPool | undefined;
  private finished = false;
  private released = false;
  private failure: unknown;
  private wake: (() => void) | undefined;
  private discard: Buffer | undefined;
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
    pool?: BlockPool,
  ) {
    this.pool = pool && to - from >= pool.blockSize ? pool : undefined;
    const linked = signal ? AbortSignal.any([signal, this.stop.signal]) : this.stop.signal;
    this.done = this.fetch(client, object, linked);
  }

  get size(): number {
    return this.to - this.from;
  }

  /** Every byte has been handed out, or the read failed (take() throws it). */
  get ended(): boolean {
    return this.finished && !this.hasBlockBytes();
  }

  private async fetch(client: S3Client, object: ObjectVersion, signal: AbortSignal): Promise<void> {
    try {
      await fetchObject(
        client,
        object,
        { from: this.from, to: this.to, signal },
        this,
        () => (this.firstByteMs = performance.now() - this.sentAt),
      );
    } catch (err) {
      this.failure = err;
    }
    this.finished = true;
    this.notify();
  }

  /** BodySink: the free end of the last block, or a new block. */
  space(): Buffer {
    // Released: what still comes (an SDK chunk being copied) goes nowhere, and takes no block.
    if (this.released) return (this.discard ??= Buffer.allocUnsafe(64 * 1024));
    let last = this.blocks[this.blocks.length - 1];
    if (last === undefined || this.filledBytes === last.length) {
      last = this.pool?.take() ?? Buffer.allocUnsafe(Math.max(1, this.size));
      this.blocks.push(last);
      this.filledBytes = 0;
    }
    return last.subarray(this.filledBytes);
  }

  /** BodySink: `n` more bytes are in the last block. */
  filled(n: number): void {
    noteBytesRead(n);
    if (this.released) return;
    this.filledBytes += n;
    this.notify();
  }

  private hasBlockBytes(): boolean {
    const last = this.blocks.length - 1;
    return this.readBlock < last || (this.readBlock === last && this.readAt < this.filledBytes);
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  /**
   * The next bytes that have come, in order, or undefined: none yet (wait for arrival()) or none
   * left (ended). Throws the read's failure once the bytes before it are handed out. A chunk
   * stays valid until the range is released.
   */
  take(): Buffer | undefined {
    if (this.hasBlockBytes()) {
      const block = this.blocks[this.readBlock];
      const end = this.readBlock === this.blocks.length - 1 ? this.filledBytes : block.length;
      const view = block.subarray(this.readAt, end);
      if (end === block.length) {
        this.readBlock += 1;
        this.readAt = 0;
      } else {
        this.readAt = end;
      }
      return view;
    }
    if (this.finished && this.failure !== undefined) throw this.failure;
    return undefined;
  }

  /** Settles when more bytes have come or the read has ended. */
  arrival(): Promise<void> {
    return new Promise<void>((resolve) => (this.wake = resolve));
  }

  /** Ends the GET if it still runs, and gives its blocks back: no chunk of it is read after. */
  release(): void {
    this.released = true;
    this.stop.abort();
    this.pool?.give(this.blocks.splice(0));
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
