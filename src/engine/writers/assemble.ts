/**
 * Parallel assembly of an all-STORE archive (request.parallel): the layout is known from the
 * listing (src/zip/layout.ts), so the parts before the central directory are split into
 * ranges that run as separate activities on any worker, each writing its parts of one
 * multipart upload. The archive bytes equal the sequential path's.
 *
 *   prepareAssembly   lays out the plan, splits the parts (src/zip/ranges.ts), creates the upload
 *   assembleRange     one range: its parts, minus the deferred ones; partial CRCs; spilled records
 *   finishAssembly    the deferred parts (CRCs combined), the end part(s) with the central
 *                     directory and end records, CompleteMultipartUpload, the manifest
 *
 * Every step produces bytes the same way: an encoder resumed at a byte of the layout (an
 * encoder checkpoint computed from the layout, not from a previous run) fed by ranged GETs.
 * Where a range starts inside an entry's data, the encoder's CRC starts at 0 over the bytes
 * it sees: a partial CRC, combined later. An entry of up to 1 MiB has its CRC-32 in its local
 * header instead: every range holding its bytes reads it whole and makes it from its start, and
 * the unit holding its last byte records it. Central-directory records and manifest lines are
 * spilled per unit to state objects and streamed back in entry order.
 */
import { assemblySpillPrefix } from '../../shared/stateKeys';
import type { S3Client } from '@aws-sdk/client-s3';
import { withS3Clients } from '../../s3/client';
import type { HeldPart, MultipartSession } from '../../s3/multipart';
import {
  ArchiveLayout,
  crcOfFirstBytes,
  deferredParts,
  crcUnknownAt,
  endOfArchive,
  splitParts,
  type ArchiveTotals,
  type CrcPiece,
  type EncoderCheckpoint,
  type EntryLayout,
  type PartRange,
  type ZipEncoder,
} from '../../zip';
import { DEFAULT_UPLOAD_CONCURRENCY } from '../../shared/limits';
import { type ArchiveRequest } from '../../shared/request';
import { CentralDirectorySpill } from '../write/centralDirectory';
import type { RecordedArchive, StreamResult } from '../write/finalize';
import type { KeepAlive } from '../run/keepAlive';
import { LiveFigures, liveOf, type LiveProgress, type StreamProgress } from '../../shared/progress';
import { PartWriter } from '../write/parts';
import { attachArchiveUpload, completeArchive, createArchiveUpload } from '../write/archiveUpload';
import { HeldCheckpoints, partsEndedBetween } from '../write/checkpoints';
import { LAID_OUT_ADVICE, runWriter, writerFailures, type WriterAttempt } from './pipeline';
import {
  checkpointOrEntryStart,
  placed,
  produce,
  SourceBytesRead,
  START,
  type Anchor,
  type PlanIo,
} from './produce';

export interface AssemblyInput {
  request: ArchiveRequest;
  statePrefix: string;
  chunks: number;
  partSize: number;
}

export interface AssemblyRange extends PartRange {
  /** The entry boundary at or before `start`. */
  anchor: Anchor;
  /** The entry in flight at `start` when its data began before it (its CRC is unknown here). */
  head: { entry: number; dataOffset: number; end: number } | null;
  /** Parts holding that entry's data descriptor: built by finishAssembly. */
  deferred: { firstPart: number; lastPart: number } | null;
}

/** What prepareAssembly returns: small, whatever the number of entries (invariant 2). */
export interface AssemblyPlan {
  uploadId: string;
  checksumType: 'FULL_OBJECT' | 'COMPOSITE';
  size: number;
  partCount: number;
  totals: ArchiveTotals;
  ranges: AssemblyRange[];
  /** The end unit: from the start of part endFirstPart to the end of the archive. */
  end: { start: number; anchor: Anchor; entries: number };
}

export interface RangeResult {
  index: number;
  /** Partial CRCs of the entries crossing this range's start or end. */
  pieces: CrcPiece[];
  spillChunks: number;
  resentBytes: number;
  resumes: number;
  retries: number;
  /** The range's own progress figures when it finished (the workflow adds them up). */
  progress?: StreamProgress;
}

