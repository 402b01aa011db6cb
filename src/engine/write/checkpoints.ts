/**
 * What the streaming writer and a parallel range share about checkpoints: one is taken at a
 * part boundary, and it becomes the one a retry continues from once S3 holds every part up to
 * that boundary without a gap (parts finish out of order).
 */

/** The parts whose last byte is among the archive bytes [start, end): their numbers, in order. */
export function partsEndedBetween(start: number, end: number, partSize: number): number[] {
  const ended: number[] = [];
  for (let part = Math.floor(start / partSize) + 1; part * partSize <= end; part++)
    ended.push(part);
  return ended;
}

/**
 * Checkpoints at part ends waiting for their parts, and the latest one S3 holds every part
 * before. Candidates are given in part order; a part held is reported once.
 */
export class HeldCheckpoints<C> {
  private readonly held = new Set<number>();
  private readonly candidates = new Map<number, C>();
  /** The part the current checkpoint is at. */
  private currentPart: number;

  constructor(
    /** Parts 1..partsDone are held by S3 (as far as this attempt knows). */
    public partsDone: number,
    /** What a retry continues from: a checkpoint at or before the end of part partsDone. */
    public current: C,
  ) {
    this.currentPart = partsDone;
  }

  /** A checkpoint at the end of `part`, taken once S3 holds the parts up to it. */
  candidate(part: number, checkpoint: C): void {
    this.candidates.set(part, checkpoint);
    this.advance();
  }

  /** S3 holds part `part`. */
  partHeld(part: number): void {
    this.held.add(part);
    this.advance();
  }

  /**
   * Moves partsDone over every part held without a gap, and current to the latest candidate
   * within.
   */
  private advance(): void {
    while (this.held.delete(this.partsDone + 1)) this.partsDone += 1;
    for (const [part, candidate] of this.candidates) {
      if (part > this.partsDone) break;
      this.candidates.delete(part);
      if (part > this.currentPart) {
        this.current = candidate;
        this.currentPart = part;
      }
    }
  }
}
