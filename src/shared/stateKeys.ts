/**
 * Every key zipflow writes besides the archive, in one place. A run's state lives under
 * `.zipflow/state/<first run id>/` in the destination bucket and is deleted when the run ends
 * (DESIGN invariant 5); watermarks of incremental runs outlive runs; the manifest and the move
 * report sit next to the archive. Workflow-safe: the workflows name a run's state prefix too.
 */

/** zipflow's own folder in a bucket: never archived, never a restore destination. */
export const ZIPFLOW_PREFIX = '.zipflow/';
/** Watermarks of incremental runs (src/engine/plan/watermark.ts). */
export const WATERMARK_PREFIX = `${ZIPFLOW_PREFIX}watermarks/`;

const number = (n: number, digits: number): string => String(n).padStart(digits, '0');

/** The state prefix of a run, named by its first run id so continue-as-new keeps it. */
export function statePrefixOf(firstExecutionRunId: string): string {
  return `${ZIPFLOW_PREFIX}state/${firstExecutionRunId}/`;
}

/** A chunk of the archive plan: the listed objects of one planning page, as JSON lines. */
export function planChunkKey(statePrefix: string, chunk: number): string {
  return `${statePrefix}plan/${number(chunk, 8)}.jsonl`;
}

/**
 * Spilled central-directory records or manifest lines under `spillPrefix` (the run's state
 * prefix for the streaming writer, a folder of its own for the others), numbered from 0.
 */
export function spillChunksPrefix(spillPrefix: string, kind: 'cd' | 'manifest'): string {
  return `${spillPrefix}${kind}/`;
}

export function spillChunkKey(spillPrefix: string, kind: 'cd' | 'manifest', n: number): string {
  return `${spillChunksPrefix(spillPrefix, kind)}${number(n, 8)}`;
}

/** Notes of sources left out with onSourceChange "skip", one per plan position. */
export function skippedPrefix(statePrefix: string): string {
  return `${statePrefix}skipped/`;
}

export function skippedKey(statePrefix: string, chunk: number, index: number): string {
  return `${skippedPrefix(statePrefix)}${chunk}-${index}`;
}

/** The spill of one unit of parallel assembly (a range, or the end). */
export function assemblySpillPrefix(statePrefix: string, unit: string): string {
  return `${statePrefix}assembly/${unit}/`;
}

/** Server-side copy: its saved plan, its spill, the CRC-32s it collected, its staging objects. */
export function copySpillPrefix(statePrefix: string): string {
  return `${statePrefix}copy/`;
}

export function copyPlanKey(statePrefix: string): string {
  return `${copySpillPrefix(statePrefix)}plan.json`;
}

export function copyCrcKey(statePrefix: string): string {
  return `${copySpillPrefix(statePrefix)}crc32`;
}

export function copyStagingKey(statePrefix: string, part: number): string {
  return `${copySpillPrefix(statePrefix)}staging/${number(part, 5)}`;
}

/** A chunk of a restore plan. */
export function restorePlanKey(statePrefix: string, chunk: number): string {
  return `${statePrefix}restore/${number(chunk, 8)}.jsonl`;
}

/** Where a restored entry copied by the store is staged; `keyHash` is its key's SHA-256. */
export function restoreStagingKey(statePrefix: string, keyHash: string): string {
  return `${statePrefix}restore/staging/${keyHash}`;
}

/** A move batch's decision record (before anything is removed) or done record (after). */
export function moveRecordKey(
  statePrefix: string,
  batch: number,
  kind: 'decided' | 'done',
): string {
  return `${statePrefix}move/${number(batch, 8)}.${kind}.jsonl`;
}

/** The object a move writes to learn whether the store honours an ETag on delete. */
export function moveProbeKey(statePrefix: string): string {
  return `${statePrefix}move-probe`;
}

/** Next to the archive: its manifest (one JSON line per entry) and its move report. */
export function manifestKey(archiveKey: string): string {
  return `${archiveKey}.manifest.jsonl`;
}

export function movedKey(archiveKey: string): string {
  return `${archiveKey}.moved.jsonl`;
}
