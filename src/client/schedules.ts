/**
 * Scheduled archive runs: a thin, typed layer over Temporal Schedules. Each schedule starts
 * the `archive` workflow with one fixed request; destination key placeholders give each run
 * its own key (src/shared/keyTemplate.ts) and `incremental` makes each run take only what is
 * new since the last one.
 */
import {
  ScheduleOverlapPolicy,
  type Client,
  type ScheduleExecutionResult,
  type ScheduleSpec,
} from '@temporalio/client';
import type { Duration } from '@temporalio/common';
import { checkSelection } from '../engine/plan/select';
import { isKeyTemplate, resolveKeyTemplate } from '../shared/keyTemplate';
import { RequestError, validateRequest } from '../shared/validate';
import { type ArchiveRequest } from '../shared/request';
import type { archive } from '../workflows';

/** What the schedule functions need of a connected client (a ZipflowClient has it). */
export interface ScheduleClient {
  temporal: Client;
  taskQueue: string;
}

export { ScheduleNotFoundError } from '@temporalio/client';

/** What a schedule does when a run is due while the previous one still runs. */
export const SCHEDULE_OVERLAPS = {
  skip: ScheduleOverlapPolicy.SKIP,
  'buffer-one': ScheduleOverlapPolicy.BUFFER_ONE,
  'buffer-all': ScheduleOverlapPolicy.BUFFER_ALL,
  'cancel-other': ScheduleOverlapPolicy.CANCEL_OTHER,
  'terminate-other': ScheduleOverlapPolicy.TERMINATE_OTHER,
  'allow-all': ScheduleOverlapPolicy.ALLOW_ALL,
} as const;
export type ScheduleOverlap = keyof typeof SCHEDULE_OVERLAPS;

export const DEFAULT_OVERLAP: ScheduleOverlap = 'skip';
/** Runs missed while workers or the cluster were down are started if at most this late. */
export const DEFAULT_CATCHUP_WINDOW: Duration = '1 day';

export interface CreateScheduleOptions {
  /** The schedule's id; also names the watermark of incremental runs. */
  id: string;
  request: ArchiveRequest;
  /** An interval ("1d", "6h", "30m", "90s") or a cron expression in UTC ("0 2 * * *", "@daily"). */
  spec: string;
  /** Default "skip": a run due while one is still running is dropped, so runs never overlap. */
  overlap?: ScheduleOverlap;
  /** How late a missed run may still start (e.g. "1 day", "2h"; at least 10 s). Default 1 day. */
  catchupWindow?: Duration;
  /** Create it paused (default false). */
  paused?: boolean;
  note?: string;
}

export interface ScheduleRun {
  /** The nominal time: what the destination key's placeholders resolve to. */
  scheduledAt: string;
  startedAt: string;
  workflowId: string;
  runId: string;
}

export interface ScheduleSummary {
  id: string;
  spec?: string;
  paused: boolean;
  note?: string;
  nextRuns: string[];
  recentRuns: ScheduleRun[];
}

export interface ScheduleDescription extends ScheduleSummary {
  request: ArchiveRequest;
  overlap: ScheduleOverlap;
  catchupWindowMs: number;
  /** The key the next run writes (placeholders resolved for its nominal time). */
  nextKey?: string;
  runningWorkflowIds: string[];
  runsTaken: number;
  runsMissedCatchupWindow: number;
  runsSkippedOverlap: number;
}

/** Memo field keeping the spec as it was given (Temporal describes cron as calendars). */
const SPEC_MEMO = 'zipflowSpec';
const INTERVAL = /^(\d+)\s*(s|m|h|d)$/;

/** A spec string as Temporal's ScheduleSpec: an interval like "1d", else a cron expression. */
export function scheduleSpecOf(spec: string): ScheduleSpec {
  const text = spec.trim();
  if (text === '') {
    throw new RequestError('spec', 'is empty: give an interval such as "1d" or a cron expression');
  }
  const interval = INTERVAL.exec(text);
  if (interval) {
    if (Number(interval[1]) === 0)
      throw new RequestError('spec', `"${spec}" is not a positive interval`);
    return { intervals: [{ every: `${interval[1]}${interval[2]}` as Duration }] };
  }
  if (/^\d/.test(text) && !/\s/.test(text)) {
    throw new RequestError(
      'spec',
      `"${spec}" is neither an interval (a number and s, m, h or d, e.g. "6h") nor a cron expression ("0 2 * * *")`,
    );
  }
  return { cronExpressions: [text] };
}

/** Temporal's workflow id prefix for the runs of a schedule (it appends the nominal time). */
export function scheduleWorkflowId(id: string): string {
  return `zipflow-schedule:${id}`;
}

function checkScheduleRequest(request: ArchiveRequest): void {
  validateRequest(request);
  checkSelection(request);
  if (!isKeyTemplate(request.destination.key) && !request.destination.overwrite) {
    throw new RequestError(
      'destination.key',
      `"${request.destination.key}" holds no placeholder, so every run would write the same key and all but the first would fail: add placeholders such as "{yyyy}-{MM}-{dd}", or set destination.overwrite`,
    );
  }
}

/**
 * What createSchedule checks before it sends anything (RequestError naming the field): the id,
 * the timing, the overlap policy and the request. The CLI calls it before it connects.
 */
