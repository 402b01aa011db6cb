/**
 * zipflow's activities: each is one engine call run as a Temporal activity (attempt.ts gives it
 * heartbeats, cancellation, progress signals and failure mapping). The engine is in src/engine.
 */
import { activity } from './attempt';
import { planPage as plan } from '../engine/plan/plan';
import { readWatermark as readMark, writeWatermark as writeMark } from '../engine/plan/watermark';
import { streamArchive as stream } from '../engine/writers/stream';
import {
  prepareAssembly as prepare,
  assembleRange as assemble,
  finishAssembly as finish,
} from '../engine/writers/assemble';
import { prepareCopy as prepareCopying, copyArchive as copy } from '../engine/writers/copy';
import { verifyArchive as verify } from '../engine/verify';
import { moveSources as move } from '../engine/move';
import { discardRun as discard } from '../engine/discard';
import {
  planRestore as planRestoring,
  restoreChunk as restoreEntries,
  discardRestore as discardRestoring,
} from '../engine/restore/restore';

/** The engine function `fn`, run as the current activity. */
function adapt<A extends unknown[], R>(fn: (...args: A) => Promise<R>): (...args: A) => Promise<R> {
  return (...args) => activity(() => fn(...args));
}

export const planPage = adapt(plan);
export const readWatermark = adapt(readMark);
export const writeWatermark = adapt(writeMark);
export const streamArchive = adapt(stream);
export const prepareAssembly = adapt(prepare);
export const assembleRange = adapt(assemble);
export const finishAssembly = adapt(finish);
export const prepareCopy = adapt(prepareCopying);
export const copyArchive = adapt(copy);
export const verifyArchive = adapt(verify);
export const moveSources = adapt(move);
export const discardRun = adapt(discard);
export const planRestore = adapt(planRestoring);
export const restoreChunk = adapt(restoreEntries);
export const discardRestore = adapt(discardRestoring);

export type { PlanPageInput, PlanPageOutput } from '../engine/plan/plan';
export type { StreamInput, StreamCheckpoint } from '../engine/writers/stream';
export type { StreamResult } from '../engine/write/finalize';
export type { AssemblyInput, AssemblyPlan, RangeResult } from '../engine/writers/assemble';
export type { CopySummary, CopyArchiveInput } from '../engine/writers/copy';
export type { VerifyInput } from '../engine/verify';
export type { MoveInput } from '../engine/move';
export type { DiscardInput } from '../engine/discard';
export type {
  ReadWatermarkInput,
  ReadWatermarkOutput,
  Watermark,
  WriteWatermarkInput,
} from '../engine/plan/watermark';
export type {
  PlanRestoreInput,
  PlanRestoreOutput,
  RestoreChunkInput,
  RestoreChunkOutput,
  DiscardRestoreInput,
} from '../engine/restore/restore';
