import type { StreamProgress } from '../../shared/progress';
import type { PlannedPart } from './copyPlan';

/**
 * The progress figures of a server-side copy run. Copies finish out of order and after the
 * bytes around them are made, so an entry counts as done once the made bytes have passed it
 * and every part holding its copied bytes is held; parts count as S3 holds them.
 */
export class CopyProgress {
  entriesDone = 0;
  bytesDone = 0;
  partsDone: number;
  /** Copied entries' parts not yet held. */
  private readonly waiting = new Map<number, number>();
  /** Entries the made bytes have passed that still wait for their copies, with their sizes. */
  private readonly passed = new Map<number, number>();
  /** The plan's parts in order, to name the one the made bytes are in. */
  private readonly ends: number[];

  constructor(
    private readonly parts: PlannedPart[],
    held: ReadonlySet<number>,
    private readonly resumes: number,
  ) {
    this.partsDone = held.size;
    this.ends = parts.map((p) => p.end);
    for (const part of parts)
      if (part.kind !== 'stream' && !held.has(part.part))
        this.waiting.set(part.entry, (this.waiting.get(part.entry) ?? 0) + 1);
  }

  /** A part S3 now holds (copied, staged or uploaded). */
  partHeld(part: { kind: 'stream' } | { kind: 'copy' | 'staged'; entry: number }): void {
    this.partsDone += 1;
    if (part.kind === 'stream') return;
    const left = this.waiting.get(part.entry)! - 1;
    if (left > 0) {
      this.waiting.set(part.entry, left);
      return;
    }
    this.waiting.delete(part.entry);
    const size = this.passed.get(part.entry);
    if (size === undefined) return;
    this.passed.delete(part.entry);
    this.done(size);
  }

  /** An entry whose last made byte (its descriptor) is out. */
  entryPassed(entry: number, size: number): void {
    if (this.waiting.has(entry)) this.passed.set(entry, size);
    else this.done(size);
  }

  /** The figures for the progress signal, with the made bytes at archive offset `position`. */
  figures(position: number): StreamProgress {
    return {
      entriesDone: this.entriesDone,
      bytesDone: this.bytesDone,
      partsDone: this.partsDone,
      currentPart: this.partAt(position),
      resumes: this.resumes,
    };
  }

  private done(size: number): void {
    this.entriesDone += 1;
    this.bytesDone += size;
  }

  /** Number of the part holding byte `position` (the last part at or past the end). */
  private partAt(position: number): number {
    if (position === 0) return 0;
    let lo = 0;
    let hi = this.ends.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.ends[mid] > position) hi = mid;
      else lo = mid + 1;
    }
    return this.parts[lo].part;
  }
}
