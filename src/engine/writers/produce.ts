/**
 * Archive bytes from a layout fixed in advance (all-STORE, sizes from the listing): the plan's
 * entries walked from an anchor, and any byte range [at, to) of the entries produced by an
 * encoder resumed at `at`, with data read by ranged GETs pinned to the listed ETag. Shared by
 * parallel assembly (src/engine/writers/assemble.ts) and server-side copy (src/engine/writers/copy.ts).
 */
import { currentAttempt } from '../run/attempt';
import type { S3Client } from '@aws-sdk/client-s3';
import type { ListedObject } from '../../s3/objects';
import {
  ArchiveLayout,
  normalizeEntrySpec,
  resumeSourceOffset,
  ZipEncoder,
  ZipStateError,
  type EncoderCheckpoint,
  type EntryLayout,
  type EntrySpec,
} from '../../zip';
import type { ArchiveRequest } from '../../shared/request';
import { readPlanChunk } from '../plan/plan';
import { ReadAhead, readBlocks, readLimitsFor } from '../read/readAhead';
import { laidOutSpecOf, WHOLE_ENTRY_MAX_BYTES } from '../plan/entries';

/** A point of the plan at an entry boundary: the layout continues from here. */
export interface Anchor {
  cursor: { chunk: number; index: number };
  layout: EncoderCheckpoint;
}

export const START: Anchor = {
  cursor: { chunk: 0, index: 0 },
  layout: new ArchiveLayout().checkpoint(),
};

export interface PlanIo {
  request: ArchiveRequest;
  dst: S3Client;
  statePrefix: string;
  chunks: number;
  /** The plan chunk read last. */
  lastChunk?: { chunk: number; objects: ListedObject[] };
}

/** One planned entry with its place in the layout; place is null after the last entry. */
export interface Placed {
  cursor: { chunk: number; index: number };
  /** The layout's state just before this entry. */
  before: EncoderCheckpoint;
  place: EntryLayout | null;
  object?: ListedObject;
  objects?: ListedObject[];
  spec?: EntrySpec & { name: string };
}

/** The plan's entries from `anchor` on, laid out; O(1) memory besides one plan chunk. */
export async function* placed(io: PlanIo, anchor: Anchor): AsyncGenerator<Placed, void, undefined> {
  const layout = ArchiveLayout.fromCheckpoint(anchor.layout);
  for (let chunk = anchor.cursor.chunk; chunk < io.chunks; chunk++) {
    const objects = await planChunk(io, chunk);
    const first = chunk === anchor.cursor.chunk ? anchor.cursor.index : 0;
    for (let index = first; index < objects.length; index++) {
      const before = layout.checkpoint();
      const spec = laidOutSpecOf(io.request, objects[index]);
      const place = layout.add(spec);
      yield { cursor: { chunk, index }, before, place, object: objects[index], objects, spec };
    }
  }
  yield { cursor: { chunk: io.chunks, index: 0 }, before: layout.checkpoint(), place: null };
}

/** A plan chunk, kept while walks read it again (server-side copy walks once per region). */
async function planChunk(io: PlanIo, chunk: number): Promise<ListedObject[]> {
  if (io.lastChunk?.chunk === chunk) return io.lastChunk.objects;
  const objects = await readPlanChunk(io.dst, io.request.destination.bucket, io.statePrefix, chunk);
  io.lastChunk = { chunk, objects };
  return objects;
}

/**
 * Whether the entry is read whole before its header (CRC-32 and sizes in it, no descriptor):
 * the encoder keeps no state inside it, so it is made from its start wherever it is cut.
 */
function readWhole(item: Placed): boolean {
  return item.place !== null && item.place.dataDescriptorOffset === null && !item.spec!.directory;
}

/**
 * The encoder's checkpoint at byte `at`, or, strictly inside an entry read whole (which has no
 * state there), the checkpoint at its start `entryStart`: a resume makes that entry again.
 */
export function checkpointOrEntryStart(
  encoder: ZipEncoder,
  at: number,
  entryStart: EncoderCheckpoint | null,
): EncoderCheckpoint {
  try {
    return encoder.checkpoint(at);
  } catch (err) {
    if (err instanceof ZipStateError && entryStart !== null) return entryStart;
    throw err;
  }
}

