/**
 * Writes an archive the way the workflow does: entries streamed out, each central-directory
 * record spilled to a side file as it is produced, and the end streamed back from that file.
 * Keeps nothing per entry in memory.
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, rmSync, type WriteStream } from 'node:fs';
import { once } from 'node:events';
import {
  ZipEncoder,
  type ArchiveTotals,
  type ByteSource,
  type EndOptions,
  type EntrySpec,
} from '../../src/zip';

export interface SpillResult {
  size: number;
  sha256: string;
  totals: ArchiveTotals;
}

async function write(stream: WriteStream, chunk: Buffer): Promise<void> {
  if (!stream.write(chunk)) await once(stream, 'drain');
}

async function close(stream: WriteStream): Promise<void> {
  stream.end();
  await once(stream, 'finish');
}

/** `out` null: bytes are only hashed and counted (no archive file). */
export async function writeArchiveWithSpill(
  out: string | null,
  spillFile: string,
  entries:
    | AsyncIterable<{ spec: EntrySpec; source?: ByteSource }>
    | Iterable<{ spec: EntrySpec; source?: ByteSource }>,
  end: EndOptions = {},
  onEntry?: (index: number) => void,
): Promise<SpillResult> {
  const encoder = new ZipEncoder();
  const archive = out === null ? null : createWriteStream(out);
  const spill = createWriteStream(spillFile);
  const hash = createHash('sha256');
  let size = 0;
  const emit = async (c: Buffer): Promise<void> => {
    hash.update(c);
    size += c.length;
    if (archive !== null) await write(archive, c);
  };
  let index = 0;
  for await (const { spec, source } of entries) {
    for await (const c of encoder.entry(spec, source)) await emit(c);
    await write(spill, encoder.lastCentralDirectoryRecord as Buffer);
    onEntry?.(index);
    index += 1;
  }
  await close(spill);
  const totals = encoder.totals();
  for await (const c of encoder.end(
    createReadStream(spillFile, { highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>,
    end,
  ))
    await emit(c);
  if (archive !== null) await close(archive);
  rmSync(spillFile, { force: true });
  return { size, sha256: hash.digest('hex'), totals };
}
