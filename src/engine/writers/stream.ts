import { skippedKey } from '../../shared/stateKeys';
import { currentAttempt } from '../run/attempt';
import crypto from 'node:crypto';
import type { S3Client } from '@aws-sdk/client-s3';
import { s3Retries } from '../../s3/client';
import type { MultipartSession, HeldPart } from '../../s3/multipart';
import { putState, type ListedObject } from '../../s3/objects';
import { SourceChangedError } from '../../s3/objectReader';
import {
  autoCompression,
  endOfArchive,
  resumeSourceOffset,
  takeSample,
  validateCheckpoint,
  ZipEncoder,
  ZipStateError,
  type ByteSource,
  type EncoderCheckpoint,
  type EntrySpec,
} from '../../zip';
import { DEFAULT_UPLOAD_CONCURRENCY } from '../../shared/limits';
import { type ArchiveRequest } from '../../shared/request';
import { CentralDirectorySpill, listedSpillChunks } from '../write/centralDirectory';
import { ReadAhead, readBlocks, readLimitsFor } from '../read/readAhead';
import { ProgressReporter } from '../run/progress';
import { LiveFigures, liveOf, type LiveProgress, type StreamProgress } from '../../shared/progress';
import type { KeepAlive } from '../run/keepAlive';
import { PartWriter, uploadConcurrencyFor } from '../write/parts';
import { readPlanChunk } from '../plan/plan';
import { attachArchiveUpload, completeArchive, createArchiveUpload } from '../write/archiveUpload';
import { entrySpecOf, knownLocalHeader, storedCrc32Candidate } from '../plan/entries';
import { StoredCrcLookups } from '../read/storedCrcs';
import type { RecordedArchive, StreamResult } from '../write/finalize';
import { HeldCheckpoints, partsEndedBetween } from '../write/checkpoints';
import { runWriter, STREAMED_ADVICE, type WriterAttempt } from './pipeline';

export interface StreamInput {
  request: ArchiveRequest;
  statePrefix: string;
  chunks: number;
  /** Bytes per part, fixed for the run (checkpoints are at multiples of it). */
  partSize: number;
}

/** Where the plan is: the entry in flight at a checkpoint, or the next one to start. */
interface Cursor {
  chunk: number;
  index: number;
}

/**
 * The heartbeat details: everything a retried attempt needs to continue, and nothing
 * proportional to the number of entries (invariant 2). Taken at part boundaries: parts
 * 1..partsDone are held by S3, and the encoder state is at or before their end.
 */
export interface StreamCheckpoint {
  uploadId: string;
  /** How the upload was created: FULL_OBJECT lets the store validate the whole CRC-32. */
  checksumType: 'FULL_OBJECT' | 'COMPOSITE';
  partsDone: number;
  encoder: EncoderCheckpoint;
  cursor: Cursor;
  /** Spilled central-directory/manifest chunks matching encoder.entryCount. */
  spillChunks: number;
  /**
   * Bytes of parts sent again after a crash, and the highest part number any attempt is known
   * to have begun (from heartbeats and ListParts). uploadedBytes = size + resentBytes.
   */
  resentBytes: number;
  partsStarted: number;
  resumes: number;
  /**
   * Source bytes of the entries finished before this checkpoint's entry, for the progress
   * figures of a resumed attempt (absent in checkpoints of earlier versions).
   */
  sourceBytesDone?: number;
  /** S3 retries of earlier attempts, as of their last heartbeat (ArchiveResult.retries). */
  retries?: number;
  /** Progress figures when the heartbeat was sent, for the client (not for resuming). */
  live?: LiveProgress;
}

/**
 * Streams the planned entries through the ZIP encoder into a multipart upload, heartbeating
 * a checkpoint at every part boundary S3 holds; a retried attempt continues from the last
 * checkpoint, reconciled with ListParts, and re-sends no part S3 already holds.
 */
