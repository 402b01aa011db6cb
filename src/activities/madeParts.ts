/**
 * The bytes a server-side copy run makes itself (src/activities/copy.ts): which runs of the
 * archive they form, and how a run is cut into its parts.
 */
import type { PlannedPart, StagedPart } from '../zip';

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

/** Cuts a region's bytes into its pieces and hands each one over when it is whole. */
export class MadeParts {
  private index = 0;
  private held: Buffer[] = [];
  private heldBytes = 0;

  constructor(
    private readonly pieces: Piece[],
    private readonly complete: (piece: Piece, bytes: Buffer) => Promise<void>,
  ) {}

  async write(chunk: Buffer): Promise<void> {
    let rest = chunk;
    while (rest.length > 0) {
      const piece = this.pieces[this.index];
      if (!piece) throw new Error('more bytes than the planned parts hold');
      const take = Math.min(rest.length, piece.end - piece.start - this.heldBytes);
      this.held.push(rest.subarray(0, take));
      this.heldBytes += take;
      rest = rest.subarray(take);
      if (this.heldBytes === piece.end - piece.start) {
        const bytes = Buffer.concat(this.held);
        this.held = [];
        this.heldBytes = 0;
        this.index += 1;
        await this.complete(piece, bytes);
      }
    }
  }
}
