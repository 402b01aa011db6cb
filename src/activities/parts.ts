import { crc32Combine } from '../zip';
import { crc32Base64, type HeldPart, type MultipartSession } from '../s3/multipart';
import zlib from 'node:zlib';

/**
 * Cuts the archive byte stream into parts of exactly `partSize` bytes (the last may be
 * shorter) and uploads them with at most `concurrency` in flight; memory is bounded by
 * partSize × (concurrency + 1). On a resumed run it starts at a part boundary, drops the
 * bytes before it (S3 holds them), and does not re-send a part S3 already holds with the
 * same size and CRC-32 (the bytes are deterministic, so a held part is the same part).
 */
export class PartWriter {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
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
    private readonly concurrency: number,
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
    this.startedBefore = options.startedBefore ?? 0;
    this.position = options.position ?? 0;
    this.nextPartNumber = (options.partsDone ?? 0) + 1;
    this.skipUntil = (options.partsDone ?? 0) * partSize;
    this.held = options.held ?? new Map();
    this.onPart = options.onPart ?? (() => {});
    this.deferred = options.deferred ?? null;
  }

  private readonly deferred: { firstPart: number; lastPart: number } | null;
  private readonly skipUntil: number;
  private readonly startedBefore: number;
  private readonly held: Map<number, HeldPart>;
  private readonly onPart: (partNumber: number) => void;

  async write(chunk: Buffer): Promise<void> {
    if (this.position < this.skipUntil) {
      const drop = Math.min(chunk.length, this.skipUntil - this.position);
      this.position += drop;
      chunk = chunk.subarray(drop);
      if (chunk.length === 0) return;
    }
    this.position += chunk.length;
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    while (this.pendingBytes >= this.partSize) {
      const all = Buffer.concat(this.pending, this.pendingBytes);
      const rest = all.subarray(this.partSize);
      this.pending = rest.length > 0 ? [rest] : [];
      this.pendingBytes = rest.length;
      await this.send(all.subarray(0, this.partSize));
    }
  }

  /** Sends what is left as the last part and waits for every upload. */
  async finish(): Promise<void> {
    if (this.pendingBytes > 0 || this.nextPartNumber === 1) {
      await this.send(Buffer.concat(this.pending, this.pendingBytes));
      this.pending = [];
      this.pendingBytes = 0;
    }
    await Promise.all(this.inFlight);
    if (this.failure) throw this.failure;
  }

  private async send(body: Buffer): Promise<void> {
    if (this.failure) throw this.failure;
    const partNumber = this.nextPartNumber++;
    const held = this.held.get(partNumber);
    const deferred =
      this.deferred !== null &&
      partNumber >= this.deferred.firstPart &&
      partNumber <= this.deferred.lastPart;
    if (deferred) {
      this.onPart(partNumber);
      return;
    }
    if (held && held.size === body.length && held.checksumCRC32 === crc32Base64(zlib.crc32(body))) {
      this.onPart(partNumber);
      return;
    }
    while (this.inFlight.size >= this.concurrency) await Promise.race(this.inFlight);
    if (this.failure) throw this.failure;
    if (partNumber <= this.startedBefore) this.resentBytes += body.length;
    this.highestSent = partNumber;
    const upload = this.session.uploadPart(partNumber, body).then(
      () => this.onPart(partNumber),
      (err: unknown) => {
        this.failure ??= err;
      },
    );
    const tracked = upload.finally(() => this.inFlight.delete(tracked));
    this.inFlight.add(tracked);
  }
}

/** CRC-32 of the whole object from its parts' CRCs, in part order. */
export function combinedCrc32(parts: Array<{ size: number; crc32: number }>): number {
  return parts.reduce((crc, p) => crc32Combine(crc, p.crc32, p.size), 0);
}