export function streamArchive(input: StreamInput): Promise<StreamResult> {
  return runWriter(input, STREAMED_ADVICE, async (run) => {
    const previous = run.attempt.checkpoint as StreamCheckpoint | undefined;
    run.keepAlive(() => previous);
    // The earlier attempts' S3 retries are in the checkpoint.
    const retries = (): number => run.retries(previous?.retries ?? 0);
    if (previous) {
      // An earlier attempt may have completed the upload and died before returning.
      const recorded = await run.recoverCompleted(previous, {
        entryLines: () =>
          listedSpillChunks(
            run.dst,
            input.request.destination.bucket,
            input.statePrefix,
            'manifest',
          ),
      });
      if (recorded) return { ...recorded, retries: retries() };
    }
    const streamer = previous
      ? await ArchiveStreamer.resume(input, run, previous)
      : await ArchiveStreamer.start(input, run);
    return { ...(await streamer.run()), retries: retries() };
  });
}

class ArchiveStreamer {
  private readonly ctx = currentAttempt();
  private readonly partSize: number;
  private readonly writer: PartWriter;
  private readonly spill: CentralDirectorySpill;
  private encoder: ZipEncoder;
  private cursor: Cursor;
  private position: number;
  /**
   * Checkpoints at part ends whose spill chunks are written, and the latest one whose parts
   * S3 holds: what a retry continues from.
   */
  private readonly checkpoints: HeldCheckpoints<StreamCheckpoint>;
  /** A spill write that failed: the attempt stops at the next chunk. */
  private spillFailure: unknown;
  /** The checkpoint this attempt started from (carries earlier attempts' figures). */
  private readonly initial: StreamCheckpoint;
  /** SHA-256 of the archive, when this attempt sees every byte (a fresh start). */
  private readonly sha256: crypto.Hash | undefined;
  private entryStart: { encoder: EncoderCheckpoint; cursor: Cursor } | undefined;
  /** The object at the cursor, and the encoder's entry count when its entry began. */
  private current: { object: ListedObject; entriesBefore: number } | undefined;
  /** Entries whose central-directory record has been handed to the spill. */
  private entriesRecorded: number;
  private ending = false;
  /** Source bytes of the entries finished so far (the entry in flight is in the encoder). */
  private sourceBytesDone: number;
  private readonly figures = (): StreamProgress => ({
    entriesDone: this.encoder.entryCount,
    bytesDone: this.sourceBytesDone + this.encoder.entryBytesRead,
    partsDone: this.checkpoints.partsDone,
    currentPart: this.position === 0 ? 0 : Math.ceil(this.position / this.partSize),
    resumes: this.initial.resumes,
  });
  private readonly progress = new ProgressReporter(this.figures);
  /** The figures again in every heartbeat, as they are when it is sent (the client reads them). */
  private readonly live: LiveFigures;

  private readonly src: S3Client;
  private readonly dst: S3Client;
  /** The read blocks of every plan chunk's reader. */
  private readonly blocks = readBlocks();
  private readonly keepAlive: KeepAlive;

  private constructor(
    private readonly input: StreamInput,
    run: WriterAttempt,
    private readonly session: MultipartSession,
    from: StreamCheckpoint,
    held: HeldPart[],
  ) {
    const { destination } = input.request;
    this.src = run.src;
    this.dst = run.dst;
    this.partSize = input.partSize;
    this.initial = from;
    this.live = new LiveFigures(this.figures, { previous: liveOf(from) });
    this.encoder = ZipEncoder.resume(from.encoder);
    this.entriesRecorded = from.encoder.entryCount;
    this.cursor = from.cursor;
    this.position = from.encoder.position;
    this.sourceBytesDone = from.sourceBytesDone ?? 0;
    this.sha256 =
      from.resumes === 0 && from.partsDone === 0 ? crypto.createHash('sha256') : undefined;
    this.spill = new CentralDirectorySpill(
      run.dst,
      destination.bucket,
      input.statePrefix,
      from.spillChunks,
      from.encoder.entryCount,
    );
    this.checkpoints = new HeldCheckpoints(from.partsDone, from);
    const concurrency = uploadConcurrencyFor(
      input.request.uploadConcurrency,
      this.partSize,
      DEFAULT_UPLOAD_CONCURRENCY,
    );
    this.writer = new PartWriter(session, this.partSize, concurrency, {
      position: this.position,
      partsDone: from.partsDone,
      held: new Map(
        held.filter((p) => p.partNumber > from.partsDone).map((p) => [p.partNumber, p]),
      ),
      onPart: (n) => this.partHeld(n),
      startedBefore: from.partsStarted,
    });
    this.keepAlive = run.keepAlive(() => this.details());
  }

