/**
 * The watermark of incremental runs: one small JSON object per schedule (or per source and
 * destination template) in the destination bucket, read when a run starts and moved forward
 * only after a run has written its archive.
 */
import { WATERMARK_PREFIX } from '../../shared/stateKeys';
import crypto from 'node:crypto';
import { withS3Clients } from '../../s3/client';
import { withS3Failures } from '../run/failures';
import { getStateIfAny, putState } from '../../s3/objects';
import type { ArchiveRequest } from '../../shared/request';

/** The object kept for an incremental archive. */
export interface Watermark {
  /** ISO time: the next run takes objects with LastModified at or after it. */
  watermark: string;
  /** The run that moved it here, and the archive it wrote. */
  workflowId: string;
  runId: string;
  archiveKey: string;
}

export interface ReadWatermarkInput {
  request: ArchiveRequest;
  /** Id of the schedule that started the run (TemporalScheduledById), when it was scheduled. */
  scheduleId?: string;
}

export interface ReadWatermarkOutput {
  /** Where the watermark lives in the destination bucket. */
  key: string;
  /** The watermark, absent before the first successful run. */
  since?: string;
}

export interface WriteWatermarkInput {
  request: ArchiveRequest;
  key: string;
  value: Watermark;
}

/** JSON with object keys sorted, so the same fields in another order give the same id. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/**
 * The watermark's key: per schedule id for scheduled runs (so editing the schedule's request
 * keeps its history), else per source and destination template (bucket and unresolved key).
 */
export function watermarkKey(request: ArchiveRequest, scheduleId?: string): string {
  if (scheduleId !== undefined && scheduleId !== '') {
    return `${WATERMARK_PREFIX}schedules/${encodeURIComponent(scheduleId)}.json`;
  }
  const identity = canonicalJson({
    source: request.source,
    destination: { bucket: request.destination.bucket, key: request.destination.key },
  });
  const digest = crypto.createHash('sha256').update(identity).digest('hex').slice(0, 32);
  return `${WATERMARK_PREFIX}requests/${digest}.json`;
}

async function readWatermarkObject(
  request: ArchiveRequest,
  key: string,
): Promise<Watermark | undefined> {
  const { destination } = request;
  const body = await withS3Clients([{ profile: destination.profile }], ([dst]) =>
    getStateIfAny(dst, destination.bucket, key),
  );
  return body === undefined ? undefined : (JSON.parse(body.toString('utf8')) as Watermark);
}

/** Reads the watermark of an incremental run's schedule or request. */
export function readWatermark(input: ReadWatermarkInput): Promise<ReadWatermarkOutput> {
  return withS3Failures(input.request, async () => {
    const key = watermarkKey(input.request, input.scheduleId);
    const found = await readWatermarkObject(input.request, key);
    return { key, since: found?.watermark };
  });
}

/**
 * Moves the watermark forward after a run wrote its archive. It never moves back: a run
 * whose range ended before the stored watermark (a late manual run) leaves it as it is.
 */
export function writeWatermark(input: WriteWatermarkInput): Promise<void> {
  return withS3Failures(input.request, async () => {
    const current = await readWatermarkObject(input.request, input.key);
    if (current && Date.parse(current.watermark) >= Date.parse(input.value.watermark)) return;
    const { destination } = input.request;
    await withS3Clients([{ profile: destination.profile }], ([dst]) =>
      putState(dst, destination.bucket, input.key, `${JSON.stringify(input.value, null, 2)}\n`),
    );
  });
}