/**
 * Lays out the whole plan (twice over the plan chunks: once for the size, once for the
 * anchors of the ranges), splits the parts and creates the multipart upload.
 */
export function prepareAssembly(
  input: AssemblyInput & { parallel: number },
): Promise<AssemblyPlan> {
  const { destination } = input.request;
  return writerFailures(input.request, LAID_OUT_ADVICE, () =>
    withS3Clients([{ profile: destination.profile }], async ([dst]) => {
      const { partSize } = input;
      const io: PlanIo = { ...input, dst };
      let end = START.layout;
      for await (const item of placed(io, START)) end = item.before;
      const layout = ArchiveLayout.fromCheckpoint(end);
      const summary = layout.summary();
      const split = splitParts(summary, partSize, input.parallel);
      const endStart = (split.endFirstPart - 1) * partSize;
      const starts = [...split.ranges.map((r) => r.start), endStart];
      const anchors: Array<{ anchor: Anchor; place: EntryLayout | null }> = [];
      for await (const item of placed(io, START)) {
        while (
          anchors.length < starts.length &&
          (item.place === null || item.place.end > starts[anchors.length])
        )
          anchors.push({ anchor: { cursor: item.cursor, layout: item.before }, place: item.place });
        if (anchors.length === starts.length) break;
      }
      const ranges = split.ranges.map((range, i): AssemblyRange => {
        const { anchor, place } = anchors[i];
        const unknown = place !== null && crcUnknownAt(place, range.start);
        return {
          ...range,
          anchor,
          head: unknown
            ? { entry: place.index, dataOffset: place.dataOffset, end: place.end }
            : null,
          deferred: place === null ? null : deferredParts(place, range, partSize),
        };
      });
      const last = anchors[anchors.length - 1];
      const session = await createArchiveUpload(dst, destination, input.statePrefix);
      return {
        uploadId: session.uploadId,
        checksumType: session.checksumType === 'FULL_OBJECT' ? 'FULL_OBJECT' : 'COMPOSITE',
        size: summary.archiveSize,
        partCount: split.partCount,
        totals: layout.totals(),
        ranges,
        end: {
          start: endStart,
          anchor: last.anchor,
          entries: summary.entryCount - (last.place?.index ?? summary.entryCount),
        },
      };
    }),
  );
}

export interface RangeInput extends AssemblyInput {
  uploadId: string;
  checksumType: 'FULL_OBJECT' | 'COMPOSITE';
  range: AssemblyRange;
}

/** Heartbeat details of a range: at the end of part partsDone, S3 holds every part before. */
interface RangeCheckpoint {
  partsDone: number;
  /** CRC-32 of the data of the entry in flight at that byte, as far as this range saw it. */
  crc: number;
  head: CrcPiece | null;
  tail: CrcPiece | null;
  spillChunks: number;
  resentBytes: number;
  partsStarted: number;
  resumes: number;
  /** Entries this range finished and source bytes it read (progress figures, approximate). */
  entriesDone?: number;
  sourceBytesDone?: number;
  /** Progress figures when the heartbeat was sent, for the client (not for resuming). */
  live?: LiveProgress;
}

function rangeUnit(index: number): string {
  return `range-${String(index).padStart(4, '0')}`;
}

/** The head entry's record rebuilt with its true CRC by finishAssembly. */
function headUnit(index: number): string {
  return `head-${String(index).padStart(4, '0')}`;
}

/**
 * Builds one range's parts. Resumable: the heartbeat carries the part reached, the 4-byte CRC
 * state there and the spilled chunk count; the rest is recomputed from the layout, and a retry
 * re-sends no part ListParts shows held.
 */
export function assembleRange(input: RangeInput): Promise<RangeResult> {
  return runWriter(input, LAID_OUT_ADVICE, async (run) =>
    (await RangeBuilder.attach(input, run)).build(),
  );
}