  static async start(input: StreamInput, run: WriterAttempt): Promise<ArchiveStreamer> {
    const session = await createArchiveUpload(
      run.dst,
      input.request.destination,
      input.statePrefix,
    );
    const first: StreamCheckpoint = {
      uploadId: session.uploadId,
      checksumType: session.checksumType === 'FULL_OBJECT' ? 'FULL_OBJECT' : 'COMPOSITE',
      partsDone: 0,
      encoder: new ZipEncoder().checkpoint(),
      cursor: { chunk: 0, index: 0 },
      spillChunks: 0,
      resentBytes: 0,
      partsStarted: 0,
      resumes: 0,
      sourceBytesDone: 0,
    };
    run.keepAlive(() => first);
    run.attempt.heartbeat(first);
    return new ArchiveStreamer(input, run, session, first, []);
  }

  static async resume(
    input: StreamInput,
    run: WriterAttempt,
    previous: StreamCheckpoint,
  ): Promise<ArchiveStreamer> {
    validateCheckpoint(previous.encoder);
    const { session, held } = await attachArchiveUpload(
      run.dst,
      input.request.destination,
      previous.uploadId,
      previous.checksumType,
    );
    const from: StreamCheckpoint = {
      ...previous,
      // Parts S3 holds were begun, even if the heartbeat saying so never reached the server.
      partsStarted: Math.max(previous.partsStarted, ...held.map((p) => p.partNumber)),
      // An attempt killed before its first heartbeat resumed too, though no checkpoint says so.
      resumes: Math.max(previous.resumes + 1, run.attempt.number - 1),
    };
    return new ArchiveStreamer(input, run, session, from, held);
  }

  async run(): Promise<RecordedArchive> {
    this.progress.start();
    try {
      return await this.stream();
    } catch (err) {
      // Nothing of an ended attempt may still be writing state (see CentralDirectorySpill).
      await this.spill.settled();
      throw err;
    } finally {
      await this.progress.stop();
    }
  }

  private async stream(): Promise<RecordedArchive> {
    const { request, statePrefix } = this.input;
    if (this.encoder.entryInFlight) {
      // Resumed inside a STORE entry: re-read the source from the byte the checkpoint reached.
      const object = await this.planEntry(this.cursor);
      this.current = { object, entriesBefore: this.encoder.entryCount };
      const from = resumeSourceOffset(this.checkpoints.current.encoder);
      // The rest of the object, from that byte, in ranges like any other.
      const rest = this.readAhead([object], 0);
      try {
        const source = from === null ? undefined : await rest.open(0, from);
        for await (const chunk of this.encoder.continueEntry(source)) await this.emit(chunk);
      } finally {
        rest.close();
      }
      this.recordFinishedEntry();
      this.cursor = { ...this.cursor, index: this.cursor.index + 1 };
    }
    for (
      ;
      this.cursor.chunk < this.input.chunks;
      this.cursor = { chunk: this.cursor.chunk + 1, index: 0 }
    ) {
      const objects = await readPlanChunk(
        this.dst,
        request.destination.bucket,
        statePrefix,
        this.cursor.chunk,
      );
      const readAhead = this.readAhead(objects, this.cursor.index);
      try {
        await this.streamChunk(objects, readAhead);
      } finally {
        readAhead.close();
      }
    }
    this.ending = true;
    const totals = this.encoder.totals();
    await this.spill.flushUpTo(totals.entryCount);
    for await (const chunk of endOfArchive(this.spill.read('cd'), totals, {}))
      await this.emit(chunk);
    await this.writer.finish();
    return this.complete(totals.entryCount);
  }