export function checkSchedule(options: CreateScheduleOptions): void {
  if (options.id.trim() === '') throw new RequestError('id', 'is empty: give the schedule an id');
  scheduleSpecOf(options.spec);
  checkScheduleRequest(options.request);
  const overlap = options.overlap ?? DEFAULT_OVERLAP;
  if (!(overlap in SCHEDULE_OVERLAPS)) {
    throw new RequestError(
      'overlap',
      `must be one of ${Object.keys(SCHEDULE_OVERLAPS).join(', ')}, not "${overlap}"`,
    );
  }
}

/** Creates a schedule of archive runs; the request is validated first, as startArchive does. */
export async function createSchedule(
  client: ScheduleClient,
  options: CreateScheduleOptions,
): Promise<ScheduleDescription> {
  checkSchedule(options);
  const overlap = options.overlap ?? DEFAULT_OVERLAP;
  await client.temporal.schedule.create<typeof archive>({
    scheduleId: options.id,
    spec: scheduleSpecOf(options.spec),
    action: {
      type: 'startWorkflow',
      workflowType: 'archive',
      args: [options.request],
      taskQueue: client.taskQueue,
      workflowId: scheduleWorkflowId(options.id),
      staticSummary: `schedule ${options.id}: s3://${options.request.source.bucket}/${options.request.source.prefix ?? ''} → s3://${options.request.destination.bucket}/${options.request.destination.key}`,
    },
    policies: {
      overlap: SCHEDULE_OVERLAPS[overlap],
      catchupWindow: options.catchupWindow ?? DEFAULT_CATCHUP_WINDOW,
    },
    memo: { [SPEC_MEMO]: options.spec },
    state: { paused: options.paused ?? false, note: options.note },
  });
  return describeSchedule(client, options.id);
}

function runOf(result: ScheduleExecutionResult): ScheduleRun {
  return {
    scheduledAt: result.scheduledAt.toISOString(),
    startedAt: result.takenAt.toISOString(),
    workflowId: result.action.workflow.workflowId,
    runId: result.action.workflow.firstExecutionRunId,
  };
}

function overlapName(policy: string | undefined): ScheduleOverlap {
  const found = Object.entries(SCHEDULE_OVERLAPS).find(([, p]) => p === policy);
  return (found?.[0] as ScheduleOverlap | undefined) ?? DEFAULT_OVERLAP;
}

function specOfMemo(memo: Record<string, unknown> | undefined): string | undefined {
  const spec = memo?.[SPEC_MEMO];
  return typeof spec === 'string' ? spec : undefined;
}

/** The fields a listed and a described schedule share. */
function summaryOf(s: {
  scheduleId: string;
  memo?: Record<string, unknown>;
  state: { paused: boolean; note?: string };
  info: { nextActionTimes: Date[]; recentActions: ScheduleExecutionResult[] };
}): ScheduleSummary {
  return {
    id: s.scheduleId,
    spec: specOfMemo(s.memo),
    paused: s.state.paused,
    note: s.state.note || undefined,
    nextRuns: s.info.nextActionTimes.map((t) => t.toISOString()),
    recentRuns: s.info.recentActions.map(runOf),
  };
}

/** The schedule: its request, timing, policies and recent runs. Throws ScheduleNotFoundError. */
export async function describeSchedule(
  client: ScheduleClient,
  id: string,
): Promise<ScheduleDescription> {
  const d = await client.temporal.schedule.getHandle(id).describe();
  const request = d.action.args?.[0] as ArchiveRequest;
  const next = d.info.nextActionTimes[0];
  return {
    ...summaryOf(d),
    request,
    overlap: overlapName(d.policies.overlap),
    catchupWindowMs: d.policies.catchupWindow,
    nextKey: next && resolveKeyTemplate(request.destination.key, next),
    runningWorkflowIds: d.info.runningActions.map((a) => a.workflow.workflowId),
    runsTaken: d.info.numActionsTaken,
    runsMissedCatchupWindow: d.info.numActionsMissedCatchupWindow,
    runsSkippedOverlap: d.info.numActionsSkippedOverlap,
  };
}

/** Every schedule of archive runs in the namespace (others' schedules are left out). */
export async function listSchedules(client: ScheduleClient): Promise<ScheduleSummary[]> {
  const out: ScheduleSummary[] = [];
  for await (const s of client.temporal.schedule.list()) {
    if (s.action?.workflowType !== 'archive') continue;
    out.push(summaryOf(s));
  }
  return out;
}

export async function pauseSchedule(
  client: ScheduleClient,
  id: string,
  note?: string,
): Promise<void> {
  await client.temporal.schedule.getHandle(id).pause(note);
}

export async function unpauseSchedule(
  client: ScheduleClient,
  id: string,
  note?: string,
): Promise<void> {
  await client.temporal.schedule.getHandle(id).unpause(note);
}

/**
 * Starts a run now, its nominal time being now. The schedule's overlap policy applies: with
 * the default "skip" nothing starts while a run is still going.
 */
export async function triggerSchedule(client: ScheduleClient, id: string): Promise<void> {
  await client.temporal.schedule.getHandle(id).trigger();
}

/** Deletes the schedule; runs already started go on. Its watermark object stays in S3. */
export async function deleteSchedule(client: ScheduleClient, id: string): Promise<void> {
  await client.temporal.schedule.getHandle(id).delete();
}

/** Whether an error says the schedule does not exist. */