/** One attempt of assembleRange: produces the range's bytes into its parts. */
class RangeBuilder {
  private readonly checkpoints: HeldCheckpoints<RangeCheckpoint>;
  private readonly writer: PartWriter;
  private readonly keepAlive: KeepAlive;
  private readonly live: LiveFigures;
  /** Where this attempt starts: the end of the parts S3 held at the checkpoint. */
  private readonly at: number;
  private position: number;
  /** Data bytes of the head entry before this range: its pieces here start there. */
  private readonly headFrom: number;
  /** The first entry whose record this range spills (not the head entry's). */
  private readonly firstOwned: number;
  private readonly deferredStart: number | null;
  private spill!: CentralDirectorySpill;
  private head: CrcPiece | null;
  // Progress: the range's entries and the source bytes its encoder read (the bytes of an entry
  // in flight at the start belong to the range or attempt before).
  private entriesDone: number;
  private readonly sourceBytes: SourceBytesRead;

  private constructor(
    private readonly input: RangeInput,
    private readonly run: WriterAttempt,
    session: MultipartSession,
    held: HeldPart[],
    private readonly initial: RangeCheckpoint,
  ) {
    const { range, partSize, request } = input;
    this.checkpoints = new HeldCheckpoints(initial.partsDone, initial);
    this.at = initial.partsDone * partSize;
    this.position = this.at;
    this.headFrom = range.head ? range.start - range.head.dataOffset : 0;
    this.firstOwned = range.anchor.layout.entryCount + (range.head ? 1 : 0);
    this.deferredStart = range.deferred ? (range.deferred.firstPart - 1) * partSize : null;
    this.head = initial.head;
    this.entriesDone = initial.entriesDone ?? 0;
    this.sourceBytes = new SourceBytesRead(initial.sourceBytesDone ?? 0);
    this.live = new LiveFigures(() => this.figures(), {
      previous: liveOf(run.attempt.checkpoint as RangeCheckpoint | undefined),
    });
    this.keepAlive = run.keepAlive(() => this.details());
    this.writer = new PartWriter(
      session,
      partSize,
      request.uploadConcurrency ?? DEFAULT_UPLOAD_CONCURRENCY,
      {
        position: this.at,
        partsDone: initial.partsDone,
        held: new Map(held.map((p) => [p.partNumber, p])),
        deferred: range.deferred,
        startedBefore: initial.partsStarted,
        onPart: (n) => {
          this.checkpoints.partHeld(n);
          this.keepAlive.progressed();
          run.attempt.heartbeat(this.details());
        },
      },
    );
  }

  /** Attaches to the upload; the checkpoint is the earlier attempt's, reconciled with ListParts. */
  static async attach(input: RangeInput, run: WriterAttempt): Promise<RangeBuilder> {
    const { range } = input;
    const upload = await attachArchiveUpload(
      run.dst,
      input.request.destination,
      input.uploadId,
      input.checksumType,
    );
    const held = upload.held.filter(
      (p) => p.partNumber >= range.firstPart && p.partNumber <= range.lastPart,
    );
    const previous = run.attempt.checkpoint as RangeCheckpoint | undefined;
    const initial: RangeCheckpoint = previous
      ? {
          ...previous,
          partsStarted: Math.max(previous.partsStarted, ...held.map((p) => p.partNumber)),
          resumes: previous.resumes + 1,
        }
      : {
          partsDone: range.firstPart - 1,
          crc: 0,
          head: null,
          tail: null,
          spillChunks: 0,
          resentBytes: 0,
          partsStarted: 0,
          // An attempt that died before its first heartbeat is a resume too (from the start).
          resumes: run.attempt.number - 1,
        };
    return new RangeBuilder(input, run, upload.session, held, initial);
  }