  private async streamChunk(objects: ListedObject[], readAhead: ReadAhead): Promise<void> {
    const { request } = this.input;
    // Asked ahead for the objects that may be stored (auto compression decides on their bytes).
    const mayStore = request.compression?.method === 'deflate' ? 'deflate' : 'store';
    const storedCrcs = new StoredCrcLookups(this.src, request.source.bucket, objects, (o) =>
      storedCrc32Candidate(request, o, mayStore),
    );
    for (
      ;
      this.cursor.index < objects.length;
      this.cursor = { ...this.cursor, index: this.cursor.index + 1 }
    ) {
      this.throwIfCancelled();
      const object = objects[this.cursor.index];
      this.entryStart = { encoder: this.encoder.checkpoint(), cursor: this.cursor };
      this.current = { object, entriesBefore: this.encoder.entryCount };
      const entry = await this.entrySource(object, readAhead, storedCrcs).catch((err: unknown) =>
        this.skipOrThrow(err, object),
      );
      if (entry === undefined) continue;
      const { spec, source } = entry;
      for await (const chunk of this.encoder.entry(spec, source)) await this.emit(chunk);
      this.recordFinishedEntry();
    }
  }

  private readAhead(objects: ListedObject[], from: number): ReadAhead {
    const { request } = this.input;
    return new ReadAhead(this.src, request.source.bucket, objects, from, this.ctx.signal, {
      limits: readLimitsFor(request),
      blocks: this.blocks,
    });
  }

  private async planEntry(cursor: Cursor): Promise<ListedObject> {
    const objects = await readPlanChunk(
      this.dst,
      this.input.request.destination.bucket,
      this.input.statePrefix,
      cursor.chunk,
    );
    return objects[cursor.index];
  }

  private async entrySource(
    object: ListedObject,
    readAhead: ReadAhead,
    storedCrcs: StoredCrcLookups,
  ): Promise<{ spec: EntrySpec; source: ByteSource }> {
    const { request } = this.input;
    const stored = entrySpecOf(request, object);
    if (stored.directory) return { spec: stored, source: [] };
    const method = request.compression?.method ?? 'auto';
    let source = await readAhead.open(this.cursor.index);
    let compression: 'store' | 'deflate' = method === 'auto' ? 'store' : method;
    if (method === 'auto') {
      const sampled = await takeSample(source);
      source = sampled.source;
      compression = autoCompression(stored.name, sampled.sample);
    }
    const header = await this.localHeaderFacts(object, compression, storedCrcs);
    return { spec: { ...stored, compression, ...header }, source };
  }

  /**
   * Where the entry's CRC-32 and sizes go: into its local header when the object is read whole
   * (small) or S3 stores its CRC-32 (a STORE entry streams with it and is checked at its end,
   * a mismatch failing the run as InvalidEntry); else into a data descriptor.
   */
  private async localHeaderFacts(
    object: ListedObject,
    compression: 'store' | 'deflate',
    storedCrcs: StoredCrcLookups,
  ): Promise<Pick<EntrySpec, 'dataDescriptor' | 'crc32'>> {
    const { request } = this.input;
    if (knownLocalHeader(request, object)) return { dataDescriptor: false };
    if (!storedCrc32Candidate(request, object, compression)) return { dataDescriptor: true };
    const stored = await storedCrcs.crc32Of(this.cursor.index);
    return 'crc32' in stored
      ? { dataDescriptor: false, crc32: stored.crc32 }
      : { dataDescriptor: true };
  }

  /**
   * With onSourceChange "skip", a changed source is left out. The note is a state object
   * named by its plan position, so a resumed attempt that meets it again writes the same one.
   */
  private async skipOrThrow(err: unknown, object: ListedObject): Promise<undefined> {
    if (!(err instanceof SourceChangedError) || this.input.request.onSourceChange !== 'skip')
      throw err;
    const { chunk, index } = this.cursor;
    const note = JSON.stringify({ key: object.key, etag: object.etag, skipped: err.reason });
    await putState(
      this.dst,
      this.input.request.destination.bucket,
      skippedKey(this.input.statePrefix, chunk, index),
      note,
    );
    return undefined;
  }

  /**
   * Hands the entry the encoder has closed to the spill, once. The encoder closes an entry
   * before handing out its last bytes (the data descriptor), so emit() calls this first: a
   * part boundary right after those bytes is a checkpoint past the entry, whose spill must
   * hold the entry's record.
   */
  private recordFinishedEntry(): void {
    if (this.encoder.entryCount === this.entriesRecorded || !this.current) return;
    const e = this.encoder.lastEntry!;
    this.sourceBytesDone += e.uncompressedSize;
    this.spill.addEntry(this.encoder, this.current.object);
    this.entriesRecorded = this.encoder.entryCount;
    // No heartbeat here: the details change only at part boundaries (advance), and the
    // keep-alive timer covers liveness. Encoding one per entry cost ~8% of the worker's main
    // thread on many small objects.
  }

