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
import { currentAttempt } from '../run/attempt';
import type { S3Client } from '@aws-sdk/client-s3';
import { createS3Client } from '../../s3/client';
import { MultipartSession } from '../../s3/multipart';
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
} from '../../zip';
import { DEFAULT_UPLOAD_CONCURRENCY } from '../../shared/limits';
import { type ArchiveRequest } from '../../shared/request';
import { CentralDirectorySpill } from '../write/centralDirectory';
import { recoverCompleted, type StreamResult } from '../write/finalize';
import { KeepAlive } from '../run/keepAlive';
import { LiveFigures, liveOf, type LiveProgress, type StreamProgress } from '../../shared/progress';
import { PartWriter } from '../write/parts';
import { attemptRetries } from '../run/retries';
import { completeArchive, createArchiveUpload } from '../write/archiveUpload';
import { manifestLine } from '../plan/entries';
import {
  checkpointOrEntryStart,
  clients,
  failuresNamed,
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
  return failuresNamed(input.request, async () => {
    const { request, partSize } = input;
    const { destination } = request;
    const dst = await createS3Client({ profile: destination.profile });
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
        head: unknown ? { entry: place.index, dataOffset: place.dataOffset, end: place.end } : null,
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
  });
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
  return failuresNamed(input.request, () => buildRange(input));
}

async function buildRange(input: RangeInput): Promise<RangeResult> {
  const ctx = currentAttempt();
  const { request, range, partSize, statePrefix } = input;
  const [src, dst] = await clients(request);
  const io: PlanIo = { ...input, dst };
  const session = MultipartSession.attach(
    dst,
    { bucket: request.destination.bucket, key: request.destination.key },
    input.uploadId,
    input.checksumType,
  );
  const held = (await session.listParts()).filter(
    (p) => p.partNumber >= range.firstPart && p.partNumber <= range.lastPart,
  );
  const previous = ctx.checkpoint as RangeCheckpoint | undefined;
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
        resumes: ctx.number - 1,
      };
  let checkpoint = initial;
  const at = initial.partsDone * partSize;
  // Data bytes of the head entry before this range: its pieces here start there.
  const headFrom = range.head ? range.start - range.head.dataOffset : 0;
  const firstOwned = range.anchor.layout.entryCount + (range.head ? 1 : 0);
  const deferredStart = range.deferred ? (range.deferred.firstPart - 1) * partSize : null;
  const piece = (cp: EncoderCheckpoint): CrcPiece | null => {
    if (cp.entry === null || cp.entry.phase === 'localFileHeader') return null;
    const from = range.head?.entry === cp.entryCount ? headFrom : 0;
    const length = cp.entry.uncompressedSize - from;
    return { entry: cp.entryCount, from, length, crc: cp.entry.crc32 };
  };

  let spill!: CentralDirectorySpill;
  let head = initial.head;
  let position = at;
  const partsDoneSet = new Set<number>();
  const candidates = new Map<number, RangeCheckpoint>();
  let partsDone = initial.partsDone;
  // Progress: the range's entries and the source bytes its encoder read (the bytes of an entry
  // in flight at the start belong to the range or attempt before).
  let entriesDone = initial.entriesDone ?? 0;
  const sourceBytes = new SourceBytesRead(initial.sourceBytesDone ?? 0);
  const figures = (): StreamProgress => ({
    entriesDone,
    bytesDone: sourceBytes.total,
    partsDone: partsDone - (range.firstPart - 1),
    currentPart: position === 0 ? 0 : Math.ceil(position / partSize),
    resumes: initial.resumes,
  });
  const live = new LiveFigures(figures, { previous: liveOf(previous) });
  const keepAlive = new KeepAlive(() => details());
  const details = (): RangeCheckpoint => ({
    ...checkpoint,
    resentBytes: initial.resentBytes + writer.resentBytes,
    partsStarted: Math.max(initial.partsStarted, writer.highestSent),
    live: live.take(),
  });
  const writer = new PartWriter(
    session,
    partSize,
    request.uploadConcurrency ?? DEFAULT_UPLOAD_CONCURRENCY,
    {
      position: at,
      partsDone: initial.partsDone,
      held: new Map(held.map((p) => [p.partNumber, p])),
      deferred: range.deferred,
      startedBefore: initial.partsStarted,
      onPart: (n) => {
        partsDoneSet.add(n);
        while (partsDoneSet.delete(partsDone + 1)) {
          partsDone += 1;
          checkpoint = candidates.get(partsDone) ?? checkpoint;
          candidates.delete(partsDone);
        }
        keepAlive.progressed();
        ctx.heartbeat(details());
      },
    },
  );
  try {
    await produce(io, src, range.anchor, at, range.end, {
      crcAt: () => initial.crc,
      started: (cp, readBefore) => {
        spill = new CentralDirectorySpill(
          dst,
          request.destination.bucket,
          assemblySpillPrefix(statePrefix, rangeUnit(range.index)),
          initial.spillChunks,
          Math.max(0, cp.entryCount - firstOwned),
        );
        if (deferredStart === at && head === null) head = piece(cp);
        sourceBytes.started(readBefore);
      },
      chunk: async (chunk, encoder, entryStart) => {
        const start = position;
        position += chunk.length;
        sourceBytes.update(encoder);
        keepAlive.progressed();
        for (let part = Math.floor(start / partSize) + 1; part * partSize <= position; part++) {
          // Inside an entry read whole, a resume makes it again from its start.
          const cp = checkpointOrEntryStart(encoder, part * partSize, entryStart);
          if (part * partSize === deferredStart) head = piece(cp);
          const spillChunks = await spill.flushUpTo(Math.max(0, cp.entryCount - firstOwned));
          candidates.set(part, {
            ...initial,
            partsDone: part,
            crc: cp.entry?.crc32 ?? 0,
            head,
            tail: part === range.lastPart ? piece(cp) : null,
            spillChunks,
            entriesDone,
            sourceBytesDone: sourceBytes.total,
          });
        }
        await writer.write(chunk, encoder.chunkCrc32(chunk));
      },
      entryDone: (item, encoder) => {
        if (item.place!.index < firstOwned) return; // the head entry: finishAssembly records it
        entriesDone += 1;
        spill.add(
          encoder.lastCentralDirectoryRecord!,
          manifestLine(encoder.lastEntry!, item.object!),
        );
      },
    });
    live.sourceRead();
    await writer.finish();
  } finally {
    keepAlive.stop();
  }
  const last = details();
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
    retries: attemptRetries([src, dst]),
    progress: figures(),
  };
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
  return failuresNamed(input.request, () => finish(input));
}