  async build(): Promise<RangeResult> {
    const { range } = this.input;
    const io: PlanIo = { ...this.input, dst: this.run.dst };
    await produce(io, this.run.src, range.anchor, this.at, range.end, {
      crcAt: () => this.initial.crc,
      started: (cp, readBefore) => this.started(cp, readBefore),
      chunk: (chunk, encoder, entryStart) => this.chunk(chunk, encoder, entryStart),
      entryDone: (item, encoder) => {
        if (item.place!.index < this.firstOwned) return; // the head entry: finishAssembly records it
        this.entriesDone += 1;
        this.spill.addEntry(encoder, item.object!);
      },
    });
    this.live.sourceRead();
    await this.writer.finish();
    const last = this.details();
    if (last.partsDone !== range.lastPart)
      throw new Error(
        `range ${range.index} reached part ${last.partsDone} of ${range.lastPart}; retrying`,
      );
    return {
      index: range.index,
      pieces: [last.head, last.tail].filter((p): p is CrcPiece => p !== null),
      spillChunks: last.spillChunks,
      resentBytes: last.resentBytes,
      resumes: last.resumes,
      retries: this.run.retries(),
      progress: this.figures(),
    };
  }

  /** The encoder's state at the start: the spill continues from its entry. */
  private started(cp: EncoderCheckpoint, readBefore: number): void {
    const { request, statePrefix, range } = this.input;
    this.spill = new CentralDirectorySpill(
      this.run.dst,
      request.destination.bucket,
      assemblySpillPrefix(statePrefix, rangeUnit(range.index)),
      this.initial.spillChunks,
      Math.max(0, cp.entryCount - this.firstOwned),
    );
    if (this.deferredStart === this.at && this.head === null) this.head = this.piece(cp);
    this.sourceBytes.started(readBefore);
  }

  /** Archive bytes: a checkpoint noted at each part end they cross, then into the parts. */
  private async chunk(
    chunk: Buffer,
    encoder: ZipEncoder,
    entryStart: EncoderCheckpoint | null,
  ): Promise<void> {
    const { partSize, range } = this.input;
    const start = this.position;
    this.position += chunk.length;
    this.sourceBytes.update(encoder);
    this.keepAlive.progressed();
    for (const part of partsEndedBetween(start, this.position, partSize)) {
      // Inside an entry read whole, a resume makes it again from its start.
      const cp = checkpointOrEntryStart(encoder, part * partSize, entryStart);
      if (part * partSize === this.deferredStart) this.head = this.piece(cp);
      const spillChunks = await this.spill.flushUpTo(Math.max(0, cp.entryCount - this.firstOwned));
      this.checkpoints.candidate(part, {
        ...this.initial,
        partsDone: part,
        crc: cp.entry?.crc32 ?? 0,
        head: this.head,
        tail: part === range.lastPart ? this.piece(cp) : null,
        spillChunks,
        entriesDone: this.entriesDone,
        sourceBytesDone: this.sourceBytes.total,
      });
    }
    await this.writer.write(chunk, encoder.chunkCrc32(chunk));
  }

  /** The partial CRC of the entry in flight at `cp`, as far as this range saw its data. */
  private piece(cp: EncoderCheckpoint): CrcPiece | null {
    if (cp.entry === null || cp.entry.phase === 'localFileHeader') return null;
    const from = this.input.range.head?.entry === cp.entryCount ? this.headFrom : 0;
    const length = cp.entry.uncompressedSize - from;
    return { entry: cp.entryCount, from, length, crc: cp.entry.crc32 };
  }

  private figures(): StreamProgress {
    const { range, partSize } = this.input;
    return {
      entriesDone: this.entriesDone,
      bytesDone: this.sourceBytes.total,
      partsDone: this.checkpoints.partsDone - (range.firstPart - 1),
      currentPart: this.position === 0 ? 0 : Math.ceil(this.position / partSize),
      resumes: this.initial.resumes,
    };
  }

  private details(): RangeCheckpoint {
    return {
      ...this.checkpoints.current,
      resentBytes: this.initial.resentBytes + this.writer.resentBytes,
      partsStarted: Math.max(this.initial.partsStarted, this.writer.highestSent),
      live: this.live.take(),
    };
  }
}

export interface FinishInput extends AssemblyInput {
  plan: AssemblyPlan;
  results: RangeResult[];
}

/**
 * Builds the deferred parts and the end part(s), completes the upload and records the
 * archive. SHA-256 cannot be combined from parts, so it is computed by reading the archive
 * back (as after a resume of the sequential path).
 */