/** The entry containing byte `at` (or the one starting there, or the end). */
async function entryAt(walk: AsyncGenerator<Placed>, at: number): Promise<Placed> {
  for (;;) {
    const { value, done } = await walk.next();
    if (done) throw new Error(`the plan ends before byte ${at}`);
    if (value.place === null || value.place.end > at) return value;
  }
}

/**
 * The encoder checkpoint at byte `at` of the entry `item`, with `crc` the CRC-32 of the data
 * bytes before `at` that the caller counts (all of them, or only those of its own range).
 */
export function checkpointAt(item: Placed, at: number, crc: number): EncoderCheckpoint {
  const p = item.place;
  if (p === null || at === p.localHeaderOffset) return item.before;
  const base = { spec: normalizeEntrySpec(item.spec!), localHeaderOffset: p.localHeaderOffset };
  let entry: EncoderCheckpoint['entry'];
  if (at < p.dataOffset) {
    entry = {
      ...base,
      phase: 'localFileHeader',
      phaseOffset: at - p.localHeaderOffset,
      crc32: 0,
      uncompressedSize: 0,
      compressedSize: 0,
    };
  } else if (at < p.dataDescriptorOffset!) {
    const n = at - p.dataOffset;
    entry = {
      ...base,
      phase: 'data',
      phaseOffset: n,
      crc32: crc,
      uncompressedSize: n,
      compressedSize: n,
    };
  } else {
    const phaseOffset = at - p.dataDescriptorOffset!;
    entry = {
      ...base,
      phase: 'dataDescriptor',
      phaseOffset,
      crc32: crc,
      uncompressedSize: p.size,
      compressedSize: p.size,
    };
  }
  return { ...item.before, position: at, entry };
}

export interface ProduceHooks {
  /** The CRC-32 the encoder starts from for the entry in flight at the start. */
  crcAt(place: EntryLayout): number;
  /**
   * The encoder's checkpoint at the start, and the source bytes of the entry in flight there
   * that whoever made the bytes before `at` read (an entry read whole: all of them).
   */
  started?(checkpoint: EncoderCheckpoint, readBefore: number): void;
  /**
   * Archive bytes in order; `encoder` can checkpoint inside the chunk, except inside an entry
   * read whole, whose start is then `entryStart` (null for other entries; see
   * checkpointOrEntryStart).
   */
  chunk(chunk: Buffer, encoder: ZipEncoder, entryStart: EncoderCheckpoint | null): Promise<void>;
  /** An entry whose last byte lies before `to`, before that byte is passed on. */
  entryDone(item: Placed, encoder: ZipEncoder): void;
  /**
   * Objects whose data is placed by other means (server-side copy): never read, and nothing
   * is read ahead past them (the bytes after them are produced by a later call).
   */
  dataless?(entry: number): boolean;
  /** Entries at which reading ahead stops (default: the dataless ones). */
  stopReadAhead?(entry: number): boolean;
}

/**
 * The archive bytes [at, to) of the entries (not the central directory), from the layout and
 * the sources: header and descriptor bytes computed, data by (ranged) GETs pinned to the
 * listed ETag. Stops reading a source at `to`.
 */
