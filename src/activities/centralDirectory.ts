import type { S3Client } from '@aws-sdk/client-s3';
import { getState, putState } from '../s3/objects';

const SPILL_BYTES = 4 * 1024 * 1024;

/**
 * Central-directory records, spilled to numbered state objects as they accumulate so that a
 * worker never holds O(entries) of them; read back in order for the end of the archive.
 */
export class CentralDirectorySpill {
  private buffered: Buffer[] = [];
  private bufferedBytes = 0;
  chunks = 0;

  constructor(
    private readonly client: S3Client,
    private readonly bucket: string,
    private readonly prefix: string,
  ) {}

  private key(n: number): string {
    return `${this.prefix}cd/${String(n).padStart(8, '0')}`;
  }

  async add(record: Buffer): Promise<void> {
    this.buffered.push(record);
    this.bufferedBytes += record.length;
    if (this.bufferedBytes >= SPILL_BYTES) await this.flush();
  }

  async flush(): Promise<void> {
    if (this.bufferedBytes === 0) return;
    await putState(
      this.client,
      this.bucket,
      this.key(this.chunks),
      Buffer.concat(this.buffered, this.bufferedBytes),
    );
    this.chunks += 1;
    this.buffered = [];
    this.bufferedBytes = 0;
  }

  async *records(): AsyncGenerator<Buffer> {
    await this.flush();
    for (let n = 0; n < this.chunks; n++)
      yield await getState(this.client, this.bucket, this.key(n));
  }
}
