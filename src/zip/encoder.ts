/**
 * ZipEncoder: writes entries one after another as a byte stream, keeping only O(1)
 * state (position, entry count, central-directory size, and the entry in flight).
 *
 * Each entry is: local file header (APPNOTE 4.3.7), data (STORE: the caller's buffers
 * passed through; DEFLATE: zlib raw deflate), data descriptor (APPNOTE 4.3.9). An entry
 * whose spec has dataDescriptor false has CRC and sizes in its header and no descriptor:
 * with a CRC given in advance (STORE) it streams and is checked at its end; without one the
 * encoder reads its source whole (and deflates it) before the header. When an entry ends
 * its central-directory record (APPNOTE 4.3.12) is handed to the caller, who spills it;
 * endOfArchive() streams the records back with the end records.
 *
 * Checkpoints: the state is a small JSON value at every entry boundary and at every
 * byte of an entry except inside DEFLATE output (deflate state cannot be saved) and inside
 * an entry read whole before its header (checkpoint at its start).
 */
import { Readable, pipeline } from 'node:stream';
import { promisify } from 'node:util';
import * as zlib from 'node:zlib';
import { crc32Combine } from './crc32Combine';
import { endOfArchive, type ArchiveTotals, type EndOptions } from './end';
import {
  CHECKPOINT_FORMAT,
  checkpointable,
  readsWhole,
  validateCheckpoint,
  type EncoderCheckpoint,
  type EntryCheckpoint,
} from './checkpoint';
import { ZipInputError, ZipStateError } from './errors';
import {
  centralDirectoryRecord,
  dataDescriptor,
  entryNeedsZip64,
  localFileHeader,
  localFileHeaderLength,
  localHeaderNeedsZip64,
  usesDataDescriptor,
  type EntryFacts,
  type HeaderFacts,
} from './records';
import {
  normalizeEntrySpec,
  prepareEntry,
  type EntrySpec,
  type NormalizedEntrySpec,
  type PreparedEntry,
} from './spec';
import { crc32Of } from './crc32';

/** Facts about a finished entry, for manifests. */
export interface EntryResult extends EntryFacts {
  name: string;
  zip64: boolean;
  /** The entry's CRC and sizes follow its data (bit 3); false: they are in its local header. */
  dataDescriptor: boolean;
}

const deflateRaw = promisify(zlib.deflateRaw);

/**
 * An entry's data. A chunk is the source's until the encoder asks for the next one, so a source
 * may reuse its memory then (the read side's pooled blocks): the encoder copies what it keeps
 * longer (DEFLATE input, an entry read whole), and a STORE chunk it hands out is, likewise, valid
 * until the encoder is asked for its next chunk.
 */
export type ByteSource = AsyncIterable<Uint8Array> | Iterable<Uint8Array>;

/** The entry being written: its checkpoint's counters, with the prepared entry for its spec. */
type InFlight = Omit<EntryCheckpoint, 'spec'> & { entry: PreparedEntry };

/**
 * A source chunk as a Buffer, checked against the spec's size before it is counted (the caller
 * counts it into `f.uncompressedSize`); undefined for an empty one. A function, not a generator
 * over the source: the data loops run it on every chunk.
 */
function checkedChunk(f: InFlight, raw: Uint8Array): Buffer | undefined {
  if (raw.byteLength === 0) return undefined;
  const { spec } = f.entry;
  const chunk = asBuffer(raw);
  if (spec.size !== null && f.uncompressedSize + chunk.length > spec.size) {
    throw sizeMismatch(spec, f.uncompressedSize + chunk.length);
  }
  return chunk;
}

/** The last chunk handed out, with the state just before it, for checkpoints inside it. */
interface LastChunk {
  chunk: Buffer;
  /** The chunk's own CRC-32, where the encoder computed it anyway (STORE data). */
  crc32?: number;
  positionBefore: number;
  entryCountBefore: number;
  centralDirectorySizeBefore: number;
  before: EntryCheckpoint;
}

function asBuffer(chunk: Uint8Array): Buffer {
  return Buffer.isBuffer(chunk)
    ? chunk
    : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
}