export async function produce(
  io: PlanIo,
  src: S3Client,
  anchor: Anchor,
  at: number,
  to: number,
  hooks: ProduceHooks,
): Promise<void> {
  const signal = currentAttempt().signal;
  const bucket = io.request.source.bucket;
  const walk = placed(io, anchor);
  let readAhead: { chunk: number; reader: ReadAhead } | undefined;
  const blocks = readBlocks(); // shared by the readers of the plan chunks
  try {
    let item = await entryAt(walk, at);
    // Cut inside an entry read whole (at most WHOLE_ENTRY_MAX_BYTES), the encoder makes it from
    // its start and the bytes before `at` are dropped: they are the same bytes.
    const from = readWhole(item) ? item.place!.localHeaderOffset : at;
    const checkpoint = checkpointAt(item, from, item.place ? hooks.crcAt(item.place) : 0);
    hooks.started?.(
      checkpoint,
      from < at ? item.place!.size : (checkpoint.entry?.uncompressedSize ?? 0),
    );
    const encoder = ZipEncoder.resume(checkpoint);
    let position = from;
    // Data bytes of an entry that are read: all of an entry read whole, else those before `to`.
    const dataEndAt = (it: Placed, p: EntryLayout): number =>
      readWhole(it) ? p.size : Math.max(0, Math.min(p.size, to - p.dataOffset));
    const pass = async (chunk: Buffer, entryStart: EncoderCheckpoint | null): Promise<boolean> => {
      const start = position;
      position += chunk.length;
      const skip = Math.max(0, at - start);
      const end = Math.min(chunk.length, Math.max(0, to - start));
      // An uncut chunk goes on as the encoder's own Buffer, whose CRC-32 it can then give.
      const cut = skip === 0 && end === chunk.length ? chunk : chunk.subarray(skip, end);
      if (cut.length > 0) await hooks.chunk(cut, encoder, entryStart);
      return position >= to;
    };
    while (item.place !== null && position < to) {
      if (signal.aborted) throw signal.reason;
      const place: EntryLayout = item.place;
      if (readAhead?.chunk !== item.cursor.chunk) {
        readAhead?.reader.close();
        // A chunk's objects are consecutive entries: entry = first + index in the chunk.
        const first = place.index - item.cursor.index;
        const reader = new ReadAhead(src, bucket, item.objects!, item.cursor.index, signal, {
          limits: readLimitsFor(io.request),
          blocks,
          stopAt: (index) => (hooks.stopReadAhead ?? hooks.dataless)?.(first + index) ?? false,
          // The data of [position, to) is at most to - position bytes, plus the rest of an
          // entry read whole that `to` cuts: nothing read past it.
          total: to - position + WHOLE_ENTRY_MAX_BYTES,
        });
        readAhead = { chunk: item.cursor.chunk, reader };
      }
      // Only the data before `to` is read (an entry cut by the end of the range).
      const sourceFrom = encoder.entryInFlight ? (resumeSourceOffset(checkpoint) ?? 0) : 0;
      const dataless = item.spec!.directory || hooks.dataless?.(place.index);
      const dataEnd = dataEndAt(item, place);
      const source =
        dataless || sourceFrom >= dataEnd
          ? []
          : await readAhead.reader.open(item.cursor.index, sourceFrom, dataEnd);
      const bytes = encoder.entryInFlight
        ? encoder.continueEntry(source)
        : encoder.entry(item.spec!, source);
      // The record of an entry is complete once its descriptor is made, before its last bytes go
      // out: hand it over first, so a checkpoint after those bytes finds it spilled.
      const owned = place.end <= to;
      const entryStart = readWhole(item) ? item.before : null;
      let done = false;
      for await (const chunk of bytes) {
        if (owned && !done && !encoder.entryInFlight) {
          hooks.entryDone(item, encoder);
          done = true;
        }
        if (await pass(chunk, entryStart)) break;
      }
      if (owned && !done) hooks.entryDone(item, encoder);
      if (position >= to) break;
      item = await entryAt(walk, position);
    }
  } finally {
    readAhead?.reader.close(); // GETs sent ahead for entries past `to`
    await walk.return();
  }
}

/**
 * Source bytes an encoder resumed at `at` reads (progress figures): the data of the entry in
 * flight there before `at` was read by whoever made those bytes, so counting starts at it.
 */
export class SourceBytesRead {
  private last = 0;

  constructor(public total = 0) {}

  /** The source bytes of the entry in flight at the start already read (produce's `started`). */
  started(readBefore: number): void {
    this.last = readBefore;
  }

  /** After each chunk: what the encoder read of the entry in flight since the last call. */
  update(encoder: ZipEncoder): void {
    const read = encoder.entryBytesRead;
    if (read < this.last) this.last = 0; // a new entry
    this.total += read - this.last;
    this.last = read;
  }
}