async function finish(input: FinishInput): Promise<StreamResult> {
  const ctx = currentAttempt();
  const { request, plan, results, partSize, statePrefix } = input;
  const { destination } = request;
  const [src, dst] = await clients(request);
  const io: PlanIo = { ...input, dst };
  const location = { ...destination, statePrefix };
  const spills = (kind: 'cd' | 'manifest'): AsyncGenerator<Buffer> =>
    assembledChunks(dst, input, kind);
  const resentBytes = results.reduce((n, r) => n + r.resentBytes, 0);
  const resumes = results.reduce((n, r) => n + r.resumes, 0);
  const retries = (): number =>
    results.reduce((n, r) => n + r.retries, 0) + attemptRetries([src, dst]);
  if (ctx.number > 1) {
    const recorded = await recoverCompleted(
      dst,
      location,
      partSize,
      { resentBytes, resumes },
      {
        entryLines: () => spills('manifest'),
        amend: (completed) => ({ ...completed, entries: plan.totals.entryCount }),
      },
    );
    if (recorded) return { ...recorded, retries: retries() };
  }
  const session = MultipartSession.attach(
    dst,
    { bucket: destination.bucket, key: destination.key },
    plan.uploadId,
    plan.checksumType,
  );
  const held = new Map((await session.listParts()).map((p) => [p.partNumber, p]));
  const pieces = results.flatMap((r) => r.pieces);
  // Progress: what the ranges left (the head entries' records, the entries, source bytes and
  // parts of the end), added by the client to the ranges' figures the workflow holds.
  let entriesDone = 0;
  let partsDone = 0;
  let position = 0;
  const endBytes = new SourceBytesRead();
  // The deferred parts come first: their bytes are the ranges', so no rate until the end's.
  const live = new LiveFigures(
    () => ({
      entriesDone,
      bytesDone: endBytes.total,
      partsDone,
      currentPart: Math.ceil(position / partSize),
      resumes: 0,
    }),
    { readsLater: true },
  );
  const details = (): { finishing: true; live: LiveProgress } => ({
    finishing: true,
    live: live.take(),
  });
  const keepAlive = new KeepAlive(details);
  ctx.heartbeat(details());
  let resent = 0;
  // Builds [at, to) with the true CRC of the entry in flight at `at`, into the parts from `at`;
  // the end's source bytes and parts count as progress (the deferred parts' are the ranges').
  const build = async (
    anchor: Anchor,
    at: number,
    to: number,
    spill: CentralDirectorySpill,
    keep: (place: EntryLayout) => boolean,
    isEnd = false,
  ): Promise<PartWriter> => {
    const writer = new PartWriter(
      session,
      partSize,
      request.uploadConcurrency ?? DEFAULT_UPLOAD_CONCURRENCY,
      {
        position: at,
        partsDone: at / partSize,
        held,
        // A retried attempt may send again what an earlier one sent: count it as rework.
        startedBefore: ctx.number > 1 ? plan.partCount : 0,
        onPart: () => {
          if (isEnd) partsDone += 1;
        },
      },
    );
    position = at;
    await produce(io, src, anchor, at, to, {
      crcAt: (p) =>
        p.dataDescriptorOffset === null || at <= p.dataOffset
          ? 0
          : crcOfFirstBytes(p.index, Math.min(at, p.dataDescriptorOffset) - p.dataOffset, pieces),
      started: (_cp, readBefore) => {
        if (isEnd) endBytes.started(readBefore);
      },
      chunk: async (chunk, encoder) => {
        position += chunk.length;
        if (isEnd) endBytes.update(encoder);
        keepAlive.progressed();
        await writer.write(chunk, encoder.chunkCrc32(chunk));
      },
      entryDone: (item, encoder) => {
        if (!keep(item.place!)) return;
        entriesDone += 1;
        spill.add(
          encoder.lastCentralDirectoryRecord!,
          manifestLine(encoder.lastEntry!, item.object!),
        );
      },
    });
    return writer;
  };
  try {
    for (const range of plan.ranges) {
      if (!range.deferred) continue;
      const spill = unitSpill(dst, input, headUnit(range.index));
      const at = (range.deferred.firstPart - 1) * partSize;
      const writer = await build(
        range.anchor,
        at,
        range.deferred.lastPart * partSize,
        spill,
        (p) => p.index === range.head?.entry && p.end <= range.end,
      );
      await writer.finish();
      resent += writer.resentBytes;
      await spill.flushUpTo(ownsHead(range) ? 1 : 0);
    }
    const endSpill = unitSpill(dst, input, 'end');
    live.startReading();
    const writer = await build(
      plan.end.anchor,
      plan.end.start,
      plan.totals.centralDirectoryOffset,
      endSpill,
      () => true,
      true,
    );
    live.sourceRead();
    await endSpill.flushUpTo(plan.end.entries);
    for await (const chunk of endOfArchive(spills('cd'), plan.totals)) {
      position += chunk.length;
      keepAlive.progressed();
      await writer.write(chunk);
    }
    await writer.finish();
    resent += writer.resentBytes;
    const recorded = await completeArchive({
      session,
      dst,
      destination,
      statePrefix,
      size: plan.size,
      partSize,
      entries: plan.totals.entryCount,
      sha256: undefined,
      resentBytes: resentBytes + resent,
      resumes,
      details,
      manifest: spills('manifest'),
    });
    return { ...recorded, retries: retries() };
  } finally {
    keepAlive.stop();
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