export function finishAssembly(input: FinishInput): Promise<StreamResult> {
  return runWriter(input, LAID_OUT_ADVICE, async (run) => {
    const { plan, results } = input;
    const resentBytes = results.reduce((n, r) => n + r.resentBytes, 0);
    const resumes = results.reduce((n, r) => n + r.resumes, 0);
    const retries = (): number => run.retries(results.reduce((n, r) => n + r.retries, 0));
    if (run.attempt.number > 1) {
      const recovered = await run.recoverCompleted(
        { resentBytes, resumes },
        {
          entryLines: () => assembledChunks(run.dst, input, 'manifest'),
          amend: (completed) => ({ ...completed, entries: plan.totals.entryCount }),
        },
      );
      if (recovered) return { ...recovered, retries: retries() };
    }
    const end = await AssemblyEnd.attach(input, run);
    return { ...(await end.write(resentBytes, resumes)), retries: retries() };
  });
}

/** What finishAssembly writes: the deferred parts, the end part(s), then completion. */
class AssemblyEnd {
  private readonly io: PlanIo;
  private readonly pieces: CrcPiece[];
  private readonly keepAlive: KeepAlive;
  /** Bytes of parts sent again (an earlier attempt sent them too). */
  private resent = 0;
  // Progress: what the ranges left (the head entries' records, the entries, source bytes and
  // parts of the end), added by the client to the ranges' figures the workflow holds.
  private entriesDone = 0;
  private partsDone = 0;
  private position = 0;
  private readonly endBytes = new SourceBytesRead();
  // The deferred parts come first: their bytes are the ranges', so no rate until the end's.
  private readonly live = new LiveFigures(
    () => ({
      entriesDone: this.entriesDone,
      bytesDone: this.endBytes.total,
      partsDone: this.partsDone,
      currentPart: Math.ceil(this.position / this.input.partSize),
      resumes: 0,
    }),
    { readsLater: true },
  );
  private readonly details = (): { finishing: true; live: LiveProgress } => ({
    finishing: true,
    live: this.live.take(),
  });

  private constructor(
    private readonly input: FinishInput,
    private readonly run: WriterAttempt,
    private readonly session: MultipartSession,
    private readonly held: Map<number, HeldPart>,
  ) {
    this.io = { ...input, dst: run.dst };
    this.pieces = input.results.flatMap((r) => r.pieces);
    this.keepAlive = run.keepAlive(this.details);
    run.attempt.heartbeat(this.details());
  }

  static async attach(input: FinishInput, run: WriterAttempt): Promise<AssemblyEnd> {
    const { plan, request } = input;
    const upload = await attachArchiveUpload(
      run.dst,
      request.destination,
      plan.uploadId,
      plan.checksumType,
    );
    const held = new Map(upload.held.map((p) => [p.partNumber, p]));
    return new AssemblyEnd(input, run, upload.session, held);
  }

  async write(resentBytes: number, resumes: number): Promise<RecordedArchive> {
    const { request, plan, partSize, statePrefix } = this.input;
    for (const range of plan.ranges) if (range.deferred) await this.deferredParts(range);
    await this.endParts();
    return completeArchive({
      session: this.session,
      dst: this.run.dst,
      destination: request.destination,
      statePrefix,
      size: plan.size,
      partSize,
      entries: plan.totals.entryCount,
      sha256: undefined,
      resentBytes: resentBytes + this.resent,
      resumes,
      details: this.details,
      manifest: assembledChunks(this.run.dst, this.input, 'manifest'),
    });
  }

  /** The parts of `range` holding its head entry's data descriptor, with the true CRC. */
  private async deferredParts(range: AssemblyRange): Promise<void> {
    const { partSize } = this.input;
    const spill = unitSpill(this.run.dst, this.input, headUnit(range.index));
    const writer = await this.build(
      range.anchor,
      (range.deferred!.firstPart - 1) * partSize,
      range.deferred!.lastPart * partSize,
      spill,
      (p) => p.index === range.head?.entry && p.end <= range.end,
    );
    await writer.finish();
    this.resent += writer.resentBytes;
    await spill.flushUpTo(ownsHead(range) ? 1 : 0);
  }

