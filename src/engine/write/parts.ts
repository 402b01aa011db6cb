import { MiB } from '../../shared/limits';
import crypto from 'node:crypto';
import { crc32Combine } from '../../zip';
import { crc32Base64, type HeldPart, type MultipartSession } from '../../s3/multipart';
import { PartBuffers } from './partBuffers';
import { crc32Of } from '../../zip/crc32';

/**
 * Bytes of parts in flight the upload side may grow to when the request does not fix
 * uploadConcurrency: 5 parts of 8 MiB (with 6, a far `mid` run peaked at 272 MiB). Parts are
 * the largest part of the archive's own memory; what else holds a worker's peak is in
 * docs/benchmarks.md, "Where the worker's memory goes".
 */
export const UPLOAD_BUDGET = 40 * MiB;

/** Parts in flight: from `start`, grown up to `max` while that makes the upload faster. */
export interface UploadConcurrency {
  start: number;
  max: number;
}

/**
 * The request's uploadConcurrency, fixed; else 4 parts at first, grown while throughput grows,
 * up to UPLOAD_BUDGET of parts (never below 4).
 */
export function uploadConcurrencyFor(
  fixed: number | undefined,
  partSize: number,
  start = 4,
): UploadConcurrency {
  if (fixed !== undefined) return { start: fixed, max: fixed };
  return { start, max: Math.max(start, Math.floor(UPLOAD_BUDGET / partSize)) };
}

/**
 * Cuts the archive byte stream into parts of exactly `partSize` bytes (the last may be
 * shorter) and uploads them with at most `concurrency` in flight. A far store (each connection
 * capped, each request a round trip) needs more parts in flight than a near one: when the
 * writer finds every slot taken, it adds one, as long as the last one it added made the parts
 * go up faster, up to `max` (see uploadConcurrencyFor). Bytes are copied once, into
 * the part being filled; the buffers of parts S3 has taken are filled again, so memory is
 * partSize × (concurrency + 1) and steady (no new part-sized allocation, and no concatenated copy,
 * per part). On a resumed run it starts at a part boundary, drops the
 * bytes before it (S3 holds them), and does not re-send a part S3 already holds with the
 * same size and CRC-32 (the bytes are deterministic, so a held part is the same part).
 */
export class PartWriter {
  private filling: Buffer | undefined;
  private filled = 0;
  /** CRC-32 of the bytes in `filling`, kept as they are copied in (its checksum). */
  private fillingCrc = 0;
  private readonly buffers: PartBuffers;
  private position: number;
  private nextPartNumber: number;
  private readonly inFlight = new Set<Promise<void>>();
  private failure: unknown;
  /** Bytes of parts this writer sent that an earlier attempt had already begun to send. */
  resentBytes = 0;
  /** Highest part number this writer began to send. */
  highestSent = 0;

  constructor(
    private readonly session: MultipartSession,
    private readonly partSize: number,
    concurrency: number | UploadConcurrency,
    options: {
      /** Archive offset of the first byte that will be written. */
      position?: number;
      /** Parts 1..partsDone are held; bytes before partsDone × partSize are dropped. */
      partsDone?: number;
      held?: Map<number, HeldPart>;
      /** Called when a part is held by S3 (uploaded now, or found held). */
      onPart?: (partNumber: number) => void;
      /**
       * Highest part number earlier attempts are known to have begun. Every attempt sends parts
       * in order from where it resumed, so each part up to this one was begun before: sending
       * it again is a re-send.
       */
      startedBefore?: number;
      /**
       * Parts this writer must not send (parallel assembly: their bytes wait for a CRC known
       * later); they count as held for onPart, so checkpoints move past them.
       */
      deferred?: { firstPart: number; lastPart: number } | null;
    } = {},
  ) {
    const limits =
      typeof concurrency === 'number' ? { start: concurrency, max: concurrency } : concurrency;
    this.concurrency = limits.start;
    this.maxConcurrency = limits.max;
    this.buffers = new PartBuffers(limits.max + 1);
    this.startedBefore = options.startedBefore ?? 0;
    this.position = options.position ?? 0;
    this.nextPartNumber = (options.partsDone ?? 0) + 1;
    this.skipUntil = (options.partsDone ?? 0) * partSize;
    this.held = options.held ?? new Map();
    this.onPart = options.onPart ?? (() => {});
    this.deferred = options.deferred ?? null;
  }

  /** Parts in flight at most, now; grows up to maxConcurrency (grow()). */
  concurrency: number;
  private maxConcurrency: number;
  /** Bytes S3 has taken so far, and the rate measured at the last change of concurrency. */
  private sentBytes = 0;
  private step = { at: Date.now(), bytes: 0, rate: 0 };
  private readonly deferred: { firstPart: number; lastPart: number } | null;
  private readonly skipUntil: number;
  private readonly startedBefore: number;
  private readonly held: Map<number, HeldPart>;
  private readonly onPart: (partNumber: number) => void;

