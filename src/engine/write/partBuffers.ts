/**
 * Buffers of parts S3 has taken, filled again: a run allocates about as many as it has parts
 * in flight, not one per part (dead part-sized buffers would wait for a full collection and
 * hold the worker's RSS up until then).
 */
export class PartBuffers {
  private readonly free: Buffer[] = [];

  constructor(private readonly keep: number) {}

  /** A free buffer of `size` to 2 × `size` bytes, or a new one of `size`. */
  take(size: number): Buffer {
    let best = -1;
    this.free.forEach((b, i) => {
      if (
        b.length >= size &&
        b.length <= 2 * size &&
        (best < 0 || b.length < this.free[best].length)
      )
        best = i;
    });
    return best >= 0 ? this.free.splice(best, 1)[0] : Buffer.allocUnsafeSlow(size);
  }

  give(buffer: Buffer): void {
    this.free.push(buffer);
    // Over `keep`, the smallest goes.
    if (this.free.length > this.keep) {
      this.free.sort((x, y) => y.length - x.length);
      this.free.pop();
    }
  }
}