  /** Passes archive bytes to the part writer, noting a checkpoint at each part boundary. */
  private async emit(chunk: Buffer): Promise<void> {
    if (this.spillFailure) throw this.spillFailure;
    this.recordFinishedEntry();
    const start = this.position;
    this.position += chunk.length;
    this.keepAlive.progressed();
    for (const part of partsEndedBetween(start, this.position, this.partSize))
      if (part > this.checkpoints.partsDone) this.noteCheckpoint(this.checkpointAt(part));
    this.sha256?.update(chunk);
    await this.writer.write(chunk, this.encoder.chunkCrc32(chunk));
  }

  /**
   * The checkpoint for the end of `part`: the encoder state at that byte, or, inside DEFLATE
   * data (whose state cannot be saved), at the start of that entry. The spill is flushed now
   * so its chunks match the checkpoint's entry count; the stream does not wait for the write
   * (two PUTs at every part boundary would stall it), the checkpoint does.
   */
  private checkpointAt(part: number): Promise<StreamCheckpoint> {
    let encoder: EncoderCheckpoint;
    let cursor: Cursor;
    if (this.ending) {
      encoder = this.encoder.checkpoint();
      cursor = { chunk: this.input.chunks, index: 0 };
    } else {
      try {
        encoder = this.encoder.checkpoint(part * this.partSize);
        // At the very end of the entry at the cursor, the plan continues with the next object.
        const past = this.current && encoder.entryCount > this.current.entriesBefore;
        cursor = past ? { ...this.cursor, index: this.cursor.index + 1 } : this.cursor;
      } catch (err) {
        if (!(err instanceof ZipStateError) || !this.entryStart) throw err;
        ({ encoder, cursor } = this.entryStart);
      }
    }
    // The counters are filled in by details() when the checkpoint is sent. Entries finished
    // so far all precede the checkpoint's entry (mid-entry or at the start of the one in flight).
    const sourceBytesDone = this.sourceBytesDone;
    return this.spill.flushUpTo(encoder.entryCount).then((spillChunks) => ({
      ...this.initial,
      partsDone: part,
      encoder,
      cursor,
      spillChunks,
      sourceBytesDone,
    }));
  }

  /** A checkpoint becomes a candidate once its spill chunks are written. */
  private noteCheckpoint(written: Promise<StreamCheckpoint>): void {
    written.then(
      (candidate) => {
        this.checkpoints.candidate(candidate.partsDone, candidate);
        this.ctx.heartbeat(this.details());
      },
      (err: unknown) => {
        this.spillFailure ??= err;
      },
    );
  }

  /** A part is held by S3. */
  private partHeld(partNumber: number): void {
    this.checkpoints.partHeld(partNumber);
    this.keepAlive.progressed();
    this.ctx.heartbeat(this.details());
  }

  private details(): StreamCheckpoint {
    return {
      ...this.checkpoints.current,
      live: this.live.take(),
      resentBytes: this.initial.resentBytes + this.writer.resentBytes,
      partsStarted: Math.max(this.initial.partsStarted, this.writer.highestSent),
      resumes: this.initial.resumes,
      retries: (this.initial.retries ?? 0) + s3Retries(this.src) + s3Retries(this.dst),
    };
  }

  private throwIfCancelled(): void {
    if (this.ctx.signal.aborted) throw this.ctx.signal.reason;
  }

  private async complete(entries: number): Promise<RecordedArchive> {
    const details = this.details();
    return completeArchive({
      session: this.session,
      dst: this.dst,
      destination: this.input.request.destination,
      statePrefix: this.input.statePrefix,
      size: this.position,
      partSize: this.partSize,
      entries,
      sha256: this.sha256?.digest('hex'),
      resentBytes: details.resentBytes,
      resumes: details.resumes,
      details: () => this.details(),
      manifest: this.spill.read('manifest'),
    });
  }
}
