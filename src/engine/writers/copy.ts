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
import { currentAttempt } from '../run/attempt';
import { RunFailure } from '../run/failures';
import zlib from 'node:zlib';
import { DeleteObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { abortUploads } from '../../s3/destination';
import { sourceCrc32 } from '../../s3/checksums';
import { MultipartSession } from '../../s3/multipart';
import { getState, getStateIfAny, putState } from '../../s3/objects';
import { sourceChangeOf } from '../../s3/objectReader';
import { ArchiveLayout, crc32Combine, endOfArchive, type ArchiveTotals } from '../../zip';
import { DEFAULT_UPLOAD_CONCURRENCY, MIN_PART_SIZE, MAX_PARTS } from '../../shared/limits';
import type { NotCopied } from '../../shared/request';
import { planCopyParts, type CopyCandidate, type PlannedPart, type StagedPart } from './copyPlan';
import { completeUpload, createArchiveUpload } from '../write/archiveUpload';
import type { AssemblyInput } from './assemble';
import { CentralDirectorySpill, listedSpillChunks } from '../write/centralDirectory';
import { manifestLine } from '../plan/entries';
import { recordArchive, recoverCompleted, type StreamResult } from '../write/finalize';
import { CopyProgress } from './copyProgress';
import { KeepAlive } from '../run/keepAlive';
import { ProgressReporter } from '../run/progress';
import { LiveFigures, liveOf, type LiveProgress } from '../../shared/progress';
import {
  clients,
  failuresNamed,
  placed,
  produce,
  START,
  type Anchor,
  type Placed,
  type PlanIo,
} from './produce';
import { Jobs, mapLimited } from '../write/jobs';
import { MadeParts, madeRegions } from './madeParts';
import { PartBuffers } from '../write/partBuffers';
import { attemptRetries } from '../run/retries';

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
  return failuresNamed(input.request, async () => {
    const { request, partSize, statePrefix } = input;
    const [src, dst] = await clients(request);
    const io: PlanIo = { ...input, dst };
    const candidates: CopiedEntry[] = [];
    const notCopied: NotCopied = { noCrc32: 0, noPartCrc32s: 0, placement: 0 };
    let pending: Placed[] = [];
    const lookUp = async (): Promise<void> => {
      const items = pending;
      pending = [];
      const crcs = await mapLimited(items, LOOKUP_CONCURRENCY, (item) =>
        sourceCrc32(src, request.source.bucket, item.object!),
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
      const large =
        item.place !== null && !item.spec!.directory && item.place.size >= MIN_PART_SIZE;
      // Past S3's part limit no more entries can be copied: the rest is streamed.
      if (large && candidates.length + pending.length < MAX_PARTS) pending.push(item);
      else if (large) notCopied.placement += 1;
      if (pending.length >= 4 * LOOKUP_CONCURRENCY) await lookUp();
    }
    await lookUp();
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
  return failuresNamed(input.request, () => copy(input));
}

async function copy(input: CopyArchiveInput): Promise<StreamResult> {
  const ctx = currentAttempt();
  const { request, plan, partSize, statePrefix } = input;
  const { destination, source } = request;
  const [src, dst] = await clients(request);
  const io: PlanIo = { ...input, dst };
  const location = { ...destination, statePrefix };
  const resumes = ctx.number - 1;
  const spillPrefix = copySpillPrefix(statePrefix);
  let progress: CopyProgress | undefined; // once the saved plan is read
  let live: LiveFigures | undefined; // once the copying starts
  const details = (): CopyCheckpoint => ({
    partsDone: progress?.partsDone ?? 0,
    partCount: plan.partCount,
    resumes,
    live: live?.take(),
  });
  // Heartbeats go on through completion and the manifest, which read every spilled chunk.
  const keepAlive = new KeepAlive(details);
  keepAlive.progressed();
  try {
    if (ctx.number > 1) {
      const recorded = await recoverCompleted(
        dst,
        location,
        partSize,
        { resentBytes: 0, resumes: resumes - 1 },
        {
          entryLines: () => listedSpillChunks(dst, destination.bucket, spillPrefix, 'manifest'),
          amend: async (completed) => {
            const crc32 = Number(
              (await getState(dst, destination.bucket, copyCrcKey(statePrefix))).toString(),
            );
            return {
              ...completed,
              parts: plan.partCount,
              entries: plan.totals.entryCount,
              sha256: null,
              crc32,
              crc32ValidatedBy: 'PARTS_AND_SOURCES',
              copiedBytes: plan.copiedBytes,
            };
          },
        },
      );
      if (recorded)
        return { ...recorded, ...copyCounts(plan), retries: attemptRetries([src, dst]) };
    }
    const saved = await readPlan(dst, destination.bucket, statePrefix);
    const session = MultipartSession.attach(
      dst,
      { bucket: destination.bucket, key: destination.key },
      plan.uploadId,
      'NONE',
    );
    const held = new Set((await session.listParts()).map((p) => p.partNumber));
    const copied = new Map(saved.copied.map((c) => [c.entry, c]));
    const endingAt = new Map(saved.copied.map((c) => [c.dataOffset + c.size, c]));
    const counts = new CopyProgress(saved.parts, held, resumes);
    progress = counts;
    const partDone = (part: Parameters<CopyProgress['partHeld']>[0]): void => {
      counts.partHeld(part);
      keepAlive.progressed();
      ctx.heartbeat(details());
    };
    const signal = ctx.signal;
    const copies = new Jobs(COPY_CONCURRENCY);
    const uploadConcurrency = request.uploadConcurrency ?? DEFAULT_UPLOAD_CONCURRENCY;
    const uploads = new Jobs(uploadConcurrency);
    // A staged part holds the made bytes after its entry, up to 5 MiB: as many at once as
    // uploads. At 8 (COPY_CONCURRENCY), mid's copy runs peaked at 249-270 MiB, over the
    // 256 MiB bound; at 4, 242-245 MiB and no slower (docs/benchmarks.md).
    const staging = new Jobs(uploadConcurrency);
    const allJobs = [copies, uploads, staging];
    const buffers = new PartBuffers(uploadConcurrency + 1);

    const copyFrom = (entry: CopiedEntry, from: number, to = entry.size) => ({
      bucket: source.bucket,
      key: entry.key,
      etag: entry.etag,
      from,
      to,
    });
    // The entry's last bytes and the made bytes after it, joined in a staging object that is
    // then copied whole into the part.
    const stage = async (part: StagedPart, made: Buffer, release: () => void): Promise<void> => {
      const entry = copied.get(part.entry)!;
      const key = copyStagingKey(statePrefix, part.part);
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
          () => upload.uploadPartCopy(1, copyFrom(entry, part.from)),
          entry.key,
        );
        etag = (await upload.complete([first, second], { overwrite: true, crc32: 0 })).etag;
      } catch (err) {
        await upload.abort().catch(() => {});
        throw err;
      }
      if (!etag) throw new Error(`CompleteMultipartUpload of ${key} returned no ETag`);
      const size = entry.size - part.from + (part.end - part.made);
      await session.uploadPartCopy(part.part, {
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
    };

    // Copied parts run in the background while the made bytes are produced.
    const copying = (async () => {
      for (const part of saved.parts) {
        if (part.kind !== 'copy' || held.has(part.part)) continue;
        if (signal.aborted || copies.failed !== undefined) return;
        const entry = copied.get(part.entry)!;
        await copies.run(async () => {
          await sourceCopy(
            () =>
              session.uploadPartCopy(
                part.part,
                copyFrom(entry, part.from, part.from + part.end - part.start),
              ),
            entry.key,
          );
          partDone(part);
        });
      }
    })();
    copying.catch(() => {}); // awaited below; a failure is also in copies.failed

    const spill = new CentralDirectorySpill(dst, destination.bucket, spillPrefix, 0);
    let flushing: Promise<unknown> = Promise.resolve();
    const flush = (entries: number): void => {
      flushing = spill.flushUpTo(entries);
      flushing.catch(() => {}); // awaited below
    };
    // The first copied entry may have its first bytes streamed (the first part): those are
    // read and counted here, and only the rest is copied.
    const head = saved.firstHead > 0 ? saved.copied[0] : undefined;
    const headEnd = head ? head.dataOffset + saved.firstHead : 0;
    let headCrc = 0;
    let crc = 0;
    let position = 0;
    let recorded = 0;
    const reporter = new ProgressReporter(() => counts.figures(position));
    live = new LiveFigures(() => counts.figures(position), {
      previous: liveOf(ctx.checkpoint),
    });
    reporter.start();
    try {
      for (const region of madeRegions(saved.parts)) {
        const before = region.start === 0 ? undefined : endingAt.get(region.start);
        if (region.start !== 0 && !before)
          throw new Error(
            `no copied entry ends at byte ${region.start}: the saved plan is inconsistent`,
          );
        if (before === head && head) {
          // CRC of the copied rest = CRC of the whole ⊕ the head's CRC shifted over the rest.
          const rest = head.size - saved.firstHead;
          crc = crc32Combine(crc, (head.crc ^ crc32Combine(headCrc, 0, rest)) >>> 0, rest);
        } else if (before) {
          crc = crc32Combine(crc, before.crc, before.size);
        }
        position = region.start;
        const writer = new MadeParts(region.pieces, buffers, async (piece, bytes, release) => {
          if (held.has(piece.part)) return release();
          await (piece.kind === 'staged' ? staging : uploads).run(async () => {
            try {
              if (piece.kind === 'staged') await stage(piece, bytes, release);
              else await session.uploadPart(piece.part, bytes);
            } finally {
              release();
            }
            partDone(piece);
          });
        });
        const write = async (chunk: Buffer): Promise<void> => {
          for (const jobs of allJobs) jobs.throwIfFailed();
          crc = zlib.crc32(chunk, crc);
          if (head && position < headEnd && position + chunk.length > head.dataOffset) {
            const from = Math.max(0, head.dataOffset - position);
            headCrc = zlib.crc32(chunk.subarray(from, headEnd - position), headCrc);
          }
          position += chunk.length;
          keepAlive.progressed();
          await writer.write(chunk);
        };
        const to = Math.min(region.end, plan.totals.centralDirectoryOffset);
        if (region.start < to) {
          await produce(io, src, before?.anchor ?? START, region.start, to, {
            crcAt: (place) => copied.get(place.index)?.crc ?? 0,
            chunk: (chunk) => write(chunk),
            entryDone: (item, encoder) => {
              counts.entryPassed(item.place!.index, encoder.lastEntry!.uncompressedSize);
              spill.add(
                encoder.lastCentralDirectoryRecord!,
                manifestLine(encoder.lastEntry!, item.object!),
              );
              recorded += 1;
              if (recorded % SPILL_EVERY === 0) flush(recorded);
            },
            dataless: (entry) => copied.has(entry) && entry !== head?.entry,
            // The head entry is read only up to the first part's end: not ahead, whole.
            stopReadAhead: (entry) => copied.has(entry),
          });
        }
        if (region.end === plan.size) {
          flush(plan.totals.entryCount);
          await flushing;
          for await (const chunk of endOfArchive(spill.read('cd'), plan.totals)) await write(chunk);
        }
      }
      await copying;
      await Promise.all(allJobs.map((jobs) => jobs.settle()));
      signal.throwIfAborted();
    } catch (err) {
      // Nothing of this attempt may still be writing once it has ended (the cleanup after a
      // failure or cancel runs then).
      for (const jobs of allJobs) jobs.stop();
      await Promise.allSettled([copying, flushing, ...allJobs.map((jobs) => jobs.settle())]);
      throw err;
    } finally {
      await reporter.stop();
    }

    const parts = (await session.listParts()).filter((p) => p.partNumber <= plan.partCount);
    if (parts.length !== plan.partCount || parts.some((p, i) => p.partNumber !== i + 1))
      throw new Error(
        `S3 holds ${parts.length} of the ${plan.partCount} parts of upload ${session.uploadId}; retrying`,
      );
    // Kept for a retry that finds the upload completed: it cannot recompute the CRC-32.
    await putState(dst, destination.bucket, copyCrcKey(statePrefix), Buffer.from(String(crc)));
    const done = await completeUpload(session, destination, parts, crc, details, statePrefix);
    const result = await recordArchive(
      dst,
      location,
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
        resumes,
      },
      spill.read('manifest'),
    );
    return { ...result, ...copyCounts(plan), retries: attemptRetries([src, dst]) };
  } finally {
    keepAlive.stop();
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
