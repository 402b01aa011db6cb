/**
 * Server-side copy (request.serverSideCopy) of an all-STORE archive: entries of 5 MiB or more
 * whose CRC-32 the store already holds are placed by UploadPartCopy, so their bytes never
 * pass through the worker. The archive bytes equal the sequential path's.
 *
 *   prepareCopy   lays out the plan, asks the store for the CRC-32 of each large entry,
 *                 plans the parts (src/zip/copyPlan.ts), saves that plan as a state object
 *                 and creates the upload
 *   copyArchive   the copied parts (several UploadPartCopy at once) and, in one pass over
 *                 the plan, the bytes the worker makes (headers, data descriptors, streamed
 *                 entries, central directory): streamed parts, or staging objects joined to
 *                 the end of a copied entry; then completion
 *
 * A retry re-sends no part S3 holds and redoes no copy it holds; it reads the streamed
 * entries again (their CRC-32s and records are recomputed, not checkpointed).
 */
import { copyCrcKey, copyPlanKey, copySpillPrefix, copyStagingKey } from '../../shared/stateKeys';
import { RunFailure } from '../run/failures';
import { DeleteObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { abortUploads } from '../../s3/destination';
import { sourceCrc32 } from '../../s3/checksums';
import { MultipartSession } from '../../s3/multipart';
import { getState, getStateIfAny, putState } from '../../s3/objects';
import { sourceChangeOf } from '../../s3/objectReader';
import {
  ArchiveLayout,
  crc32Combine,
  endOfArchive,
  type ArchiveTotals,
  type EncoderCheckpoint,
} from '../../zip';
import { DEFAULT_UPLOAD_CONCURRENCY, MIN_PART_SIZE, MAX_PARTS } from '../../shared/limits';
import type { NotCopied } from '../../shared/request';
import { planCopyParts, type CopyCandidate, type PlannedPart, type StagedPart } from './copyPlan';
import { attachArchiveUpload, completeUpload, createArchiveUpload } from '../write/archiveUpload';
import type { AssemblyInput } from './assemble';
import { CentralDirectorySpill, listedSpillChunks } from '../write/centralDirectory';
import { recordArchive, type RecordedArchive, type StreamResult } from '../write/finalize';
import { CopyProgress } from './copyProgress';
import type { KeepAlive } from '../run/keepAlive';
import { ProgressReporter } from '../run/progress';
import { LiveFigures, liveOf, type LiveProgress, type StreamProgress } from '../../shared/progress';
import { placed, produce, START, type Anchor, type Placed, type PlanIo } from './produce';
import { Jobs, mapLimited } from '../write/jobs';
import { MadeParts, madeRegions, type Piece } from './madeParts';
import { PartBuffers } from '../write/partBuffers';
import { LAID_OUT_ADVICE, runWriter, type WriterAttempt } from './pipeline';
import { crc32Of } from '../../zip/crc32';

/** HeadObject / GetObjectAttributes requests at once while looking up CRC-32s. */
const LOOKUP_CONCURRENCY = 16;
/** UploadPartCopy requests at once: the store does the work, the worker only waits. */
export const COPY_CONCURRENCY = 8;
/** Central-directory records per spilled chunk. */
const SPILL_EVERY = 1000;

export interface CopySummary {
  /** Empty when no entry can be copied (then the archive is streamed instead). */
  uploadId: string;
  size: number;
  partCount: number;
  copiedEntries: number;
  copiedBytes: number;
  /** Entries of 5 MiB or more that are streamed instead, by why (in the result). */
  notCopied: NotCopied;
  totals: ArchiveTotals;
}

/** An entry whose data the store copies, with what the worker needs to place it. */
interface CopiedEntry extends CopyCandidate {
  key: string;
  etag: string;
  crc: number;
  /** The entry boundary before it: making bytes resumes from here. */
  anchor: Anchor;
}

interface SavedPlan {
  parts: PlannedPart[];
  copied: CopiedEntry[];
  /** Data bytes of the first copied entry streamed in the first part (see planCopyParts). */
  firstHead: number;
}

/**
 * Lays out the plan, looks up the CRC-32 of each entry of 5 MiB or more, plans the parts and
 * creates the upload (without a checksum algorithm: MinIO refuses copied parts otherwise).
 */
export function prepareCopy(input: AssemblyInput): Promise<CopySummary> {
  return runWriter(input, LAID_OUT_ADVICE, async ({ src, dst }) => {
    const { request, partSize, statePrefix } = input;
    const { candidates, notCopied, end } = await copyCandidates({ ...input, dst }, src);
    const layout = ArchiveLayout.fromCheckpoint(end);
    const summary = layout.summary();
    let plan;
    try {
      plan = planCopyParts(summary.archiveSize, partSize, candidates);
    } catch (err) {
      if (!(err instanceof RangeError)) throw err;
      throw RunFailure.nonRetryable(
        `serverSideCopy: ${err.message}; set a larger partSize, or leave serverSideCopy out`,
        'InvalidRequest',
      );
    }
    const chosen = new Set(plan.copied);
    notCopied.placement += candidates.length - chosen.size;
    const saved: SavedPlan = {
      parts: plan.parts,
      copied: candidates.filter((c) => chosen.has(c.entry)),
      firstHead: plan.firstHead,
    };
    const planned = {
      size: summary.archiveSize,
      partCount: plan.parts.length,
      copiedEntries: saved.copied.length,
      copiedBytes: plan.copiedBytes,
      notCopied,
      totals: layout.totals(),
    };
    // Nothing to copy: the workflow streams the archive instead (with its SHA-256).
    if (saved.copied.length === 0) return { uploadId: '', ...planned };
    await putState(
      dst,
      request.destination.bucket,
      copyPlanKey(statePrefix),
      Buffer.from(JSON.stringify(saved)),
    );
    const session = await createArchiveUpload(dst, request.destination, statePrefix, {
      checksums: false,
    });
    return { uploadId: session.uploadId, ...planned };
  });
}

/**
 * One walk of the plan: the entries of 5 MiB or more whose CRC-32 the store holds (looked up
 * in batches, LOOKUP_CONCURRENCY at once), the large ones that cannot be copied (by why), and
 * the layout's state after the last entry.
 */
async function copyCandidates(
  io: PlanIo,
  src: S3Client,
): Promise<{ candidates: CopiedEntry[]; notCopied: NotCopied; end: EncoderCheckpoint }> {
  const candidates: CopiedEntry[] = [];
  const notCopied: NotCopied = { noCrc32: 0, noPartCrc32s: 0, placement: 0 };
  let pending: Placed[] = [];
  const lookUp = async (): Promise<void> => {
    const items = pending;
    pending = [];
    const crcs = await mapLimited(items, LOOKUP_CONCURRENCY, (item) =>
      sourceCrc32(src, io.request.source.bucket, item.object!),
    );
    items.forEach((item, i) => {
      const found = crcs[i];
      // The store gives no CRC-32 for it: streamed.
      if ('none' in found) return void (notCopied[found.none] += 1);
      const { index, dataOffset, size } = item.place!;
      const { key, etag } = item.object!;
      const anchor = { cursor: item.cursor, layout: item.before };
      candidates.push({ entry: index, dataOffset, size, key, etag, crc: found.crc32, anchor });
    });
  };
  let end = START.layout;
  for await (const item of placed(io, START)) {
    end = item.before;
    const large = item.place !== null && !item.spec!.directory && item.place.size >= MIN_PART_SIZE;
    // Past S3's part limit no more entries can be copied: the rest is streamed.
    if (large && candidates.length + pending.length < MAX_PARTS) pending.push(item);
    else if (large) notCopied.placement += 1;
    if (pending.length >= 4 * LOOKUP_CONCURRENCY) await lookUp();
  }
  await lookUp();
  return { candidates, notCopied, end };
}

/**
 * The copy writer's heartbeat details. It resumes from its saved plan (a state object) and the
 * parts S3 holds (ListParts), not from these: they are the figures the client shows.
 */
export interface CopyCheckpoint {
  partsDone: number;
  partCount: number;
  resumes: number;
  live?: LiveProgress;
}

export interface CopyArchiveInput extends AssemblyInput {
  plan: CopySummary;
}

/** The copied and the made parts, completion and the record of the archive. */
export function copyArchive(input: CopyArchiveInput): Promise<StreamResult> {
  return runWriter(input, LAID_OUT_ADVICE, async (run) => {
    const { plan } = input;
    // Heartbeats go on through completion and the manifest, which read every spilled chunk.
    const resumes = run.attempt.number - 1;
    run.keepAlive((): CopyCheckpoint => ({ partsDone: 0, partCount: plan.partCount, resumes }));
    const recovered = run.attempt.number > 1 ? await recoverCopy(input, run) : undefined;
    const recorded = recovered ?? (await (await ArchiveCopy.attach(input, run)).write());
    return { ...recorded, ...copyCounts(plan), retries: run.retries() };
  });
}

/**
 * Complete-or-recover for a copy: the CRC-32 of a completed copy cannot be recomputed (its
 * copied bytes never pass the worker), so it is read from the state object saved before
 * completion.
 */
function recoverCopy(
  input: CopyArchiveInput,
  run: WriterAttempt,
): Promise<RecordedArchive | undefined> {
  const { plan, statePrefix } = input;
  const { bucket } = input.request.destination;
  return run.recoverCompleted(
    { resentBytes: 0, resumes: run.attempt.number - 2 },
    {
      entryLines: () =>
        listedSpillChunks(run.dst, bucket, copySpillPrefix(statePrefix), 'manifest'),
      amend: async (completed) => ({
        ...completed,
        parts: plan.partCount,
        entries: plan.totals.entryCount,
        sha256: null,
        crc32: Number((await getState(run.dst, bucket, copyCrcKey(statePrefix))).toString()),
        crc32ValidatedBy: 'PARTS_AND_SOURCES',
        copiedBytes: plan.copiedBytes,
      }),
    },
  );
}

/**
 * One attempt of copyArchive: the copied parts run in the background (copyParts) while one
 * pass over the made regions produces the worker's bytes (makeRegion) into streamed parts and
 * staged ones (stage); then the upload is completed and the archive recorded (complete).
 */
class ArchiveCopy {
  private readonly io: PlanIo;
  private readonly keepAlive: KeepAlive;
  private readonly copied: Map<number, CopiedEntry>;
  /** Copied entries by the byte their data ends at: where a made region starts. */
  private readonly endingAt: Map<number, CopiedEntry>;
  private readonly progress: CopyProgress;
  private readonly live: LiveFigures;
  private readonly copies = new Jobs(COPY_CONCURRENCY);
  private readonly uploads: Jobs;
  /**
   * A staged part holds the made bytes after its entry, up to 5 MiB: as many at once as
   * uploads. At 8 (COPY_CONCURRENCY), mid's copy runs peaked at 249-270 MiB, over the
   * 256 MiB bound; at 4, 242-245 MiB and no slower (docs/benchmarks.md).
   */
  private readonly staging: Jobs;
  private readonly allJobs: Jobs[];
  private readonly buffers: PartBuffers;
  private readonly spill: CentralDirectorySpill;
  /** The spill's latest flush, awaited before the end reads it back. */
  private flushing: Promise<unknown> = Promise.resolve();
  /** Entries handed to the spill. */
  private recorded = 0;
  /**
   * The first copied entry may have its first bytes streamed (the first part): those are read
   * and their CRC-32 (headCrc) counted here, and only the rest is copied.
   */
  private readonly head: CopiedEntry | undefined;
  private readonly headEnd: number;
  private headCrc = 0;
  /** CRC-32 of the archive up to `position`, the copied bytes combined in. */
  private crc = 0;
  private position = 0;

  private constructor(
    private readonly input: CopyArchiveInput,
    private readonly run: WriterAttempt,
    private readonly saved: SavedPlan,
    private readonly session: MultipartSession,
    private readonly held: Set<number>,
  ) {
    const { request, statePrefix } = input;
    this.io = { ...input, dst: run.dst };
    this.copied = new Map(saved.copied.map((c) => [c.entry, c]));
    this.endingAt = new Map(saved.copied.map((c) => [c.dataOffset + c.size, c]));
    const resumes = run.attempt.number - 1;
    this.progress = new CopyProgress(saved.parts, held, resumes);
    const figures = (): StreamProgress => this.progress.figures(this.position);
    this.live = new LiveFigures(figures, { previous: liveOf(run.attempt.checkpoint) });
    this.keepAlive = run.keepAlive(() => this.details());
    const uploadConcurrency = request.uploadConcurrency ?? DEFAULT_UPLOAD_CONCURRENCY;
    this.uploads = new Jobs(uploadConcurrency);
    this.staging = new Jobs(uploadConcurrency);
    this.allJobs = [this.copies, this.uploads, this.staging];
    this.buffers = new PartBuffers(uploadConcurrency + 1);
    this.spill = new CentralDirectorySpill(
      run.dst,
      request.destination.bucket,
      copySpillPrefix(statePrefix),
      0,
    );
    this.head = saved.firstHead > 0 ? saved.copied[0] : undefined;
    this.headEnd = this.head ? this.head.dataOffset + saved.firstHead : 0;
  }

  static async attach(input: CopyArchiveInput, run: WriterAttempt): Promise<ArchiveCopy> {
    const { destination } = input.request;
    const saved = await readPlan(run.dst, destination.bucket, input.statePrefix);
    const upload = await attachArchiveUpload(run.dst, destination, input.plan.uploadId, 'NONE');
    const held = new Set(upload.held.map((p) => p.partNumber));
    return new ArchiveCopy(input, run, saved, upload.session, held);
  }

  async write(): Promise<RecordedArchive> {
    const copying = this.copyParts();
    copying.catch(() => {}); // awaited below; a failure is also in copies.failed
    const reporter = new ProgressReporter(() => this.progress.figures(this.position));
    reporter.start();
    try {
      await this.writeParts(copying);
      return await this.complete();
    } finally {
      // The last figures are signalled after completion: the run shows them until the
      // workflow takes the result, and completing (the upload, the manifest) takes seconds.
      await reporter.stop();
    }
  }

  /** Every part, made and copied; on failure, nothing of this attempt is left writing. */
  private async writeParts(copying: Promise<void>): Promise<void> {
    try {
      for (const region of madeRegions(this.saved.parts)) await this.makeRegion(region);
      await copying;
      await Promise.all(this.allJobs.map((jobs) => jobs.settle()));
      this.run.attempt.signal.throwIfAborted();
    } catch (err) {
      // Nothing of this attempt may still be writing once it has ended (the cleanup after a
      // failure or cancel runs then).
      for (const jobs of this.allJobs) jobs.stop();
      await Promise.allSettled([
        copying,
        this.flushing,
        ...this.allJobs.map((jobs) => jobs.settle()),
      ]);
      throw err;
    }
  }

  /** The copied parts S3 does not hold yet, COPY_CONCURRENCY at once. */
  private async copyParts(): Promise<void> {
    const { signal } = this.run.attempt;
    for (const part of this.saved.parts) {
      if (part.kind !== 'copy' || this.held.has(part.part)) continue;
      if (signal.aborted || this.copies.failed !== undefined) return;
      const entry = this.copied.get(part.entry)!;
      const from = this.copyFrom(entry, part.from, part.from + part.end - part.start);
      await this.copies.run(async () => {
        await sourceCopy(() => this.session.uploadPartCopy(part.part, from), entry.key);
        this.partDone(part);
      });
    }
  }

  private copyFrom(
    entry: CopiedEntry,
    from: number,
    to = entry.size,
  ): { bucket: string; key: string; etag: string; from: number; to: number } {
    return { bucket: this.input.request.source.bucket, key: entry.key, etag: entry.etag, from, to };
  }

  private partDone(part: Parameters<CopyProgress['partHeld']>[0]): void {
    this.progress.partHeld(part);
    this.keepAlive.progressed();
    this.run.attempt.heartbeat(this.details());
  }

  private details(): CopyCheckpoint {
    return {
      partsDone: this.progress.partsDone,
      partCount: this.input.plan.partCount,
      resumes: this.run.attempt.number - 1,
      live: this.live.take(),
    };
  }

  /**
   * The made bytes of one region: the CRC-32 of the copied entry before it combined in, then
   * the entries' bytes produced from that entry's end, and at the archive's end the central
   * directory and end records.
   */
  private async makeRegion(region: ReturnType<typeof madeRegions>[number]): Promise<void> {
    const { plan } = this.input;
    const before = region.start === 0 ? undefined : this.endingAt.get(region.start);
    if (region.start !== 0 && !before)
      throw new Error(
        `no copied entry ends at byte ${region.start}: the saved plan is inconsistent`,
      );
    this.combineCopied(before);
    this.position = region.start;
    const writer = new MadeParts(region.pieces, this.buffers, (piece, bytes, release) =>
      this.sendMade(piece, bytes, release),
    );
    const to = Math.min(region.end, plan.totals.centralDirectoryOffset);
    if (region.start < to) {
      await produce(this.io, this.run.src, before?.anchor ?? START, region.start, to, {
        crcAt: (place) => this.copied.get(place.index)?.crc ?? 0,
        chunk: (chunk) => this.writeMade(writer, chunk),
        entryDone: (item, encoder) => {
          this.progress.entryPassed(item.place!.index, encoder.lastEntry!.uncompressedSize);
          this.spill.addEntry(encoder, item.object!);
          this.recorded += 1;
          if (this.recorded % SPILL_EVERY === 0) this.flush(this.recorded);
        },
        dataless: (entry) => this.copied.has(entry) && entry !== this.head?.entry,
        // The head entry is read only up to the first part's end: not ahead, whole.
        stopReadAhead: (entry) => this.copied.has(entry),
      });
    }
    if (region.end === plan.size) {
      this.flush(plan.totals.entryCount);
      await this.flushing;
      for await (const chunk of endOfArchive(this.spill.read('cd'), plan.totals))
        await this.writeMade(writer, chunk);
    }
  }

  /** The copied entry `before` a region, into the archive's CRC-32. */
  private combineCopied(before: CopiedEntry | undefined): void {
    const { head } = this;
    if (before === head && head) {
      // CRC of the copied rest = CRC of the whole ⊕ the head's CRC shifted over the rest.
      const rest = head.size - this.saved.firstHead;
      const restCrc = (head.crc ^ crc32Combine(this.headCrc, 0, rest)) >>> 0;
      this.crc = crc32Combine(this.crc, restCrc, rest);
    } else if (before) {
      this.crc = crc32Combine(this.crc, before.crc, before.size);
    }
  }

  /** Made bytes in order: into the CRC-32s, then into their parts. */
  private async writeMade(writer: MadeParts, chunk: Buffer): Promise<void> {
    for (const jobs of this.allJobs) jobs.throwIfFailed();
    const { head, headEnd, position } = this;
    this.crc = crc32Of(chunk, this.crc);
    if (head && position < headEnd && position + chunk.length > head.dataOffset) {
      const from = Math.max(0, head.dataOffset - position);
      this.headCrc = crc32Of(chunk.subarray(from, headEnd - position), this.headCrc);
    }
    this.position += chunk.length;
    this.keepAlive.progressed();
    await writer.write(chunk);
  }

  /** A whole piece of made bytes: uploaded as its part, or staged with its entry's end. */
  private async sendMade(piece: Piece, bytes: Buffer, release: () => void): Promise<void> {
    if (this.held.has(piece.part)) return release();
    await (piece.kind === 'staged' ? this.staging : this.uploads).run(async () => {
      try {
        if (piece.kind === 'staged') await this.stage(piece, bytes, release);
        else await this.session.uploadPart(piece.part, bytes);
      } finally {
        release();
      }
      this.partDone(piece);
    });
  }

  /**
   * The entry's last bytes and the made bytes after it, joined in a staging object that is
   * then copied whole into the part.
   */
  private async stage(part: StagedPart, made: Buffer, release: () => void): Promise<void> {
    const { dst } = this.run;
    const { destination } = this.input.request;
    const entry = this.copied.get(part.entry)!;
    const key = copyStagingKey(this.input.statePrefix, part.part);
    // One a killed attempt left (a store may not list uploads by prefix, so name it).
    await abortUploads(dst, destination.bucket, key);
    const upload = await MultipartSession.create(dst, {
      bucket: destination.bucket,
      key,
      contentType: 'application/octet-stream',
      serverSideEncryption: destination.serverSideEncryption,
      checksums: false,
    });
    let etag: string | undefined;
    try {
      // The made bytes go first, so their buffer is free again while the store copies.
      const second = await upload.uploadPart(2, made);
      release();
      const first = await sourceCopy(
        () => upload.uploadPartCopy(1, this.copyFrom(entry, part.from)),
        entry.key,
      );
      etag = (await upload.complete([first, second], { overwrite: true, crc32: 0 })).etag;
    } catch (err) {
      await upload.abort().catch(() => {});
      throw err;
    }
    if (!etag) throw new Error(`CompleteMultipartUpload of ${key} returned no ETag`);
    const size = entry.size - part.from + (part.end - part.made);
    await this.session.uploadPartCopy(part.part, {
      bucket: destination.bucket,
      key,
      etag,
      from: 0,
      to: size,
    });
    // Left behind, it goes with the run's state prefix at the end.
    await dst
      .send(new DeleteObjectCommand({ Bucket: destination.bucket, Key: key }))
      .catch(() => {});
  }

  private flush(entries: number): void {
    this.flushing = this.spill.flushUpTo(entries);
    this.flushing.catch(() => {}); // awaited later
  }

  /** Once S3 holds every part: the CRC-32 kept, the upload completed, the archive recorded. */
  private async complete(): Promise<RecordedArchive> {
    const { plan, statePrefix } = this.input;
    const { destination } = this.input.request;
    const { dst } = this.run;
    const { session, crc } = this;
    const parts = (await session.listParts()).filter((p) => p.partNumber <= plan.partCount);
    if (parts.length !== plan.partCount || parts.some((p, i) => p.partNumber !== i + 1))
      throw new Error(
        `S3 holds ${parts.length} of the ${plan.partCount} parts of upload ${session.uploadId}; retrying`,
      );
    // Kept for a retry that finds the upload completed: it cannot recompute the CRC-32.
    await putState(dst, destination.bucket, copyCrcKey(statePrefix), Buffer.from(String(crc)));
    const details = (): CopyCheckpoint => this.details();
    const done = await completeUpload(session, destination, parts, crc, details, statePrefix);
    return recordArchive(
      dst,
      this.run.location,
      {
        size: plan.size,
        parts: plan.partCount,
        etag: done.etag,
        versionId: done.versionId,
        sha256: null,
        crc32: crc,
        crc32ValidatedBy: 'PARTS_AND_SOURCES',
        copiedBytes: plan.copiedBytes,
        entries: plan.totals.entryCount,
        uploadedBytes: plan.size,
        resumes: this.run.attempt.number - 1,
      },
      this.spill.read('manifest'),
    );
  }
}

/** What the result records of a copy plan: entries copied, and the large ones streamed. */
function copyCounts(
  plan: CopySummary,
): Required<Pick<StreamResult, 'copiedEntries' | 'notCopied'>> {
  return { copiedEntries: plan.copiedEntries, notCopied: plan.notCopied };
}

async function readPlan(dst: S3Client, bucket: string, statePrefix: string): Promise<SavedPlan> {
  return parsePlan(await getState(dst, bucket, copyPlanKey(statePrefix)));
}

/** The plan as prepareCopy saved it (JSON). */
function parsePlan(body: Buffer): SavedPlan {
  return JSON.parse(body.toString('utf8')) as SavedPlan;
}

/**
 * Aborts the staging uploads a run may have left (a killed attempt, a cancel): by their
 * exact keys from the saved plan, because MinIO lists uploads only by exact key.
 */
export async function abortStagingUploads(
  dst: S3Client,
  bucket: string,
  statePrefix: string,
): Promise<void> {
  const body = await getStateIfAny(dst, bucket, copyPlanKey(statePrefix));
  if (body === undefined) return; // not a copy run, or not planned yet
  for (const part of parsePlan(body).parts)
    if (part.kind === 'staged')
      await abortUploads(dst, bucket, copyStagingKey(statePrefix, part.part));
}

/** A copy whose source no longer has the listed ETag (412) or is gone is a changed source. */
async function sourceCopy<T>(run: () => Promise<T>, key: string): Promise<T> {
  try {
    return await run();
  } catch (err) {
    throw sourceChangeOf(err, key) ?? err;
  }
}