function toEntryCheckpoint(f: InFlight): EntryCheckpoint {
  // An entry read whole has its CRC before its header; a checkpoint holds it only at its start.
  if (readsWhole(f.entry.spec) && f.phase === 'localFileHeader' && f.phaseOffset === 0) {
    return {
      spec: f.entry.spec,
      localHeaderOffset: f.localHeaderOffset,
      phase: f.phase,
      phaseOffset: 0,
      crc32: 0,
      uncompressedSize: 0,
      compressedSize: 0,
    };
  }
  return {
    spec: f.entry.spec,
    localHeaderOffset: f.localHeaderOffset,
    phase: f.phase,
    phaseOffset: f.phaseOffset,
    crc32: f.crc32,
    uncompressedSize: f.uncompressedSize,
    compressedSize: f.compressedSize,
  };
}

/** CRC and sizes for the local header of an entry in flight. */
function headerFacts(f: InFlight): HeaderFacts {
  const { spec } = f.entry;
  if (spec.crc32 !== null && spec.size !== null)
    return { crc32: spec.crc32, compressedSize: spec.size, uncompressedSize: spec.size };
  return f;
}

function sizeMismatch(spec: NormalizedEntrySpec, fed: number): ZipInputError {
  return new ZipInputError(
    'size',
    `entry ${JSON.stringify(spec.name)} declared size ${String(spec.size)} but the source gave ${fed}${fed > (spec.size ?? 0) ? ' or more' : ''} bytes; declare the real size (or omit it) or fix the source`,
  );
}

export class ZipEncoder {
  private _position: number;
  private _entryCount: number;
  private _centralDirectorySize: number;
  private inFlight: InFlight | null = null;
  private running = false;
  private lastChunk: LastChunk | null = null;

  /** Central-directory record of the entry that just ended; spill it before the next one. */
  lastCentralDirectoryRecord: Buffer | null = null;
  /** CRC, sizes and offset of the entry that just ended. */
  lastEntry: EntryResult | null = null;

  /**
   * The CRC-32 of `chunk`, if it is the chunk handed out last and the encoder computed it
   * anyway (STORE data); undefined otherwise (headers, DEFLATE output: the caller's own pass).
   */
  chunkCrc32(chunk: Buffer): number | undefined {
    return this.lastChunk?.chunk === chunk ? this.lastChunk.crc32 : undefined;
  }

  constructor() {
    this._position = 0;
    this._entryCount = 0;
    this._centralDirectorySize = 0;
  }

  /** Archive bytes emitted so far. */
  get position(): number {
    return this._position;
  }

  get entryCount(): number {
    return this._entryCount;
  }

  /** True while an entry is started (or resumed) and not finished. */
  get entryInFlight(): boolean {
    return this.inFlight !== null;
  }

  /** Source bytes of the entry in flight read so far (0 between entries). */
  get entryBytesRead(): number {
    return this.inFlight?.uncompressedSize ?? 0;
  }

  /**
   * Starts an entry and returns its bytes: header, data, data descriptor. The spec is
   * validated now (ZipInputError); the source is read as the result is iterated.
   */
  entry(spec: EntrySpec, source?: ByteSource): AsyncGenerator<Buffer, void, undefined> {
    const normalized = normalizeEntrySpec(spec);
    if (this.inFlight !== null || this.running) {
      throw new ZipStateError(
        'an entry is already in flight; finish iterating it (or resume) before starting the next',
      );
    }
    if (!normalized.directory && source === undefined) {
      throw new ZipInputError(
        'source',
        `entry ${JSON.stringify(normalized.name)} is a file and needs a source (an empty iterable for an empty file)`,
      );
    }
    this.inFlight = {
      entry: prepareEntry(normalized),
      localHeaderOffset: this._position,
      phase: 'localFileHeader',
      phaseOffset: 0,
      crc32: 0,
      uncompressedSize: 0,
      compressedSize: 0,
    };
    this.lastChunk = null;
    return this.run(source ?? []);
  }

