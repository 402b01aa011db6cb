/**
 * The bytes a server-side copy run makes itself (src/engine/writers/copy.ts): which runs of the
 * archive they form, and how a run is cut into its parts.
 */
import type { PlannedPart, StagedPart } from './copyPlan';
import type { PartBuffers } from '../write/partBuffers';

/** Bytes [start, end) of one part that the worker makes. */
export type Piece = { part: number; start: number; end: number } & (
  { kind: 'stream' } | StagedPart
);

/** Runs of contiguous made bytes: each starts at byte 0 or right after a copied entry's data. */
export function madeRegions(
  parts: PlannedPart[],
): Array<{ start: number; end: number; pieces: Piece[] }> {
  const regions: Array<{ start: number; end: number; pieces: Piece[] }> = [];
  for (const part of parts) {
    if (part.kind === 'copy') continue;
    const piece: Piece =
      part.kind === 'staged' ? { ...part, start: part.made } : { ...part, kind: 'stream' };
    const last = regions[regions.length - 1];
    if (last && last.end === piece.start) {
      last.pieces.push(piece);
      last.end = piece.end;
    } else {
      regions.push({ start: piece.start, end: piece.end, pieces: [piece] });
    }
  }
  return regions;
}

/**
 * Cuts a region's bytes into its pieces and hands each one over when it is whole. Bytes are
 * copied once, into the piece's buffer, so the source chunks die young instead of being held
 * (and promoted) until the piece is whole; `release` hands the buffer back once S3 has it.
 */
export class MadeParts {
  private index = 0;
  private filling: Buffer | undefined;
  private filled = 0;

  constructor(
    private readonly pieces: Piece[],
    private readonly buffers: PartBuffers,
    private readonly complete: (piece: Piece, bytes: Buffer, release: () => void) => Promise<void>,
  ) {}

  async write(chunk: Buffer): Promise<void> {
    let rest = chunk;
    while (rest.length > 0) {
      const piece = this.pieces[this.index];
      if (!piece) throw new Error('more bytes than the planned parts hold');
      const size = piece.end - piece.start;
      this.filling ??= this.buffers.take(size);
      const copied = rest.copy(this.filling, this.filled, 0, size - this.filled);
      this.filled += copied;
      rest = rest.subarray(copied);
      if (this.filled === size) {
        const buffer = this.filling;
        this.filling = undefined;
        this.filled = 0;
        this.index += 1;
        let released = false;
        const release = (): void => {
          if (released) return; // given back once: two pieces must never fill one buffer
          released = true;
          this.buffers.give(buffer);
        };
        await this.complete(piece, buffer.subarray(0, size), release);
      }
    }
  }
}
