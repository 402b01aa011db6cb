/**
 * restoreChunk's heartbeat details: the chunk's progress and, for each large entry in flight,
 * where its multipart upload is, so a retried attempt continues the same upload instead of
 * sending the parts S3 already holds again.
 */
import { crc32Combine } from '../../zip';
import { currentAttempt } from '../run/attempt';
import { KeepAlive } from '../run/keepAlive';
import { crc32Of } from '../../zip/crc32';

/**
 * One entry's upload at a part boundary: parts 1..partsDone are held by S3 and hold the entry's
 * first bytesDone bytes (as restored: inflated when DEFLATE), whose CRC-32 is crc32.
 */
export interface EntryUploadCheckpoint {
  uploadId: string;
  /** How the upload was created (the integrity header its parts are sent with). */
  checksumType: 'FULL_OBJECT' | 'COMPOSITE' | 'NONE';
  /** Bytes per part, fixed for the upload. */
  partSize: number;
  partsDone: number;
  bytesDone: number;
  crc32: number;
}

export interface RestoreCheckpoint {
  /** Entries of the chunk restored so far (progress). */
  entriesDone: number;
  /** Large entries whose upload is open, by destination key: at most `concurrency` of them. */
  uploads: Record<string, EntryUploadCheckpoint>;
}

/**
 * The checkpoint of a restoreChunk attempt, heartbeated as it changes and on a timer while the
 * attempt makes progress (KeepAlive), so a short heartbeat timeout finds a dead worker.
 */
export class ChunkCheckpoint {
  private readonly ctx = currentAttempt();
  private readonly keepAlive = new KeepAlive(() => this.details());
  private readonly previous: Record<string, EntryUploadCheckpoint>;
  private readonly current: RestoreCheckpoint;

  constructor(previous: unknown) {
    const uploads = (previous as Partial<RestoreCheckpoint> | undefined)?.uploads ?? {};
    this.previous = uploads;
    // Carried over until the entry is reached again: a second crash before then keeps them.
    this.current = { entriesDone: 0, uploads: { ...uploads } };
  }

  /** Where an earlier attempt left the entry's upload, if it had begun one. */
  earlier(key: string): EntryUploadCheckpoint | undefined {
    return this.previous[key];
  }

  /** The entry's upload moved on (or, undefined, is done or gone). */
  update(key: string, upload: EntryUploadCheckpoint | undefined): void {
    if (upload) this.current.uploads[key] = { ...upload };
    else delete this.current.uploads[key];
    this.progressed();
  }

  entriesDone(n: number): void {
    this.current.entriesDone = n;
    this.progressed();
  }

  /** Bytes moved: heartbeat now (the worker sends the latest details at its throttle). */
  progressed(): void {
    this.keepAlive.progressed();
    this.ctx.heartbeat(this.details());
  }

  stop(): void {
    this.keepAlive.stop();
  }

  details(): RestoreCheckpoint {
    return this.current;
  }
}

/**
 * Follows the bytes written into an entry's parts and the parts S3 holds, to move the
 * checkpoint over each part held without a gap, with the CRC-32 of the bytes before it.
 */
export class PartProgress {
  private readonly partCrcs = new Map<number, number>();
  private readonly held = new Set<number>();
  private position: number;
  private partCrc = 0;
  /** CRC-32 of the bytes before the part being filled (from the checkpoint's on). */
  private beforePart: number;

  constructor(
    private readonly at: EntryUploadCheckpoint,
    private readonly moved: (at: EntryUploadCheckpoint) => void,
  ) {
    this.position = at.bytesDone;
    this.beforePart = at.crc32;
  }

  /** CRC-32 of every byte of the entry written so far, the checkpoint's included. */
  get crc32(): number {
    return crc32Combine(this.beforePart, this.partCrc, this.position % this.at.partSize);
  }

  /** Bytes about to be written at the current position (before the part writer takes them). */
  wrote(chunk: Buffer): void {
    const { partSize } = this.at;
    let rest = chunk;
    while (rest.length > 0) {
      const inPart = partSize - (this.position % partSize);
      const take = rest.subarray(0, inPart);
      this.partCrc = crc32Of(take, this.partCrc);
      this.position += take.length;
      rest = rest.subarray(take.length);
      if (this.position % partSize === 0) {
        this.partCrcs.set(this.position / partSize, this.partCrc);
        this.beforePart = crc32Combine(this.beforePart, this.partCrc, partSize);
        this.partCrc = 0;
      }
    }
  }

  /** S3 holds part `n` (sent now, or found held with these bytes). */
  partHeld(n: number): void {
    this.held.add(n);
    let moved = false;
    for (;;) {
      const next = this.at.partsDone + 1;
      const crc = this.partCrcs.get(next);
      if (!this.held.has(next) || crc === undefined) break;
      this.at.crc32 = crc32Combine(this.at.crc32, crc, this.at.partSize);
      this.at.partsDone = next;
      this.at.bytesDone += this.at.partSize;
      this.partCrcs.delete(next);
      this.held.delete(next);
      moved = true;
    }
    if (moved) this.moved(this.at);
  }
}