  /**
   * Continues the entry in flight of a resumed encoder. `source` must yield the entry's
   * data from byte `checkpoint.entry.uncompressedSize` on (see resumeSourceOffset);
   * it is not read when the checkpoint lies in the data descriptor.
   */
  continueEntry(source?: ByteSource): AsyncGenerator<Buffer, void, undefined> {
    const f = this.inFlight;
    if (f === null) throw new ZipStateError('no entry in flight; use entry() to start one');
    if (this.running) throw new ZipStateError('the entry in flight is already being iterated');
    const needsSource = !f.entry.spec.directory && f.phase !== 'dataDescriptor';
    if (needsSource && source === undefined) {
      throw new ZipInputError(
        'source',
        `entry ${JSON.stringify(f.entry.spec.name)} needs its source from byte ${f.uncompressedSize}`,
      );
    }
    return this.run(source ?? []);
  }

  /**
   * The state at archive byte `at` (default: everything emitted so far). `at` may lie
   * inside the last chunk handed out, so a part boundary can cut a chunk. Throws
   * ZipStateError inside DEFLATE data: checkpoint at that entry's start instead.
   */
  checkpoint(at: number = this._position): EncoderCheckpoint {
    if (at === this._position) {
      const entry = this.inFlight === null ? null : toEntryCheckpoint(this.inFlight);
      if (entry !== null && !checkpointable(entry)) {
        throw new ZipStateError(
          `position ${at} is inside the data of ${JSON.stringify(entry.spec.name)}, which has no saved state (DEFLATE, or read whole); checkpoint at the entry's start`,
        );
      }
      return {
        format: CHECKPOINT_FORMAT,
        position: this._position,
        entryCount: this._entryCount,
        centralDirectorySize: this._centralDirectorySize,
        entry,
      };
    }
    const last = this.lastChunk;
    if (last === null || at < last.positionBefore || at > this._position) {
      throw new ZipStateError(
        `can checkpoint at ${this._position} or inside the last chunk handed out, not at ${at}`,
      );
    }
    const cut = at - last.positionBefore;
    const entry: EntryCheckpoint = { ...last.before, phaseOffset: last.before.phaseOffset + cut };
    if (entry.phase === 'data') {
      if (entry.spec.compression === 'deflate' || readsWhole(entry.spec)) {
        throw new ZipStateError(
          `position ${at} is inside the data of ${JSON.stringify(entry.spec.name)}, which has no saved state (DEFLATE, or read whole); checkpoint at the entry's start`,
        );
      }
      const part = last.chunk.subarray(0, cut);
      entry.crc32 = crc32Of(part, entry.crc32);
      entry.uncompressedSize += cut;
      entry.compressedSize += cut;
    } else if (!checkpointable(entry)) {
      throw new ZipStateError(`position ${at} cannot be checkpointed`);
    }
    return {
      format: CHECKPOINT_FORMAT,
      position: at,
      entryCount: last.entryCountBefore,
      centralDirectorySize: last.centralDirectorySizeBefore,
      entry,
    };
  }

  /** Totals for endOfArchive(); only between entries. */
  totals(): ArchiveTotals {
    if (this.inFlight !== null)
      throw new ZipStateError('an entry is in flight; finish it before ending the archive');
    return {
      entryCount: this._entryCount,
      centralDirectoryOffset: this._position,
      centralDirectorySize: this._centralDirectorySize,
    };
  }

  /** Shorthand for endOfArchive(records, this.totals(), options). */
  end(
    records: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
    options: EndOptions = {},
  ): AsyncGenerator<Buffer, void, undefined> {
    return endOfArchive(records, this.totals(), options);
  }

  /** An encoder that continues the byte stream exactly where `checkpoint` was taken. */
  static resume(checkpoint: EncoderCheckpoint): ZipEncoder {
    const cp = validateCheckpoint(checkpoint);
    const encoder = new ZipEncoder();
    encoder._position = cp.position;
    encoder._entryCount = cp.entryCount;
    encoder._centralDirectorySize = cp.centralDirectorySize;
    if (cp.entry !== null) {
      encoder.inFlight = {
        entry: prepareEntry(cp.entry.spec),
        localHeaderOffset: cp.entry.localHeaderOffset,
        phase: cp.entry.phase,
        phaseOffset: cp.entry.phaseOffset,
        crc32: cp.entry.crc32,
        uncompressedSize: cp.entry.uncompressedSize,
        compressedSize: cp.entry.compressedSize,
      };
      // The rebuilt header and the offsets in the checkpoint must agree.
      const expected = expectedPosition(encoder.inFlight);
      if (expected !== cp.position) {
        throw new ZipInputError(
          'checkpoint',
          `is inconsistent: entry progress puts the position at ${expected}, checkpoint says ${cp.position}`,
        );
      }
    }
    return encoder;
  }

