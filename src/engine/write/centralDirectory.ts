import { spillChunkKey, spillChunksPrefix } from '../../shared/stateKeys';
import type { S3Client } from '@aws-sdk/client-s3';
import { getState, listKeys, putState, type ListedObject } from '../../s3/objects';
import type { ZipEncoder } from '../../zip';
import { manifestLine } from '../plan/entries';

/**
 * Bytes of chunks this attempt wrote that it keeps to read back from memory: the end of the
 * archive and the manifest read every chunk again, one GET each, which on a far store (a round
 * trip of 50 ms) took 1.5 s apiece for a 200 MB archive of 24 parts. 4 MiB holds the
 * records and manifest lines of some 20,000 entries.
 */
export const SPILL_KEPT_BYTES = 4 * 1024 * 1024;
/** Chunks read at once when they are not kept (an earlier attempt's, or beyond the budget). */
export const SPILL_READ_AHEAD = 4;

/**
 * Central-directory records and manifest lines, spilled to numbered state objects so that a
 * worker never holds O(entries) of them. A flush writes the records of entries up to a
 * checkpoint, so the spilled chunks always match a checkpoint's entry count; after a resume
 * the numbering continues from the checkpoint and later chunks are overwritten.
 */
export class CentralDirectorySpill {
  private records: Buffer[] = [];
  private manifest: string[] = [];
  /** Entries whose records are in chunks (written, or being written). */
  private spilledEntries: number;
  /** The chunk writes so far, one after another. */
  private written: Promise<void> = Promise.resolve();
  /** Chunks this attempt wrote, by number, while they fit in SPILL_KEPT_BYTES. */
  private readonly kept = new Map<number, { cd: Buffer; manifest: Buffer }>();
  private keptBytes = 0;

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
    return spillChunkKey(this.prefix, kind, n);
  }

  add(record: Buffer, manifestLine: string): void {
    this.records.push(record);
    this.manifest.push(manifestLine);
  }

  /** The entry `encoder` closed last (its record, and its manifest line naming `object`). */
  addEntry(encoder: ZipEncoder, object: ListedObject): void {
    this.add(encoder.lastCentralDirectoryRecord!, manifestLine(encoder.lastEntry!, object));
  }

  /**
   * Puts the buffered records of entries before `entryCount` into the next chunk and writes it
   * behind the ones before, in order; resolves to the chunk count once every chunk so far is
   * written (a checkpoint naming chunk k needs the chunks before k too). The caller does not
   * have to wait: the chunk's contents are taken now.
   */
  flushUpTo(entryCount: number): Promise<number> {
    const n = entryCount - this.spilledEntries;
    if (n > 0) {
      const seq = this.chunks;
      const records = Buffer.concat(this.records.slice(0, n));
      const manifest = Buffer.from(this.manifest.slice(0, n).join('\n') + '\n');
      this.records = this.records.slice(n);
      this.manifest = this.manifest.slice(n);
      this.spilledEntries = entryCount;
      this.chunks = seq + 1;
      this.keep(seq, records, manifest);
      this.written = this.written.then(async () => {
        // Both PUTs end before the chunk counts as failed: a PUT still being retried after its
        // attempt has ended could land after a later attempt rewrote the chunk, or after the
        // run's state was removed.
        const puts = await Promise.allSettled([
          putState(this.client, this.bucket, this.key('cd', seq), records),
          putState(this.client, this.bucket, this.key('manifest', seq), manifest),
        ]);
        for (const put of puts) if (put.status === 'rejected') throw put.reason;
      });
    }
    const chunks = this.chunks;
    return this.written.then(() => chunks);
  }

  /** Resolves once every chunk write begun so far has ended, written or failed. */
  settled(): Promise<void> {
    return this.written.then(
      () => {},
      () => {},
    );
  }

  private keep(seq: number, cd: Buffer, manifest: Buffer): void {
    const bytes = cd.length + manifest.length;
    if (this.keptBytes + bytes > SPILL_KEPT_BYTES) return;
    this.kept.set(seq, { cd, manifest });
    this.keptBytes += bytes;
  }

  /**
   * Every chunk of one kind, in order: kept ones from memory, the others read from the store
   * SPILL_READ_AHEAD at a time. Call once every chunk is written (flushUpTo resolved).
   */
  async *read(kind: 'cd' | 'manifest'): AsyncGenerator<Buffer> {
    const ahead: Promise<Buffer>[] = [];
    let next = 0;
    try {
      for (let n = 0; n < this.chunks; n++) {
        for (; next < this.chunks && ahead.length < SPILL_READ_AHEAD; next++) {
          const kept = this.kept.get(next)?.[kind];
          const chunk = kept
            ? Promise.resolve(kept)
            : getState(this.client, this.bucket, this.key(kind, next));
          // Awaited in turn below; a reader that stops early must not leave a rejection unseen.
          chunk.catch(() => {});
          ahead.push(chunk);
        }
        yield await ahead.shift()!;
      }
    } finally {
      ahead.length = 0;
    }
  }
}

/**
 * Every chunk of one kind a spill under `spillPrefix` holds, in order (their names are
 * zero-padded numbers), found by listing: what a retry reads when an earlier attempt completed
 * the archive and its own spill knows no chunk count.
 */
export async function* listedSpillChunks(
  client: S3Client,
  bucket: string,
  spillPrefix: string,
  kind: 'cd' | 'manifest',
): AsyncGenerator<Buffer> {
  for await (const key of listKeys(client, bucket, spillChunksPrefix(spillPrefix, kind))) {
    yield await getState(client, bucket, key);
  }
}
