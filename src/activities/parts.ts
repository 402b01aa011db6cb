import { crc32Combine } from '../zip';
import type { MultipartSession, UploadedPart } from '../s3/multipart';

/**
 * Cuts the archive byte stream into parts of exactly `partSize` bytes (the last may be
 * shorter) and uploads them with at most `concurrency` in flight. Memory is bounded by
 * partSize × (concurrency + 1).
 */
export class PartWriter {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private nextPartNumber = 1;
  private inFlight = new Set<Promise<void>>();
  private failure: unknown;
  readonly parts: UploadedPart[] = [];
  uploadedBytes = 0;

  constructor(
    private readonly session: MultipartSession,
    private readonly partSize: number,
    private readonly concurrency: number,
    private readonly onPart: (part: UploadedPart) => void = () => {},
  ) {}

  async write(chunk: Buffer): Promise<void> {
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    while (this.pendingBytes >= this.partSize) {
      const all = Buffer.concat(this.pending, this.pendingBytes);
      const body = all.subarray(0, this.partSize);
      const rest = all.subarray(this.partSize);
      this.pending = rest.length > 0 ? [rest] : [];
      this.pendingBytes = rest.length;
      await this.send(body);
    }
  }

  /** Sends what is left as the last part and waits for every upload. */
  async finish(): Promise<UploadedPart[]> {
    if (this.pendingBytes > 0 || this.nextPartNumber === 1) {
      await this.send(Buffer.concat(this.pending, this.pendingBytes));
      this.pending = [];
      this.pendingBytes = 0;
    }
    await Promise.all(this.inFlight);
    if (this.failure) throw this.failure;
    return [...this.parts].sort((a, b) => a.partNumber - b.partNumber);
  }

  private async send(body: Buffer): Promise<void> {
    if (this.failure) throw this.failure;
    while (this.inFlight.size >= this.concurrency) await Promise.race(this.inFlight);
    if (this.failure) throw this.failure;
    const partNumber = this.nextPartNumber++;
    const upload = this.session.uploadPart(partNumber, body).then(
      (part) => {
        this.parts.push(part);
        this.uploadedBytes += part.size;
        this.onPart(part);
      },
      (err: unknown) => {
        this.failure ??= err;
      },
    );
    const tracked = upload.finally(() => this.inFlight.delete(tracked));
    this.inFlight.add(tracked);
  }
}

/** CRC-32 of the whole object from its parts' CRCs, in part order. */
export function combinedCrc32(parts: UploadedPart[]): number {
  return parts.reduce((crc, p) => crc32Combine(crc, p.crc32, p.size), 0);
}