  /**
   * Records the state before `chunk`, then advances the position past it. The entry's last
   * chunk passes the counts from before `finish` counted the entry (`before`).
   */
  private handOut(
    chunk: Buffer,
    f: InFlight,
    before = {
      entryCountBefore: this._entryCount,
      centralDirectorySizeBefore: this._centralDirectorySize,
    },
    crc32?: number,
  ): void {
    this.lastChunk = {
      chunk,
      crc32,
      positionBefore: this._position,
      ...before,
      before: toEntryCheckpoint(f),
    };
    this._position += chunk.length;
    f.phaseOffset += chunk.length;
  }

  private async *run(source: ByteSource): AsyncGenerator<Buffer, void, undefined> {
    const f = this.inFlight;
    if (f === null) throw new ZipStateError('no entry in flight');
    if (this.running) throw new ZipStateError('the entry in flight is already being iterated');
    this.running = true;
    try {
      const { spec } = f.entry;

      if (readsWhole(spec) && f.phase === 'localFileHeader') {
        yield* this.wholeEntry(f, source);
        return;
      }

      if (f.phase === 'localFileHeader') {
        const header = localFileHeader(f.entry, headerFacts(f));
        const rest = header.subarray(f.phaseOffset);
        // A directory ends with its header: finish before handing out its last bytes.
        if (spec.directory) {
          const cdState = this.finish(f);
          if (rest.length > 0) {
            this.handOut(rest, f, cdState);
            yield rest;
          }
          return;
        }
        if (rest.length > 0) {
          this.handOut(rest, f);
          yield rest;
        }
        f.phase = 'data';
        f.phaseOffset = 0;
      }

      if (f.phase === 'data') {
        if (spec.compression === 'store') {
          yield* this.storeData(f, source);
        } else {
          yield* this.deflateData(f, source);
        }
        if (spec.size !== null && f.uncompressedSize !== spec.size)
          throw sizeMismatch(spec, f.uncompressedSize);
        if (!usesDataDescriptor(spec)) {
          // Known CRC in the header (the data was handed out): nothing follows the data.
          if (spec.crc32 !== null && f.crc32 !== spec.crc32) {
            throw new ZipInputError(
              'crc32',
              `entry ${JSON.stringify(spec.name)} has CRC-32 ${hex(f.crc32)} but ${hex(spec.crc32)} was given for its header; the source changed or the given CRC-32 is wrong`,
            );
          }
          this.finish(f);
          return;
        }
        f.phase = 'dataDescriptor';
        f.phaseOffset = 0;
      }

      // phase: dataDescriptor
      const zip64 = entryNeedsZip64(spec.forceZip64, f);
      const descriptor = dataDescriptor(f, zip64);
      const rest = descriptor.subarray(f.phaseOffset);
      const cdState = this.finish(f);
      if (rest.length > 0) {
        this.handOut(rest, f, cdState);
        yield rest;
      }
    } finally {
      this.running = false;
    }
  }

  /**
   * An entry without descriptor and without a CRC given: the source is read whole (the caller
   * keeps such sources small) and deflated if asked, so the header can carry CRC and sizes.
   * The entry closes before its last bytes go out, as with a descriptor.
   */
  private async *wholeEntry(
    f: InFlight,
    source: ByteSource,
  ): AsyncGenerator<Buffer, void, undefined> {
    const { spec } = f.entry;
    // Copied as they come: the source may reuse a chunk once the next one is asked for.
    const chunks: Buffer[] = [];
    for await (const raw of source) {
      const chunk = checkedChunk(f, raw);
      if (chunk === undefined) continue;
      chunks.push(Buffer.from(chunk));
      f.uncompressedSize += chunk.length;
    }
    if (spec.size !== null && f.uncompressedSize !== spec.size)
      throw sizeMismatch(spec, f.uncompressedSize);
    const raw = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
    f.crc32 = crc32Of(raw);
    const data =
      spec.compression === 'deflate' ? await deflateRaw(raw, { level: spec.level }) : raw;
    f.compressedSize = data.length;
    const header = localFileHeader(f.entry, f);
    if (data.length === 0) {
      this.handOut(header, f, this.finish(f));
      yield header;
      return;
    }
    this.handOut(header, f);
    yield header;
    f.phase = 'data';
    f.phaseOffset = 0;
    this.handOut(data, f, this.finish(f), spec.compression === 'deflate' ? undefined : f.crc32);
    yield data;
  }