  /** From the start of the end unit: its entries, the central directory and the end records. */
  private async endParts(): Promise<void> {
    const { plan } = this.input;
    const endSpill = unitSpill(this.run.dst, this.input, 'end');
    this.live.startReading();
    const writer = await this.build(
      plan.end.anchor,
      plan.end.start,
      plan.totals.centralDirectoryOffset,
      endSpill,
      () => true,
      true,
    );
    this.live.sourceRead();
    await endSpill.flushUpTo(plan.end.entries);
    const records = assembledChunks(this.run.dst, this.input, 'cd');
    for await (const chunk of endOfArchive(records, plan.totals)) {
      this.position += chunk.length;
      this.keepAlive.progressed();
      await writer.write(chunk);
    }
    await writer.finish();
    this.resent += writer.resentBytes;
  }

  /**
   * Builds [at, to) with the true CRC of the entry in flight at `at`, into the parts from `at`;
   * the end's source bytes and parts count as progress (the deferred parts' are the ranges').
   */
  private async build(
    anchor: Anchor,
    at: number,
    to: number,
    spill: CentralDirectorySpill,
    keep: (place: EntryLayout) => boolean,
    isEnd = false,
  ): Promise<PartWriter> {
    const { request, partSize, plan } = this.input;
    const writer = new PartWriter(
      this.session,
      partSize,
      request.uploadConcurrency ?? DEFAULT_UPLOAD_CONCURRENCY,
      {
        position: at,
        partsDone: at / partSize,
        held: this.held,
        // A retried attempt may send again what an earlier one sent: count it as rework.
        startedBefore: this.run.attempt.number > 1 ? plan.partCount : 0,
        onPart: () => {
          if (isEnd) this.partsDone += 1;
        },
      },
    );
    this.position = at;
    await produce(this.io, this.run.src, anchor, at, to, {
      crcAt: (p) =>
        p.dataDescriptorOffset === null || at <= p.dataOffset
          ? 0
          : crcOfFirstBytes(
              p.index,
              Math.min(at, p.dataDescriptorOffset) - p.dataOffset,
              this.pieces,
            ),
      started: (_cp, readBefore) => {
        if (isEnd) this.endBytes.started(readBefore);
      },
      chunk: async (chunk, encoder) => {
        this.position += chunk.length;
        if (isEnd) this.endBytes.update(encoder);
        this.keepAlive.progressed();
        await writer.write(chunk, encoder.chunkCrc32(chunk));
      },
      entryDone: (item, encoder) => {
        if (!keep(item.place!)) return;
        this.entriesDone += 1;
        spill.addEntry(encoder, item.object!);
      },
    });
    return writer;
  }
}

/** The head entry's record belongs to the deferred parts' rebuild when it ends in the range. */
function ownsHead(range: AssemblyRange): boolean {
  return range.head !== null && range.deferred !== null && range.head.end <= range.end;
}

function unitSpill(
  dst: S3Client,
  input: AssemblyInput,
  unit: string,
  chunks = 0,
): CentralDirectorySpill {
  return new CentralDirectorySpill(
    dst,
    input.request.destination.bucket,
    assemblySpillPrefix(input.statePrefix, unit),
    chunks,
  );
}

/** Spilled records (or manifest lines) of every unit, in entry order. */
async function* assembledChunks(
  dst: S3Client,
  input: FinishInput,
  kind: 'cd' | 'manifest',
): AsyncGenerator<Buffer> {
  for (const range of input.plan.ranges) {
    if (ownsHead(range)) yield* unitSpill(dst, input, headUnit(range.index), 1).read(kind);
    const chunks = input.results.find((r) => r.index === range.index)!.spillChunks;
    yield* unitSpill(dst, input, rangeUnit(range.index), chunks).read(kind);
  }
  yield* unitSpill(dst, input, 'end', input.plan.end.entries > 0 ? 1 : 0).read(kind);
}
