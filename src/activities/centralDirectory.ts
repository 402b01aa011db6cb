import type { S3Client } from '@aws-sdk/client-s3';
import { getState, putState } from '../s3/objects';

/**
 * Central-directory records and manifest lines, spilled to numbered state objects so that a
 * worker never holds O(entries) of them. A flush writes the records of entries up to a
 * checkpoint, so the spilled chunks always match a checkpoint's entry count; after a resume
 * the numbering continues from the checkpoint and later chunks are overwritten.
 */
export class CentralDirectorySpill {
  private records: Buffer[] = [];
  private manifest: string[] = [];
  /** Entries whose records are in state objects. */
  private spilledEntries: number;

  constructor(
    private readonly client: S3Client,
    private readonly bucket: string,
    private readonly prefix: string,
    /** State objects already written (from a checkpoint). */
    public chunks = 0,
    spilledEntries = 0,
  ) {
    this.spilledEntries = spilledEntries;
  }

  private key(kind: 'cd' | 'manifest', n: number): string {
    return `${this.prefix}${kind}/${String(n).padStart(8, '0')}`;
  }

  add(record: Buffer, manifestLine: string): void {
    this.records.push(record);
    this.manifest.push(manifestLine);
  }

  /** Writes the buffered records of entries before `entryCount`; returns the chunk count. */
  async flushUpTo(entryCount: number): Promise<number> {
    const n = entryCount - this.spilledEntries;
    if (n <= 0) return this.chunks;
    const seq = this.chunks;
    await Promise.all([
      putState(
        this.client,
        this.bucket,
        this.key('cd', seq),
        Buffer.concat(this.records.slice(0, n)),
      ),
      putState(
        this.client,
        this.bucket,
        this.key('manifest', seq),
        this.manifest.slice(0, n).join('\n') + '\n',
      ),
    ]);
    this.records = this.records.slice(n);
    this.manifest = this.manifest.slice(n);
    this.spilledEntries = entryCount;
    this.chunks = seq + 1;
    return this.chunks;
  }

  async *read(kind: 'cd' | 'manifest'): AsyncGenerator<Buffer> {
    for (let n = 0; n < this.chunks; n++)
      yield await getState(this.client, this.bucket, this.key(kind, n));
  }
}