  /** STORE: the caller's buffers go out as they are; only the CRC is computed. */
  private async *storeData(
    f: InFlight,
    source: ByteSource,
  ): AsyncGenerator<Buffer, void, undefined> {
    for await (const raw of source) {
      const chunk = checkedChunk(f, raw);
      if (chunk === undefined) continue;
      // The chunk's own CRC-32, combined into the entry's: the part writer reuses it for the
      // part's checksum instead of a second pass over the same bytes.
      const crc32 = crc32Of(chunk);
      this.handOut(chunk, f, undefined, crc32);
      f.crc32 = crc32Combine(f.crc32, crc32, chunk.length);
      f.uncompressedSize += chunk.length;
      f.compressedSize += chunk.length;
      yield chunk;
    }
  }

  /** DEFLATE: raw deflate stream (APPNOTE 4.4.5 method 8) with backpressure both ways. */
  private async *deflateData(
    f: InFlight,
    source: ByteSource,
  ): AsyncGenerator<Buffer, void, undefined> {
    async function* consumed(): AsyncGenerator<Buffer, void, undefined> {
      for await (const raw of source) {
        const chunk = checkedChunk(f, raw);
        if (chunk === undefined) continue;
        f.crc32 = crc32Of(chunk, f.crc32);
        f.uncompressedSize += chunk.length;
        // A copy: zlib may still hold it when the next chunk is asked for.
        yield Buffer.from(chunk);
      }
    }
    const deflate = zlib.createDeflateRaw({ level: f.entry.spec.level });
    // pipeline forwards a source error into `deflate`, which makes the loop below throw it.
    pipeline(Readable.from(consumed(), { highWaterMark: 1 }), deflate, () => undefined);
    for await (const out of deflate as AsyncIterable<Buffer>) {
      if (out.length === 0) continue;
      this.handOut(out, f);
      f.compressedSize += out.length;
      yield out;
    }
  }

  /** Ends the entry: its central-directory record is produced and counted. */
  private finish(f: InFlight): { entryCountBefore: number; centralDirectorySizeBefore: number } {
    const before = {
      entryCountBefore: this._entryCount,
      centralDirectorySizeBefore: this._centralDirectorySize,
    };
    const facts: EntryFacts = {
      crc32: f.crc32,
      compressedSize: f.compressedSize,
      uncompressedSize: f.uncompressedSize,
      localHeaderOffset: f.localHeaderOffset,
    };
    const record = centralDirectoryRecord(f.entry, facts);
    this.lastCentralDirectoryRecord = record;
    this.lastEntry = {
      name: f.entry.spec.name,
      ...facts,
      zip64: entryNeedsZip64(f.entry.spec.forceZip64, facts),
      dataDescriptor: usesDataDescriptor(f.entry.spec),
    };
    this._entryCount += 1;
    this._centralDirectorySize += record.length;
    this.inFlight = null;
    return before;
  }
}

/** Where the archive position must be for an entry's progress. */
function expectedPosition(f: InFlight): number {
  const headerLength = localFileHeaderLength(
    f.entry.nameBytes.length,
    localHeaderNeedsZip64(f.entry.spec, headerFacts(f)),
  );
  switch (f.phase) {
    case 'localFileHeader':
      return f.localHeaderOffset + f.phaseOffset;
    case 'data':
      return f.localHeaderOffset + headerLength + f.phaseOffset;
    case 'dataDescriptor':
      return f.localHeaderOffset + headerLength + f.compressedSize + f.phaseOffset;
  }
}

function hex(crc: number): string {
  return `0x${crc.toString(16).padStart(8, '0')}`;
}