  /**
   * Appends archive bytes. `crc32`: the chunk's CRC-32 when the caller has it (the encoder's,
   * for STORE data), combined into the part's instead of a second pass over the bytes.
   */
  async write(chunk: Buffer, crc32?: number): Promise<void> {
    if (this.position < this.skipUntil) {
      const drop = Math.min(chunk.length, this.skipUntil - this.position);
      this.position += drop;
      chunk = chunk.subarray(drop);
      crc32 = undefined;
      if (chunk.length === 0) return;
    }
    this.position += chunk.length;
    while (chunk.length > 0) {
      this.filling ??= this.buffers.take(this.partSize);
      const copied = chunk.copy(this.filling, this.filled);
      // A chunk cut at a part boundary: its pieces' CRCs are computed here.
      this.fillingCrc =
        crc32 !== undefined && copied === chunk.length
          ? crc32Combine(this.fillingCrc, crc32, copied)
          : crc32Of(chunk.subarray(0, copied), this.fillingCrc);
      this.filled += copied;
      chunk = chunk.subarray(copied);
      crc32 = undefined; // what is left of the chunk, if anything, is only part of it
      if (this.filled === this.partSize) await this.sendFilled();
    }
  }

  /** Sends what is left as the last part and waits for every upload. */
  async finish(): Promise<void> {
    if (this.filled > 0 || this.nextPartNumber === 1) await this.sendFilled();
    await Promise.all(this.inFlight);
    if (this.failure) throw this.failure;
  }

  private async sendFilled(): Promise<void> {
    const buffer = this.filling ?? Buffer.alloc(0);
    const body = buffer.subarray(0, this.filled);
    const crc32 = this.fillingCrc;
    this.filling = undefined;
    this.filled = 0;
    this.fillingCrc = 0;
    // Reused once S3 has the part (or the upload failed: the run stops anyway).
    const release = (): void => this.buffers.give(buffer);
    await this.send(body, crc32, release);
  }

  /**
   * The upload is what the stream waits for: one more part in flight, if the rate since the
   * last step (measured over at least as many part-sizes as are in flight) beat the one before
   * by 10%. Once a step brings nothing, it stays where it is.
   */
  private grow(): void {
    if (this.concurrency >= this.maxConcurrency) return;
    const bytes = this.sentBytes - this.step.bytes;
    if (bytes < this.concurrency * this.partSize) return; // too few parts to tell yet
    const now = Date.now();
    const rate = bytes / Math.max(1, now - this.step.at);
    if (rate <= this.step.rate * 1.1) {
      this.maxConcurrency = this.concurrency;
      return;
    }
    this.concurrency += 1;
    this.step = { at: now, bytes: this.sentBytes, rate };
  }

  private async send(body: Buffer, crc32: number, release: () => void): Promise<void> {
    if (this.failure) throw this.failure;
    const partNumber = this.nextPartNumber++;
    const held = this.held.get(partNumber);
    const deferred =
      this.deferred !== null &&
      partNumber >= this.deferred.firstPart &&
      partNumber <= this.deferred.lastPart;
    if (deferred) {
      release();
      this.onPart(partNumber);
      return;
    }
    if (held && holdsBody(held, body, crc32)) {
      release();
      this.onPart(partNumber);
      return;
    }
    if (this.inFlight.size >= this.concurrency) this.grow();
    while (this.inFlight.size >= this.concurrency) await Promise.race(this.inFlight);
    if (this.failure) throw this.failure;
    if (partNumber <= this.startedBefore) this.resentBytes += body.length;
    this.highestSent = partNumber;
    const upload = this.session.uploadPart(partNumber, body, crc32).then(
      () => {
        this.sentBytes += body.length;
        this.onPart(partNumber);
      },
      (err: unknown) => {
        this.failure ??= err;
      },
    );
    const tracked = upload.finally(() => {
      this.inFlight.delete(tracked);
      release();
    });
    this.inFlight.add(tracked);
  }
}

/** CRC-32 of the whole object from its parts' CRCs, in part order. */
export function combinedCrc32(parts: Array<{ size: number; crc32: number }>): number {
  return parts.reduce((crc, p) => crc32Combine(crc, p.crc32, p.size), 0);
}

/**
 * Whether the part S3 holds has these bytes: by its CRC-32, or, where ListParts gives none
 * (SeaweedFS), by its ETag when that is the MD5 of the part (unencrypted uploads).
 */
function holdsBody(held: HeldPart, body: Buffer, crc32: number): boolean {
  if (held.size !== body.length) return false;
  if (held.checksumCRC32) return held.checksumCRC32 === crc32Base64(crc32);
  const md5 = /^"?([0-9a-f]{32})"?$/i.exec(held.etag)?.[1];
  return (
    md5 !== undefined && md5.toLowerCase() === crypto.createHash('md5').update(body).digest('hex')
  );
}
